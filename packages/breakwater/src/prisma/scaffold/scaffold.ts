// `breakwater plan`: the seeds' three steps written from two versions of schema.prisma.
//   1. an intermediate migration (additive: old and new coexist), with its schema.prisma;
//   2. a breakwater plan: the data transform in batches, with checks;
//   3. a final migration (contract).
// Every migration.sql is the text of Prisma's own schema engine diff; the intermediate schema is
// the new schema with the old names put back, checked by Prisma's parser.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { quoteIdent, quoteLiteral, quoteTable } from "../../db/quote.ts";
import { BreakwaterError } from "@breakwater/runtime/internal";
import { GATE_FILE } from "../deploy/deploy.ts";
import { splitStatements, type Statement } from "../../db/sql-statements.ts";
import type { Datamodel, DmmfField, DmmfModel, SchemaFile } from "./engine.ts";
import type { EngineReport, Engines } from "./project-engines.ts";
import { analyze, type Analysis, type Decisions, type Question, type SchemaChange } from "./schema-changes.ts";

/** A schema: one file, or the files of a folder (paths relative to it), with a name for messages. */
export interface SchemaSet {
  label: string;
  files: SchemaFile[];
  folder: boolean;
}

export interface ScaffoldInput {
  source: SchemaSet;
  target: SchemaSet;
  decisions: Decisions;
  /** the engines that read and diff the schemas (the project's Prisma's, or breakwater's own) */
  engines: Engines;
  /** answers unresolved questions (a TTY prompt); without it they are an error */
  ask?: (question: Question) => Promise<string | null>;
}

export interface Scaffold {
  analysis: Analysis;
  source: Datamodel;
  target: Datamodel;
  /** only safe changes: one ordinary migration */
  single: string | null;
  /** the intermediate schema: the target's files, edited */
  intermediate: { sql: string; files: SchemaFile[] } | null;
  final: string | null;
  /** per type change: Prisma's new SQL type and the current one, for the plan's lossless-conversion check */
  typeChecks: TypeCheck[];
  /** the new schema is a folder of files */
  folder: boolean;
  /** which Prisma engines did what, and what may differ from the project's own Prisma */
  engines: EngineReport;
}

/** Asks what the flags did not say; refuses when nobody can answer. */
async function resolveQuestions(input: ScaffoldInput, source: Datamodel, target: Datamodel): Promise<Analysis> {
  const decisions: Decisions = { renames: { ...input.decisions.renames }, fills: { ...input.decisions.fills }, noRenames: input.decisions.noRenames, notRenamed: [...(input.decisions.notRenamed ?? [])] };
  for (;;) {
    const analysis = analyze(source, target, decisions);
    const question = analysis.questions[0];
    if (question === undefined) return analysis;
    if (!input.ask) {
      const lines = analysis.questions.map((q) => `  - ${q.prompt}\n      ${flagFor(q)}`);
      throw new BreakwaterError("BW_RENAME_UNCONFIRMED", `breakwater will not guess; ${analysis.questions.length === 1 ? "one question needs" : `${analysis.questions.length} questions need`} an answer:\n${lines.join("\n")}`, {
        hint: "Pass the answers as flags (or run in a terminal to be asked). --no-renames treats every rename candidate as a removal plus an addition.",
      });
    }
    const answer = await input.ask(question);
    if (answer === null || answer === "") {
      // "not a rename": the old field or model is removed, the new one added
      if (question.kind === "column" || question.kind === "model") decisions.notRenamed!.push(question.key);
      else throw new BreakwaterError("BW_RENAME_UNCONFIRMED", `No answer for ${question.key}.`, { hint: flagFor(question) });
    } else if (question.kind === "fill") decisions.fills[question.key] = answer;
    else decisions.renames[question.key] = answer;
  }
}

export function flagFor(q: Question): string {
  if (q.kind === "fill") return `--fill ${q.key}="<SQL expression>"`;
  return `--rename ${q.key}=${q.options[0] ?? "<new name>"}${q.options.length > 1 ? `   (or ${q.options.slice(1).join(", ")})` : ""}`;
}

export async function scaffold(input: ScaffoldInput): Promise<Scaffold> {
  const { engines } = input;
  const source = engines.parse(input.source.files, input.source.label);
  const target = engines.parse(input.target.files, input.target.label);
  const analysis = await resolveQuestions(input, source, target);
  if (!analysis.breaking) {
    const single = await engines.diff(input.source.files, input.target.files);
    return { analysis, source, target, single, intermediate: null, final: null, typeChecks: [], folder: input.target.folder, engines: engines.report };
  }
  const files = intermediateSchema(input.source.files, input.target.files, source, target, analysis);
  // Prisma's parser is the judge of the edited text.
  try {
    engines.parse(files, "the intermediate schema");
  } catch (error) {
    throw new BreakwaterError("BW_INTERNAL", `The intermediate schema breakwater wrote is not valid Prisma: ${(error as Error).message}`, { hint: "Please report this with both schemas." });
  }
  const intermediateSql = await engines.diff(input.source.files, files);
  const finalSql = await engines.diff(files, input.target.files);
  const typeChecks = await typeChangeChecks(analysis, source, input.source.files, finalSql, engines);
  return { analysis, source, target, single: null, intermediate: { sql: intermediateSql, files }, final: finalSql, typeChecks, folder: input.target.folder, engines: engines.report };
}

export interface TypeCheck {
  model: string;
  field: string;
  column: string;
  newType: string;
  oldType: string;
}

/**
 * For each type change, the check the plan runs before the final migration: Prisma's own
 * `SET DATA TYPE` target, and the column's current type from Prisma's CREATE TABLE, so a value
 * that would fail, be truncated or be rounded is counted (or names itself in the error).
 * A type change Prisma makes by dropping and re-adding the column loses every value: refused.
 */
async function typeChangeChecks(analysis: Analysis, source: Datamodel, sourceFiles: SchemaFile[], finalSql: string, engines: Engines): Promise<Scaffold["typeChecks"]> {
  if (analysis.typeChanges.length === 0) return [];
  const finals = await splitStatements(finalSql, "the final migration");
  const created = await splitStatements(await engines.diff("empty", sourceFiles), "the old schema's tables");
  const checks: Scaffold["typeChecks"] = [];
  for (const change of analysis.typeChanges) {
    const model = source.models.find((m) => m.name === change.model)!;
    const table = model.dbName ?? model.name;
    const column = columnOf(model.fields.find((f) => f.name === change.field)!);
    const onTable = (s: Statement) => s.kind === "AlterTableStmt" && (s.node.relation as { relname?: string } | undefined)?.relname === table;
    const cmds = finals.filter(onTable).flatMap((s) => ((s.node.cmds as { AlterTableCmd?: { subtype?: string; name?: string; def?: { ColumnDef?: { colname?: string } } } }[]) ?? []).map((c) => ({ ...c.AlterTableCmd, text: s.text })));
    if (cmds.some((c) => c.subtype === "AT_DropColumn" && c.name === column) && cmds.some((c) => c.subtype === "AT_AddColumn" && c.def?.ColumnDef?.colname === column)) {
      throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `${change.model}.${change.field}: Prisma makes this type change by dropping the column and adding it again, which loses every value.`, {
        hint: `Add a field of the new type under a new name (safe), fill it with a plan of your own (backfill with the conversion you want), then remove ${change.field} and rename the new field with @map("${column}") if the column name must stay.`,
      });
    }
    const alter = cmds.find((c) => c.subtype === "AT_AlterColumnType" && c.name === column);
    const newType = alter ? new RegExp(`ALTER COLUMN ${escapeRe(quoteIdent(column))} SET DATA TYPE (.+?)(?: USING .*)?(?:,\\n|$)`, "m").exec(alter.text)?.[1] : undefined;
    const createText = created.find((s) => s.kind === "CreateStmt" && (s.node.relation as { relname?: string } | undefined)?.relname === table)?.text ?? "";
    const oldType = new RegExp(`^\\s+${escapeRe(quoteIdent(column))} (.+?)(?: NOT NULL)?(?: DEFAULT .*)?,?$`, "m").exec(createText)?.[1];
    if (!newType || !oldType) throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `${change.model}.${change.field}: breakwater cannot read the type change from Prisma's migration.`, { hint: "Write the check by hand in a plan, between the two migrations." });
    checks.push({ model: change.model, field: change.field, column, newType, oldType });
  }
  return checks;
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---------------------------------------------------------------------------------------------
// The intermediate schema: the new text with the old names put back (line edits inside blocks;
// Prisma's grammar puts every field and enum value on its own line).

interface Block {
  start: number;
  end: number;
}

function findBlock(lines: string[], keyword: "model" | "enum", name: string): Block | null {
  const opener = new RegExp(`^\\s*${keyword}\\s+${escapeRe(name)}\\s*\\{`);
  const start = lines.findIndex((l) => opener.test(l));
  if (start < 0) return null;
  for (let i = start + 1; i < lines.length; i++) if (lines[i]!.trim().startsWith("}")) return { start, end: i };
  return null;
}

function memberLine(lines: string[], block: Block, name: string): number {
  for (let i = block.start + 1; i < block.end; i++) {
    const first = lines[i]!.trim().split(/\s+/)[0];
    if (first === name) return i;
  }
  return -1;
}

function indentOf(lines: string[], block: Block): string {
  for (let i = block.start + 1; i < block.end; i++) {
    const m = /^(\s+)\S/.exec(lines[i]!);
    if (m) return m[1]!;
  }
  return "  ";
}

interface EditableFile {
  path: string;
  lines: string[];
}

/** The file and block holding `keyword name` (a schema may be a folder of files). */
function locate(files: EditableFile[], keyword: "model" | "enum", name: string): { file: EditableFile; block: Block } | null {
  for (const file of files) {
    const block = findBlock(file.lines, keyword, name);
    if (block) return { file, block };
  }
  return null;
}

function mustLocate(files: EditableFile[], keyword: "model" | "enum", name: string, which: string): { file: EditableFile; block: Block } {
  const found = locate(files, keyword, name);
  if (!found) throw new BreakwaterError("BW_INTERNAL", `Cannot find ${keyword} ${name} in the ${which} schema text.`);
  return found;
}

/** The member's line from the old schema, trimmed, without its trailing comment. */
function sourceMember(sources: EditableFile[], keyword: "model" | "enum", block: string, name: string): string {
  const { file, block: b } = mustLocate(sources, keyword, block, "old");
  const i = memberLine(file.lines, b, name);
  if (i < 0) throw new BreakwaterError("BW_INTERNAL", `Cannot find ${block}.${name} in the old schema text.`);
  return file.lines[i]!.replace(/\s*\/\/.*$/, "").trim();
}

function makeOptional(line: string, field: string): string {
  const re = new RegExp(`^(\\s*${field}\\s+)([A-Za-z_]\\w*(?:\\([^)]*\\))?)(\\s|$)`);
  return line.replace(re, (_, head: string, type: string, tail: string) => `${head}${type}?${tail}`);
}

/** The new schema's files with the old names put back; a removed block goes back to the file of its name (else the first). */
export function intermediateSchema(sourceFiles: SchemaFile[], targetFiles: SchemaFile[], source: Datamodel, target: Datamodel, analysis: Analysis): SchemaFile[] {
  const sources: EditableFile[] = sourceFiles.map((f) => ({ path: f.path, lines: f.content.split("\n") }));
  const files: EditableFile[] = targetFiles.map((f) => ({ path: f.path, lines: f.content.split("\n") }));
  const member = (keyword: "model" | "enum", blockName: string, name: string) => {
    const { file, block } = mustLocate(files, keyword, blockName, "new");
    return { file, block, at: memberLine(file.lines, block, name), indent: indentOf(file.lines, block) };
  };

  for (const move of analysis.enumMoves) {
    const { file, block, at, indent } = member("enum", move.enumName, move.to);
    file.lines.splice(at >= 0 ? at : block.start + 1, 0, `${indent}${sourceMember(sources, "enum", move.enumName, move.from)} // removed by the final migration: rows move to ${move.to}`);
  }
  for (const rename of analysis.columnRenames) {
    const { file, at, indent } = member("model", rename.model, rename.to);
    file.lines[at] = makeOptional(file.lines[at]!, rename.to) + (isRequired(target, rename.model, rename.to) ? " // required by the final migration" : "");
    file.lines.splice(at, 0, `${indent}${sourceMember(sources, "model", rename.model, rename.from)} // renamed to ${rename.to}: dropped by the final migration`);
  }
  for (const fill of analysis.fills) {
    const { file, at } = member("model", fill.model, fill.field);
    file.lines[at] = `${makeOptional(file.lines[at]!, fill.field)} // required by the final migration`;
  }
  for (const changed of analysis.typeChanges) {
    const { file, at, indent } = member("model", changed.model, changed.field);
    file.lines[at] = `${indent}${sourceMember(sources, "model", changed.model, changed.field)} // type changed by the final migration`;
  }
  // A relation whose foreign key stays nullable in the intermediate schema must stay optional too
  // (Prisma refuses a required relation over an optional scalar).
  const nullableKeys = new Set([
    ...analysis.fills.map((f) => `${f.model}.${f.field}`),
    ...analysis.columnRenames.map((r) => `${r.model}.${r.to}`),
    ...analysis.typeChanges.filter((c) => !isRequired(source, c.model, c.field)).map((c) => `${c.model}.${c.field}`),
  ]);
  for (const model of target.models) {
    for (const relation of model.fields.filter((f) => f.kind === "object" && f.isRequired && f.relationFromFields?.some((k) => nullableKeys.has(`${model.name}.${k}`)))) {
      const { file, at } = member("model", model.name, relation.name);
      file.lines[at] = `${makeOptional(file.lines[at]!, relation.name)} // required by the final migration`;
    }
  }
  for (const removed of analysis.removedColumns) {
    const { file, block, indent } = member("model", removed.model, removed.field);
    let at = block.end;
    for (let i = block.start + 1; i < block.end; i++) {
      if (file.lines[i]!.trim().startsWith("@@")) {
        at = i;
        break;
      }
    }
    file.lines.splice(at, 0, `${indent}${sourceMember(sources, "model", removed.model, removed.field)} // dropped by the final migration`);
  }
  const home = (keyword: "model" | "enum", name: string) => {
    const origin = mustLocate(sources, keyword, name, "old").file.path;
    return files.find((f) => f.path === origin) ?? files[0]!;
  };
  for (const name of analysis.removedEnums) home("enum", name).lines.push("", ...blockText(sources, "enum", name, () => true));
  for (const name of analysis.removedModels) {
    // Relation fields are left out: the other side of each relation is gone from the new schema.
    const model = source.models.find((m) => m.name === name)!;
    const relations = new Set(model.fields.filter((f) => f.kind === "object").map((f) => f.name));
    home("model", name).lines.push("", ...blockText(sources, "model", name, (l) => !relations.has(l.trim().split(/\s+/)[0] ?? "")));
  }
  return files.map((f) => ({ path: f.path, content: f.lines.join("\n") }));
}

function blockText(sources: EditableFile[], keyword: "model" | "enum", name: string, keep: (line: string) => boolean): string[] {
  const { file, block } = mustLocate(sources, keyword, name, "old");
  return [`// ${keyword} ${name}: dropped by the final migration`, ...file.lines.slice(block.start, block.end + 1).filter((l, i) => i === 0 || keep(l))];
}

function isRequired(model: Datamodel, modelName: string, field: string): boolean {
  return model.models.find((m) => m.name === modelName)?.fields.find((f) => f.name === field)?.isRequired ?? false;
}

// ---------------------------------------------------------------------------------------------
// The plan: one backfill per column to transform, and checks a reviewer can read.

export interface PlanStep {
  table: string | { schema: string; name: string };
  tableSql: string;
  set: Record<string, string>;
  where: string;
  checks: { name: string; sql: string; expect: number | "before" }[];
}

const columnOf = (f: DmmfField) => f.dbName ?? f.name;

function tableRef(model: DmmfModel, dbSchema: string): { ref: string | { schema: string; name: string }; sql: string } {
  const name = model.dbName ?? model.name;
  const schema = model.schema ?? dbSchema;
  return { ref: schema === "public" ? name : { schema, name }, sql: schema === "public" ? quoteIdent(name) : quoteTable({ schema, name }) };
}

export function planSteps(analysis: Analysis, source: Datamodel, target: Datamodel, dbSchema: string): PlanStep[] {
  const steps: PlanStep[] = [];
  for (const move of analysis.enumMoves) {
    const before = source.enums.find((e) => e.name === move.enumName)!;
    const after = target.enums.find((e) => e.name === move.enumName)!;
    const fromDb = before.values.find((v) => v.name === move.from)?.dbName ?? move.from;
    const toDb = after.values.find((v) => v.name === move.to)?.dbName ?? move.to;
    for (const model of source.models) {
      for (const field of model.fields.filter((f) => f.kind === "enum" && f.type === move.enumName)) {
        if (!target.models.find((m) => m.name === model.name)) continue;
        const { ref, sql } = tableRef(model, dbSchema);
        const column = quoteIdent(columnOf(field));
        const label = `${model.name}.${field.name}`;
        if (field.isList) {
          steps.push({
            table: ref,
            tableSql: sql,
            set: { [columnOf(field)]: `array_replace(${column}, ${quoteLiteral(fromDb)}, ${quoteLiteral(toDb)})` },
            where: `${quoteLiteral(fromDb)} = ANY(${column})`,
            checks: [{ name: `${move.from} left (${label})`, sql: `SELECT count(*) FROM ${sql} WHERE ${quoteLiteral(fromDb)} = ANY(${column})`, expect: 0 }],
          });
        } else {
          steps.push({
            table: ref,
            tableSql: sql,
            set: { [columnOf(field)]: quoteLiteral(toDb) },
            where: `${column} = ${quoteLiteral(fromDb)}`,
            checks: [
              { name: `${move.from} before = ${move.to} after (${label})`, sql: `SELECT count(*) FROM ${sql} WHERE ${column} IN (${quoteLiteral(fromDb)}, ${quoteLiteral(toDb)})`, expect: "before" },
              { name: `${move.from} left (${label})`, sql: `SELECT count(*) FROM ${sql} WHERE ${column} = ${quoteLiteral(fromDb)}`, expect: 0 },
            ],
          });
        }
      }
    }
  }
  for (const rename of analysis.columnRenames) {
    const model = source.models.find((m) => m.name === rename.model)!;
    const newModel = target.models.find((m) => m.name === rename.model)!;
    const from = columnOf(model.fields.find((f) => f.name === rename.from)!);
    const to = columnOf(newModel.fields.find((f) => f.name === rename.to)!);
    const { ref, sql } = tableRef(model, dbSchema);
    steps.push({
      table: ref,
      tableSql: sql,
      set: { [to]: quoteIdent(from) },
      where: `${quoteIdent(to)} IS DISTINCT FROM ${quoteIdent(from)}`,
      checks: [{ name: `${rename.model}.${rename.to} differs from ${rename.from}`, sql: `SELECT count(*) FROM ${sql} WHERE ${quoteIdent(to)} IS DISTINCT FROM ${quoteIdent(from)}`, expect: 0 }],
    });
  }
  for (const fill of analysis.fills) {
    const model = target.models.find((m) => m.name === fill.model)!;
    const column = quoteIdent(columnOf(model.fields.find((f) => f.name === fill.field)!));
    const { ref, sql } = tableRef(source.models.find((m) => m.name === fill.model) ?? model, dbSchema);
    steps.push({
      table: ref,
      tableSql: sql,
      set: { [columnOf(model.fields.find((f) => f.name === fill.field)!)]: fill.fill },
      where: `${column} IS NULL`,
      checks: [{ name: `${fill.model}.${fill.field} NULL left`, sql: `SELECT count(*) FROM ${sql} WHERE ${column} IS NULL`, expect: 0 }],
    });
  }
  return steps;
}

/** A value that would fail, be truncated or be rounded by the new type is counted (or names itself in the error). */
export function typeCheckSpecs(typeChecks: TypeCheck[], source: Datamodel, dbSchema: string): PlanStep["checks"] {
  return typeChecks.map((c) => {
    const { sql } = tableRef(source.models.find((m) => m.name === c.model)!, dbSchema);
    const col = quoteIdent(c.column);
    return { name: `${c.model}.${c.field} converts to ${c.newType} without loss`, sql: `SELECT count(*) FROM ${sql} WHERE ${col} IS NOT NULL AND ((${col})::${c.newType})::${c.oldType} IS DISTINCT FROM ${col}`, expect: 0 };
  });
}

export function planFileSource(id: string, description: string, steps: PlanStep[], importFrom: string, extraChecks: PlanStep["checks"] = []): string {
  const tables = [...new Map(steps.map((s) => [s.tableSql, s])).values()];
  const checks = [
    ...steps.flatMap((s) => s.checks),
    ...extraChecks,
    ...tables.map((s) => ({ name: `rows of ${typeof s.table === "string" ? s.table : `${s.table.schema}.${s.table.name}`}`, sql: `SELECT count(*) FROM ${s.tableSql}`, expect: "before" as const })),
  ];
  // Template literals read better for SQL full of double quotes.
  const lit = (v: unknown) => (typeof v === "string" && !/[`\\]|\$\{/.test(v) && v.includes('"') ? `\`${v}\`` : JSON.stringify(v));
  const body = [
    `// Scaffolded by \`breakwater plan\`: review it, then commit it with the two migration folders.`,
    `// Order: breakwater deploy (intermediate) → deploy the app built from schema.intermediate.prisma (it reads old and`,
    `// new values) → breakwater run <this file> → breakwater deploy (final) → deploy the app built from the new schema →`,
    `// breakwater maintenance off`,
    `import { ${steps.length > 0 ? "backfill, " : ""}defineMigration } from ${lit(importFrom)};`,
    ``,
    `export default defineMigration({`,
    `  id: ${lit(id)},`,
    `  description: ${lit(description)},`,
    `  // Maintenance stays on after the transform until the final migration is deployed, so the`,
    `  // old application cannot write old values back in between.`,
    `  keepMaintenance: true,`,
    `  steps: [`,
    ...steps.map((s) => `    backfill({ table: ${lit(s.table)}, set: { ${Object.entries(s.set).map(([c, e]) => `${lit(c)}: ${lit(e)}`).join(", ")} }, where: ${lit(s.where)} }),`),
    `  ],`,
    `  checks: [`,
    ...checks.map((c) => `    { name: ${lit(c.name)}, sql: ${lit(c.sql)}, expect: ${lit(c.expect)} },`),
    `  ],`,
    `});`,
    ``,
  ];
  return body.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Writing the artefacts.

export interface WriteOptions {
  migrationsDir: string;
  planDir: string;
  name: string;
  importFrom: string;
  /** prepend a guard to the contract migration so that `prisma migrate deploy` cannot run it before the plan */
  guard?: boolean;
  /** the database schema of tables without @@schema */
  dbSchema: string;
  now?: Date;
  fromLabel: string;
}

export interface Written {
  files: string[];
  intermediateFolder: string | null;
  finalFolder: string | null;
  singleFolder: string | null;
  planFile: string | null;
  schemaFile: string | null;
}

async function isModulePackage(dir: string): Promise<boolean> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const file = path.join(d, "package.json");
    if (existsSync(file)) {
      try {
        return (JSON.parse(await readFile(file, "utf8")) as { type?: string }).type === "module";
      } catch {
        return false;
      }
    }
    if (path.dirname(d) === d) return false;
  }
}

function timestamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
}

/** Folder timestamps after every existing one, as Prisma applies folders in name order. */
async function nextTimestamps(dir: string, now: Date, count: number): Promise<string[]> {
  const existing = existsSync(dir) ? (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name.slice(0, 14)).filter((n) => /^\d{14}$/.test(n)) : [];
  let t = now.getTime();
  const latest = existing.sort().at(-1);
  const out: string[] = [];
  while (out.length < count) {
    const stamp = timestamp(new Date(t));
    if (latest === undefined || stamp > latest) out.push(stamp);
    t += 1000;
  }
  return out;
}

/**
 * A DO block that fails the contract migration (and with it the whole file, one transaction)
 * unless the plan's run has completed: a guard for pipelines that still run `prisma migrate deploy`.
 */
export function guardSql(planId: string, planFolder: string): string {
  const message = quoteLiteral(`breakwater: run plan ${planId} first (breakwater run ${planFolder}/…); this contract migration would lose data before it`);
  return [
    `-- breakwater guard: refuses to run before plan ${planId} has completed (breakwater deploy waits for it by itself).`,
    "DO $$",
    "BEGIN",
    `  IF to_regclass('breakwater.runs') IS NULL THEN RAISE EXCEPTION ${message}; END IF;`,
    `  IF NOT EXISTS (SELECT 1 FROM breakwater.runs WHERE plan_id = ${quoteLiteral(planId)} AND state = 'completed') THEN RAISE EXCEPTION ${message}; END IF;`,
    "END",
    "$$;",
    "",
    "",
  ].join("\n");
}

export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 60) || "schema_change";
}

export function describeChanges(changes: SchemaChange[]): string {
  return changes.filter((c) => c.breaking).map((c) => c.detail).join("; ");
}

export async function writeScaffold(result: Scaffold, options: WriteOptions): Promise<Written> {
  const now = options.now ?? new Date();
  const files: string[] = [];
  const write = async (file: string, text: string) => {
    if (existsSync(file)) throw new BreakwaterError("BW_PLAN_INVALID", `${file} already exists; breakwater plan never overwrites.`, { hint: "Choose another --name, or remove the file first." });
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    files.push(file);
  };
  // A second scaffold of the same change would add the same columns and values twice.
  const existing = existsSync(options.migrationsDir) ? await readdir(options.migrationsDir) : [];
  const clash = existing.find((n) => [`_${options.name}`, `_${options.name}_expand`, `_${options.name}_contract`].some((suffix) => n.endsWith(suffix) && /^\d{14}_/.test(n)));
  if (clash) throw new BreakwaterError("BW_PLAN_INVALID", `A migration named ${options.name} exists already: ${clash}.`, { hint: "Was this change scaffolded before? Remove those folders to scaffold again, or choose another --name." });
  if (result.single !== null) {
    const [stamp] = await nextTimestamps(options.migrationsDir, now, 1);
    const folder = path.join(options.migrationsDir, `${stamp}_${options.name}`);
    await write(path.join(folder, "migration.sql"), result.single);
    return { files, intermediateFolder: null, finalFolder: null, singleFolder: folder, planFile: null, schemaFile: null };
  }
  const [first, second] = await nextTimestamps(options.migrationsDir, now, 2);
  const intermediateFolder = path.join(options.migrationsDir, `${first}_${options.name}_expand`);
  const finalFolder = path.join(options.migrationsDir, `${second}_${options.name}_contract`);
  const planFolder = path.join(options.planDir, `${first}_${options.name}`);
  const id = `${first}_${options.name}`;
  const steps = planSteps(result.analysis, result.source, result.target, options.dbSchema);
  const typeChecks = typeCheckSpecs(result.typeChecks, result.source, options.dbSchema);
  const hasPlan = steps.length > 0 || typeChecks.length > 0;
  await write(path.join(intermediateFolder, "migration.sql"), result.intermediate!.sql);
  await write(path.join(finalFolder, "migration.sql"), options.guard && hasPlan ? guardSql(id, path.relative(path.dirname(options.migrationsDir), planFolder)) + result.final! : result.final!);
  if (hasPlan) await write(path.join(finalFolder, GATE_FILE), `${JSON.stringify({ requiresPlan: id, note: "breakwater deploy applies this migration only after a completed run of this plan; Prisma ignores this file." }, null, 2)}\n`);
  // One schema file → schema.intermediate.prisma; a schema folder → schema.intermediate/ with the same files.
  const schemaPath = result.folder ? path.join(planFolder, "schema.intermediate") : path.join(planFolder, "schema.intermediate.prisma");
  if (result.folder) for (const f of result.intermediate!.files) await write(path.join(schemaPath, f.path), f.content);
  else await write(schemaPath, result.intermediate!.files[0]!.content);
  let planFile: string | null = null;
  if (hasPlan) {
    // .mts is ESM whatever the project's package.json says; .ts only where "type" is "module".
    planFile = path.join(planFolder, (await isModulePackage(planFolder)) ? "plan.ts" : "plan.mts");
    await write(planFile, planFileSource(id, `${describeChanges(result.analysis.changes)} (scaffolded from ${options.fromLabel})`, steps, options.importFrom, typeChecks));
  }
  return { files, intermediateFolder, finalFolder, singleFolder: null, planFile, schemaFile: schemaPath };
}
