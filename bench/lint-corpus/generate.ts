// The corpus of bench/lint.ts: Prisma migrations written by Prisma's own schema engine (the WASM
// diff breakwater scaffolds with) from random schemas and random changes to them (a fixed seed, so
// every run lints the same files), plus the hand-written PostgreSQL cases of postgres.sql.
// Each Prisma migration has its own base schema, its models and enums suffixed with the file's
// number: no file touches a table another one creates, so a tool that lints the whole corpus in
// one run and one that lints file by file see the same tables.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { diffSchemas } from "../../packages/breakwater/src/prisma/scaffold/engine.ts";

/** mulberry32: a small seeded generator, the same sequence on every machine. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)]!, chance: (p: number) => next() < p };
}
type Random = ReturnType<typeof random>;

interface Field {
  name: string;
  /** Prisma's scalar type or an enum's name */
  type: string;
  optional: boolean;
  /** a native type attribute, `@db.VarChar(40)` */
  native?: string;
  /** the argument of @default(…) */
  default?: string;
  unique?: boolean;
}
interface Relation {
  /** the relation's name, which also names both sides' fields */
  name: string;
  target: string;
  optional: boolean;
}
interface Model {
  name: string;
  fields: Field[];
  relations: Relation[];
  indexes: string[][];
  /** a composite primary key over id and another field, instead of id alone */
  compositeKey?: string;
}
interface Schema {
  enums: { name: string; values: string[] }[];
  models: Model[];
}

const words = [
  "name",
  "email",
  "title",
  "status",
  "score",
  "total",
  "bio",
  "price",
  "amount",
  "code",
  "slug",
  "note",
  "rank",
  "level",
  "weight",
  "city",
  "phone",
  "label",
  "kind",
  "color",
  "body",
  "hits",
];
const modelNames = ["User", "Post", "Order", "Invoice", "Account", "Team", "Comment", "Product", "Event", "Session"];
const enumValues = ["ACTIVE", "PENDING", "ARCHIVED", "DRAFT", "DELETED", "BLOCKED", "TRIAL", "PAID"];

/** A new field of a random type, with or without a default, a native type, a unique index. */
function randomField(rng: Random, schema: Schema, name: string): Field {
  const enumName = schema.enums.length > 0 && rng.chance(0.15) ? rng.pick(schema.enums).name : null;
  if (enumName) {
    const values = schema.enums.find((e) => e.name === enumName)!.values;
    return { name, type: enumName, optional: rng.chance(0.4), ...(rng.chance(0.6) ? { default: rng.pick(values) } : {}) };
  }
  const choice = rng.pick([
    () => ({ type: "String" }),
    () => ({ type: "String", native: `@db.VarChar(${rng.pick([20, 50, 191, 255])})` }),
    () => ({ type: "Int", ...(rng.chance(0.4) ? { default: String(rng.int(10)) } : {}) }),
    () => ({ type: "BigInt" }),
    () => ({ type: "Boolean", ...(rng.chance(0.6) ? { default: rng.pick(["false", "true"]) } : {}) }),
    () => ({ type: "DateTime", ...(rng.chance(0.5) ? { default: "now()" } : {}) }),
    () => ({ type: "Float" }),
    () => ({ type: "Decimal", native: `@db.Decimal(${rng.pick([10, 12])}, 2)` }),
    () => ({ type: "Json" }),
  ])();
  return { name, optional: rng.chance(0.5), ...choice, unique: choice.type === "String" && rng.chance(0.1) };
}

function freshName(rng: Random, taken: string[]): string {
  const free = words.filter((w) => !taken.includes(w));
  return free.length > 0 ? rng.pick(free) : `field${taken.length}`;
}

function randomSchema(rng: Random, suffix: string): Schema {
  const schema: Schema = { enums: [], models: [] };
  for (let e = 0; e < rng.int(3); e++) schema.enums.push({ name: `${rng.pick(["Role", "State", "Tier"])}${e}_${suffix}`, values: enumValues.slice(e, e + 2 + rng.int(3)) });
  const count = 2 + rng.int(3);
  for (const base of modelNames.slice(0, count)) {
    const model: Model = { name: `${base}_${suffix}`, fields: [], relations: [], indexes: [] };
    for (let f = 0; f < 2 + rng.int(4); f++)
      model.fields.push(
        randomField(
          rng,
          schema,
          freshName(
            rng,
            model.fields.map((x) => x.name),
          ),
        ),
      );
    if (schema.models.length > 0 && rng.chance(0.7)) model.relations.push({ name: `r${model.name}`, target: rng.pick(schema.models).name, optional: rng.chance(0.5) });
    if (rng.chance(0.3)) model.indexes.push([model.fields[0]!.name]);
    schema.models.push(model);
  }
  return schema;
}

function renderField(f: Field): string {
  const attributes = [f.native, f.default !== undefined ? `@default(${f.default})` : undefined, f.unique ? "@unique" : undefined].filter(Boolean);
  return `  ${f.name} ${f.type}${f.optional ? "?" : ""} ${attributes.join(" ")}`.trimEnd();
}

function render(schema: Schema): string {
  const out = [`datasource db {\n  provider = "postgresql"\n}\n`];
  for (const e of schema.enums) out.push(`enum ${e.name} {\n${e.values.map((v) => `  ${v}`).join("\n")}\n}\n`);
  for (const m of schema.models) {
    const lines = [`  id Int ${m.compositeKey ? "" : "@id "}@default(autoincrement())`, ...m.fields.map(renderField)];
    for (const r of m.relations) {
      lines.push(`  ${r.name}Id Int${r.optional ? "?" : ""}`);
      lines.push(`  ${r.name} ${r.target}${r.optional ? "?" : ""} @relation("${r.name}", fields: [${r.name}Id], references: [id])`);
    }
    for (const other of schema.models) for (const r of other.relations) if (r.target === m.name) lines.push(`  ${r.name}Back ${other.name}[] @relation("${r.name}")`);
    for (const index of m.indexes) lines.push(`  @@index([${index.join(", ")}])`);
    if (m.compositeKey) lines.push(`  @@id([id, ${m.compositeKey}])`);
    out.push(`model ${m.name} {\n${lines.join("\n")}\n}\n`);
  }
  return out.join("\n");
}

const referenced = (schema: Schema, model: Model) => schema.models.some((m) => m.relations.some((r) => r.target === model.name));

/** A change to the schema, as a developer makes it; null when it does not apply to this one. */
type Change = (schema: Schema, rng: Random) => string | null;

/** A random field, optional or required, added to a random model. */
function addField(s: Schema, rng: Random, optional: boolean): string {
  const m = rng.pick(s.models);
  const f = {
    ...randomField(
      rng,
      s,
      freshName(
        rng,
        m.fields.map((x) => x.name),
      ),
    ),
    optional,
  };
  m.fields.push(f);
  return `${m.name}.${f.name}`;
}

const changes: Record<string, Change> = {
  "add optional field": (s, rng) => addField(s, rng, true),
  "add required field": (s, rng) => addField(s, rng, false),
  "add field with a database default": (s, rng) => {
    const m = rng.pick(s.models);
    const name = freshName(
      rng,
      m.fields.map((x) => x.name),
    );
    m.fields.push(
      rng.pick<Field>([
        { name, type: "String", optional: false, native: "@db.Uuid", default: 'dbgenerated("gen_random_uuid()")' },
        { name, type: "DateTime", optional: false, default: 'dbgenerated("clock_timestamp()")' },
        { name, type: "Float", optional: true, default: 'dbgenerated("random()")' },
        { name, type: "DateTime", optional: false, default: "now()" },
        { name, type: "Int", optional: false, default: "autoincrement()" },
        { name, type: "String", optional: false, default: '"none"' },
        { name, type: "Json", optional: true, native: "@db.Json" },
      ]),
    );
    return `${m.name}.${name}`;
  },
  "remove field": (s, rng) => {
    const m = rng.pick(s.models);
    const candidates = m.fields.filter((f) => f.name !== m.compositeKey && !m.indexes.some((i) => i.includes(f.name)));
    if (candidates.length < 2) return null;
    const f = rng.pick(candidates);
    m.fields = m.fields.filter((x) => x !== f);
    return `${m.name}.${f.name}`;
  },
  "rename field": (s, rng) => {
    const m = rng.pick(s.models);
    const f = rng.pick(m.fields);
    const old = f.name;
    f.name = freshName(
      rng,
      m.fields.map((x) => x.name),
    );
    m.indexes = m.indexes.map((i) => i.map((n) => (n === old ? f.name : n)));
    if (m.compositeKey === old) m.compositeKey = f.name;
    return `${m.name}.${old} → ${f.name}`;
  },
  "make field required": (s, rng) => {
    const fields = s.models.flatMap((m) => m.fields.filter((f) => f.optional).map((f) => [m, f] as const));
    if (fields.length === 0) return null;
    const [m, f] = rng.pick(fields);
    f.optional = false;
    if (rng.chance(0.3) && !f.default && ["Int", "Boolean", "String"].includes(f.type) && !f.native)
      f.default =
        f.type === "Int" ? "0"
        : f.type === "Boolean" ? "false"
        : '""';
    return `${m.name}.${f.name}`;
  },
  "make field optional": (s, rng) => {
    const fields = s.models.flatMap((m) => m.fields.filter((f) => !f.optional && f.name !== m.compositeKey).map((f) => [m, f] as const));
    if (fields.length === 0) return null;
    const [m, f] = rng.pick(fields);
    f.optional = true;
    return `${m.name}.${f.name}`;
  },
  "change field type": (s, rng) => {
    const m = rng.pick(s.models);
    const f = rng.pick(m.fields);
    if (s.enums.some((e) => e.name === f.type)) return null;
    const to = rng.pick<[string, string | undefined]>([
      ["Int", undefined],
      ["BigInt", undefined],
      ["String", undefined],
      ["String", "@db.VarChar(20)"],
      ["String", "@db.VarChar(500)"],
      ["Decimal", "@db.Decimal(14, 2)"],
      ["Decimal", "@db.Decimal(8, 2)"],
      ["DateTime", "@db.Timestamp(6)"],
      ["DateTime", "@db.Timestamptz(3)"],
      ["Float", undefined],
      ["Json", undefined],
    ]);
    if (to[0] === f.type && to[1] === f.native) return null;
    const was = `${f.type}${f.native ? ` ${f.native}` : ""}`;
    f.type = to[0];
    f.native = to[1];
    delete f.default;
    return `${m.name}.${f.name}: ${was} → ${f.type}${f.native ? ` ${f.native}` : ""}`;
  },
  "change default": (s, rng) => {
    const fields = s.models.flatMap((m) => m.fields.filter((f) => ["Int", "Boolean"].includes(f.type)).map((f) => [m, f] as const));
    if (fields.length === 0) return null;
    const [m, f] = rng.pick(fields);
    if (f.default !== undefined && rng.chance(0.5)) delete f.default;
    else f.default = f.type === "Int" ? String(10 + rng.int(90)) : "true";
    return `${m.name}.${f.name}`;
  },
  "add index": (s, rng) => {
    const m = rng.pick(s.models);
    const columns = rng.chance(0.3) && m.fields.length > 1 ? [m.fields[0]!.name, m.fields[1]!.name] : [rng.pick(m.fields).name];
    if (m.indexes.some((i) => i.join() === columns.join())) return null;
    m.indexes.push(columns);
    return `${m.name}(${columns.join(", ")})`;
  },
  "add unique": (s, rng) => {
    const m = rng.pick(s.models);
    const f = rng.pick(m.fields.filter((x) => ["String", "Int", "BigInt"].includes(x.type) && !x.unique));
    if (!f) return null;
    f.unique = true;
    return `${m.name}.${f.name}`;
  },
  "remove index": (s, rng) => {
    const models = s.models.filter((m) => m.indexes.length > 0 || m.fields.some((f) => f.unique));
    if (models.length === 0) return null;
    const m = rng.pick(models);
    if (m.indexes.length > 0) m.indexes.pop();
    else m.fields.find((f) => f.unique)!.unique = false;
    return m.name;
  },
  "add relation": (s, rng) => {
    const m = rng.pick(s.models);
    const target = rng.pick(s.models.filter((x) => x !== m && !x.compositeKey));
    if (!target) return null;
    const name = `r${m.name}${m.relations.length}`;
    m.relations.push({ name, target: target.name, optional: rng.chance(0.6) });
    return `${m.name} → ${target.name}`;
  },
  "add model": (s, rng) => {
    const name = `${rng.pick(["Audit", "Tag", "Payment", "Setting"])}${s.models.length}_${s.models[0]!.name.split("_")[1]}`;
    const model: Model = { name, fields: [randomField(rng, s, "label"), randomField(rng, s, "note")], relations: [], indexes: rng.chance(0.5) ? [["label"]] : [] };
    const targets = s.models.filter((m) => !m.compositeKey);
    if (targets.length > 0 && rng.chance(0.6)) model.relations.push({ name: `r${name}`, target: rng.pick(targets).name, optional: false });
    s.models.push(model);
    return name;
  },
  "remove model": (s, rng) => {
    if (s.models.length < 2) return null;
    const m = rng.pick(s.models);
    s.models = s.models.filter((x) => x !== m);
    for (const other of s.models) other.relations = other.relations.filter((r) => r.target !== m.name);
    return m.name;
  },
  "rename model": (s, rng) => {
    const m = rng.pick(s.models);
    const old = m.name;
    m.name = `${rng.pick(["Member", "Entry", "Record", "Item"])}_${old.split("_")[1]}`;
    if (s.models.some((x) => x !== m && x.name === m.name)) return null;
    for (const other of s.models) for (const r of other.relations) if (r.target === old) r.target = m.name;
    return `${old} → ${m.name}`;
  },
  "change primary key": (s, rng) => {
    const m = rng.pick(s.models.filter((x) => !referenced(s, x) && !x.compositeKey));
    const f = m && rng.pick(m.fields.filter((x) => !x.optional && ["String", "Int", "BigInt"].includes(x.type) && !x.native));
    if (!m || !f) return null;
    m.compositeKey = f.name;
    return `${m.name}(id, ${f.name})`;
  },
  "add enum value": (s, rng) => {
    const e = s.enums.length > 0 ? rng.pick(s.enums) : null;
    const value = e && enumValues.find((v) => !e.values.includes(v));
    if (!e || !value) return null;
    e.values.push(value);
    return `${e.name}.${value}`;
  },
  "add enum value and use it as a default": (s, rng) => {
    const e = s.enums.length > 0 ? rng.pick(s.enums) : null;
    const value = e && enumValues.find((v) => !e.values.includes(v));
    const users = e ? s.models.flatMap((m) => m.fields.filter((f) => f.type === e.name)) : [];
    if (!e || !value || users.length === 0) return null;
    e.values.push(value);
    rng.pick(users).default = value;
    return `${e.name}.${value}`;
  },
  "remove enum value": (s, rng) => {
    const e = s.enums.length > 0 ? rng.pick(s.enums.filter((x) => x.values.length > 1)) : null;
    if (!e) return null;
    const value = rng.pick(e.values);
    e.values = e.values.filter((v) => v !== value);
    for (const m of s.models) for (const f of m.fields) if (f.type === e.name && f.default === value) f.default = e.values[0];
    return `${e.name}.${value}`;
  },
  "rename enum value": (s, rng) => {
    const e = s.enums.length > 0 ? rng.pick(s.enums) : null;
    const to = e && enumValues.find((v) => !e.values.includes(v));
    if (!e || !to) return null;
    const i = rng.int(e.values.length);
    const from = e.values[i]!;
    e.values[i] = to;
    for (const m of s.models) for (const f of m.fields) if (f.type === e.name && f.default === from) f.default = to;
    return `${e.name}.${from} → ${to}`;
  },
};

export interface Corpus {
  /** relative paths of every file written, Prisma's first */
  files: string[];
  prisma: number;
  postgres: number;
  /** changes the engine refused or that wrote no SQL (each replaced by another draw) */
  redrawn: number;
  /** how often each change was drawn into a written migration */
  drawn: Record<string, number>;
}

/**
 * Writes `count` Prisma migrations under `<dir>/prisma/migrations/<timestamp>_<n>/migration.sql`
 * and the cases of postgres.sql under `<dir>/sql/`.
 */
export async function writeCorpus(dir: string, options: { count: number; seed: number }): Promise<Corpus> {
  const rng = random(options.seed);
  const corpus: Corpus = { files: [], prisma: 0, postgres: 0, redrawn: 0, drawn: {} };
  const names = Object.keys(changes);
  for (let n = 1; corpus.prisma < options.count; n++) {
    const suffix = String(n);
    const before = randomSchema(rng, suffix);
    const after = structuredClone(before);
    const applied: string[] = [];
    for (let i = 0; i < 1 + (rng.chance(0.35) ? 1 + rng.int(2) : 0); i++) {
      const name = rng.pick(names);
      if (changes[name]!(after, rng) !== null) applied.push(name);
    }
    let sql = "";
    if (applied.length > 0) sql = await diffSchemas([{ path: "schema.prisma", content: render(before) }], [{ path: "schema.prisma", content: render(after) }]).catch(() => "");
    if (!/;/.test(sql)) {
      corpus.redrawn++;
      continue;
    }
    for (const name of applied) corpus.drawn[name] = (corpus.drawn[name] ?? 0) + 1;
    const file = `prisma/migrations/2025${String(100000000 + n).slice(1)}00_${applied[0]!.replace(/\W+/g, "_")}/migration.sql`;
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), sql);
    corpus.files.push(file);
    corpus.prisma++;
  }
  // postgres.sql: cases separated by `-- file: <name>.sql` lines.
  const cases = (await readFile(path.join(import.meta.dirname, "postgres.sql"), "utf8")).split(/^-- file: /m).slice(1);
  await mkdir(path.join(dir, "sql"), { recursive: true });
  for (const text of cases) {
    const [name, ...body] = text.split("\n");
    const file = `sql/${name!.trim()}`;
    await writeFile(path.join(dir, file), `${body.join("\n").trim()}\n`);
    corpus.files.push(file);
    corpus.postgres++;
  }
  return corpus;
}
