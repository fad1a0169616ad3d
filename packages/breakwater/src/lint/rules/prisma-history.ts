// What the Prisma rules need to know about the schema before a statement: an enum's labels and a
// table's columns, replayed from the run's earlier statements (a migrations folder is the whole
// history) or, when the files never created them, read from the live catalog.
import type { LintStatement, RuleContext } from "../types.ts";

export type Node = Record<string, unknown>;

/** `[{ String: { sval } }, …]` → the strings. */
export function svals(list: unknown): string[] {
  return Array.isArray(list) ? list.map((item) => (item as { String?: { sval?: string } }).String?.sval ?? "") : [];
}

export interface QualifiedName {
  schema: string | null;
  name: string;
}

export function qualified(names: string[]): QualifiedName {
  return { schema: names.length > 1 ? names[names.length - 2]! : null, name: names[names.length - 1] ?? "" };
}

export const sameName = (a: QualifiedName, b: QualifiedName) => a.name === b.name && (a.schema === null || b.schema === null || a.schema === b.schema);

/** `"Role"` or `"app"."Role"`, as SQL would spell it (for messages only). */
export const displayName = (n: QualifiedName) => (n.schema === null ? `"${n.name}"` : `"${n.schema}"."${n.name}"`);

/** A column type's name without its schema: `pg_catalog.int4` → `int4`, `"Role"` → `Role`. */
export function typeName(node: unknown): QualifiedName | null {
  const names = svals((node as { names?: unknown } | undefined)?.names);
  if (names.length === 0) return null;
  const q = qualified(names);
  return q.schema === "pg_catalog" ? { schema: null, name: q.name } : q;
}

/** The statement's ALTER TABLE subcommands (`AT_AddColumn`, `AT_DropColumn`, …) with its table. */
export function alterTableCommands(statement: LintStatement): { table: QualifiedName; commands: Node[] } | null {
  if (statement.kind !== "AlterTableStmt") return null;
  const node = statement.node as { relation?: { schemaname?: string; relname?: string }; cmds?: { AlterTableCmd?: Node }[]; objtype?: string };
  if (node.objtype !== "OBJECT_TABLE" || !node.relation?.relname) return null;
  return {
    table: { schema: node.relation.schemaname ?? null, name: node.relation.relname },
    commands: (node.cmds ?? []).map((c) => c.AlterTableCmd).filter((c): c is Node => c !== undefined),
  };
}

/** Calls `visit` on every object node under `value`. */
export function walk(value: unknown, visit: (node: Node) => void): void {
  if (Array.isArray(value)) for (const item of value) walk(item, visit);
  else if (value !== null && typeof value === "object") {
    visit(value as Node);
    for (const child of Object.values(value)) walk(child, visit);
  }
}

export interface Column {
  name: string;
  /** the type's name without schema or modifiers (`int4`, `text`, `Role`); the catalog's format_type otherwise */
  type: string;
}

function columnDef(node: unknown): Column | null {
  const def = (node as { ColumnDef?: { colname?: string; typeName?: unknown } } | undefined)?.ColumnDef;
  if (!def?.colname) return null;
  return { name: def.colname, type: typeName(def.typeName)?.name ?? "" };
}

/** The enums and tables the run's statements created, as they stand after the statements replayed so far. */
interface Replay extends ReplayCursor {
  enums: { name: QualifiedName; labels: string[] }[];
  tables: { name: QualifiedName; columns: Column[] }[];
}

// One replay per run, moved forward as the rules ask about later statements (the engine checks
// them in order): asking at every statement costs one pass over the run, not one pass each.
const replays = new WeakMap<RuleContext["files"], Replay>();

function apply(replay: Replay, s: LintStatement): void {
  const node = s.node as Node;
  const findEnum = (n: QualifiedName) => replay.enums.find((e) => sameName(e.name, n));
  const findTable = (n: QualifiedName) => replay.tables.find((t) => sameName(t.name, n));
  const relation = node.relation as { schemaname?: string; relname?: string } | undefined;
  const name: QualifiedName | null = relation?.relname ? { schema: relation.schemaname ?? null, name: relation.relname } : null;
  if (s.kind === "CreateEnumStmt") {
    replay.enums.push({ name: qualified(svals(node.typeName)), labels: svals(node.vals) });
  } else if (s.kind === "AlterEnumStmt") {
    const e = findEnum(qualified(svals(node.typeName)));
    if (!e || typeof node.newVal !== "string") return;
    if (typeof node.oldVal === "string") e.labels = e.labels.map((l) => (l === node.oldVal ? (node.newVal as string) : l));
    else if (!e.labels.includes(node.newVal)) e.labels = [...e.labels, node.newVal];
  } else if (s.kind === "RenameStmt" && node.renameType === "OBJECT_TYPE" && typeof node.newname === "string") {
    const e = findEnum(qualified(svals((node.object as { List?: { items?: unknown } } | undefined)?.List?.items)));
    if (e) e.name = { schema: e.name.schema, name: node.newname };
  } else if (s.kind === "DropStmt" && node.removeType === "OBJECT_TYPE") {
    for (const object of (node.objects as unknown[] | undefined) ?? []) {
      const n = typeName((object as { TypeName?: unknown }).TypeName);
      const at = n ? replay.enums.findIndex((e) => sameName(e.name, n)) : -1;
      if (at >= 0) replay.enums.splice(at, 1);
    }
  } else if (s.kind === "CreateStmt" && name) {
    const columns = ((node.tableElts as unknown[] | undefined) ?? []).map(columnDef).filter((c): c is Column => c !== null);
    replay.tables.push({ name, columns });
  } else if (s.kind === "AlterTableStmt") {
    const alter = alterTableCommands(s);
    const t = alter && findTable(alter.table);
    if (!alter || !t) return;
    for (const command of alter.commands) {
      if (command.subtype === "AT_AddColumn") {
        const c = columnDef(command.def);
        if (c) t.columns = [...t.columns, c];
      } else if (command.subtype === "AT_DropColumn") t.columns = t.columns.filter((c) => c.name !== command.name);
      else if (command.subtype === "AT_AlterColumnType") {
        const type = typeName((command.def as { ColumnDef?: { typeName?: unknown } } | undefined)?.ColumnDef?.typeName);
        t.columns = t.columns.map((c) => (c.name === command.name && type ? { ...c, type: type.name } : c));
      }
    }
  } else if (s.kind === "RenameStmt" && name) {
    const t = findTable(name);
    if (!t || typeof node.newname !== "string") return;
    if (node.renameType === "OBJECT_TABLE") t.name = { schema: t.name.schema, name: node.newname };
    else if (node.renameType === "OBJECT_COLUMN") t.columns = t.columns.map((c) => (c.name === node.subname ? { ...c, name: node.newname as string } : c));
  } else if (s.kind === "DropStmt" && node.removeType === "OBJECT_TABLE") {
    for (const object of (node.objects as unknown[] | undefined) ?? []) {
      const n = qualified(svals((object as { List?: { items?: unknown } }).List?.items));
      const at = replay.tables.findIndex((t) => sameName(t.name, n));
      if (at >= 0) replay.tables.splice(at, 1);
    }
  }
}

/** Where a replay of the run stands: the next statement to replay, its file's place in the run and its index in the file. */
export interface ReplayCursor {
  file: number;
  index: number;
}

/**
 * A replay kept per run in `replays`, moved forward to just before `statement` by `apply`; started
 * again (`fresh`) when the statement is behind it or `stale` says it no longer holds. The engine
 * checks statements in order, so asking at every statement costs one pass over the run in all.
 */
export function replayTo<R extends ReplayCursor>(
  context: RuleContext,
  statement: LintStatement,
  replays: WeakMap<RuleContext["files"], R>,
  fresh: () => R,
  apply: (replay: R, s: LintStatement) => void,
  stale: (replay: R) => boolean = () => false,
): R {
  // A file outside the run (none in practice) comes after all of it.
  const at = context.files.indexOf(context.file);
  const [file, index] = at < 0 ? [context.files.length, 0] : [at, statement.index];
  let replay = replays.get(context.files);
  if (!replay || stale(replay) || replay.file > file || (replay.file === file && replay.index > index)) {
    replay = fresh();
    replays.set(context.files, replay);
  }
  while (replay.file < file || (replay.file === file && replay.index < index)) {
    const s = context.files[replay.file]!.statements[replay.index];
    if (!s) {
      replay.file++;
      replay.index = 0;
      continue;
    }
    apply(replay, s);
    replay.index++;
  }
  return replay;
}

/** The run replayed up to (not including) `statement`. Arrays are replaced, never changed, so what a caller holds stays as it was. */
function replayBefore(context: RuleContext, statement: LintStatement): Replay {
  return replayTo(context, statement, replays, () => ({ file: 0, index: 0, enums: [], tables: [] }), apply);
}

/**
 * The enum's labels just before `statement`: replayed from the run when an earlier statement
 * created it, else the live type's labels from the catalog, else null (unknown).
 */
export function enumLabelsBefore(context: RuleContext, statement: LintStatement, type: QualifiedName): string[] | null {
  const replayed = replayBefore(context, statement).enums.find((e) => sameName(e.name, type));
  return replayed?.labels ?? context.catalog?.enumLabels?.(type.schema, type.name) ?? null;
}

/** The table's columns just before `statement`: replayed from the run when it created the table, else from the catalog, else null. */
export function columnsBefore(context: RuleContext, statement: LintStatement, table: QualifiedName): Column[] | null {
  const replayed = replayBefore(context, statement).tables.find((t) => sameName(t.name, table));
  if (replayed) return replayed.columns;
  const facts = context.catalog?.table(table.schema, table.name);
  return facts?.columns ? facts.columns.map((c) => ({ name: c.name, type: normalizeType(c.type) })) : null;
}

const aliases: Record<string, string> = {
  integer: "int4",
  int: "int4",
  smallint: "int2",
  bigint: "int8",
  "character varying": "varchar",
  character: "bpchar",
  char: "bpchar",
  "double precision": "float8",
  real: "float4",
  boolean: "bool",
  "timestamp without time zone": "timestamp",
  "timestamp with time zone": "timestamptz",
};

/** format_type's spelling (`character varying(20)`, `"Role"`) or the parser's (`varchar`) → one name. */
export function normalizeType(type: string): string {
  const bare = type
    .replace(/\(.*\)$/, "")
    .replace(/\[\]$/, "")
    .replace(/^.*\./, "")
    .replaceAll('"', "")
    .trim();
  return aliases[bare.toLowerCase()] ?? (/^[a-z0-9_ ]+$/.test(bare) ? bare.toLowerCase() : bare);
}

const families = [
  new Set(["text", "varchar", "bpchar", "citext"]),
  new Set(["int2", "int4", "int8", "numeric", "float4", "float8"]),
  new Set(["timestamp", "timestamptz", "date"]),
  new Set(["json", "jsonb"]),
];

/** Two column types a rename could move values between without loss of meaning. */
export function compatibleTypes(a: string, b: string): boolean {
  const x = normalizeType(a);
  const y = normalizeType(b);
  return x === y || families.some((f) => f.has(x) && f.has(y));
}
