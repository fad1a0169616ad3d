// `breakwater plan`: the three steps of a breaking change (intermediate migration, plan, final
// migration) written from two versions of schema.prisma.
//   1. an intermediate migration (additive: old and new coexist), with its schema.prisma;
//   2. a breakwater plan: the data transform in batches, with checks;
//   3. a final migration (contract).
// Every migration.sql is the text of Prisma's own schema engine diff; the intermediate schema is
// the new schema with the old names put back, checked by Prisma's parser.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { BreakwaterError } from "@breakwater/runtime/internal";
import { quoteIdent, quoteRegExp } from "../../db/quote.ts";
import { splitStatements, type Statement } from "../../db/sql-statements.ts";
import { GATE_FILE, gateFileText, guardSql } from "../plan-gate.ts";
import { columnOf, type Datamodel, type SchemaFile } from "./datamodel.ts";
import { intermediateSchema } from "./intermediate-schema.ts";
import { planFileSource, planSteps, typeCheckSpecs, type TypeCheck } from "./plan-source.ts";
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
  const decisions: Decisions = {
    renames: { ...input.decisions.renames },
    fills: { ...input.decisions.fills },
    noRenames: input.decisions.noRenames,
    notRenamed: [...(input.decisions.notRenamed ?? [])],
  };
  for (;;) {
    const analysis = analyze(source, target, decisions);
    const question = analysis.questions[0];
    if (question === undefined) return analysis;
    if (!input.ask) {
      const lines = analysis.questions.map((q) => `  - ${q.prompt}\n      ${flagFor(q)}`);
      throw new BreakwaterError(
        "BW_RENAME_UNCONFIRMED",
        `breakwater will not guess; ${analysis.questions.length === 1 ? "one question needs" : `${analysis.questions.length} questions need`} an answer:\n${lines.join("\n")}`,
        {
          hint: "Pass the answers as flags (or run in a terminal to be asked). --no-renames treats every rename candidate as a removal plus an addition.",
        },
      );
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

function flagFor(q: Question): string {
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
    throw new BreakwaterError("BW_INTERNAL", `The intermediate schema breakwater wrote is not valid Prisma: ${(error as Error).message}`, {
      hint: "Please report this with both schemas.",
    });
  }
  const intermediateSql = await engines.diff(input.source.files, files);
  const finalSql = await engines.diff(files, input.target.files);
  const typeChecks = await typeChangeChecks(analysis, source, input.source.files, finalSql, engines);
  return {
    analysis,
    source,
    target,
    single: null,
    intermediate: { sql: intermediateSql, files },
    final: finalSql,
    typeChecks,
    folder: input.target.folder,
    engines: engines.report,
  };
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
    const cmds = finals.filter(onTable).flatMap((s) =>
      ((s.node.cmds as { AlterTableCmd?: { subtype?: string; name?: string; def?: { ColumnDef?: { colname?: string } } } }[]) ?? []).map((c) => ({
        ...c.AlterTableCmd,
        text: s.text,
      })),
    );
    if (cmds.some((c) => c.subtype === "AT_DropColumn" && c.name === column) && cmds.some((c) => c.subtype === "AT_AddColumn" && c.def?.ColumnDef?.colname === column)) {
      throw new BreakwaterError(
        "BW_UNSUPPORTED_CHANGE",
        `${change.model}.${change.field}: Prisma makes this type change by dropping the column and adding it again, which loses every value.`,
        {
          hint: `Add a field of the new type under a new name (safe), fill it with a plan of your own (backfill with the conversion you want), then remove ${change.field} and rename the new field with @map("${column}") if the column name must stay.`,
        },
      );
    }
    const alter = cmds.find((c) => c.subtype === "AT_AlterColumnType" && c.name === column);
    const newType = alter ? new RegExp(`ALTER COLUMN ${quoteRegExp(quoteIdent(column))} SET DATA TYPE (.+?)(?: USING .*)?(?:,\\n|$)`, "m").exec(alter.text)?.[1] : undefined;
    const createText = created.find((s) => s.kind === "CreateStmt" && (s.node.relation as { relname?: string } | undefined)?.relname === table)?.text ?? "";
    const oldType = new RegExp(`^\\s+${quoteRegExp(quoteIdent(column))} (.+?)(?: NOT NULL)?(?: DEFAULT .*)?,?$`, "m").exec(createText)?.[1];
    if (!newType || !oldType)
      throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `${change.model}.${change.field}: breakwater cannot read the type change from Prisma's migration.`, {
        hint: "Write the check by hand in a plan, between the two migrations.",
      });
    checks.push({ model: change.model, field: change.field, column, newType, oldType });
  }
  return checks;
}

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
  const existing =
    existsSync(dir) ?
      (await readdir(dir, { withFileTypes: true }))
        .filter((d) => d.isDirectory())
        .map((d) => d.name.slice(0, 14))
        .filter((n) => /^\d{14}$/.test(n))
    : [];
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

export function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "_")
      .replace(/^_+|_+$/g, "")
      .slice(0, 60) || "schema_change"
  );
}

export function describeChanges(changes: SchemaChange[]): string {
  return changes
    .filter((c) => c.breaking)
    .map((c) => c.detail)
    .join("; ");
}

export async function writeScaffold(result: Scaffold, options: WriteOptions): Promise<Written> {
  const now = options.now ?? new Date();
  const files: string[] = [];
  const write = async (file: string, text: string) => {
    if (existsSync(file))
      throw new BreakwaterError("BW_PLAN_INVALID", `${file} already exists; breakwater plan never overwrites.`, { hint: "Choose another --name, or remove the file first." });
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    files.push(file);
  };
  // A second scaffold of the same change would add the same columns and values twice.
  const existing = existsSync(options.migrationsDir) ? await readdir(options.migrationsDir) : [];
  const clash = existing.find((n) => [`_${options.name}`, `_${options.name}_expand`, `_${options.name}_contract`].some((suffix) => n.endsWith(suffix) && /^\d{14}_/.test(n)));
  if (clash)
    throw new BreakwaterError("BW_PLAN_INVALID", `A migration named ${options.name} exists already: ${clash}.`, {
      hint: "Was this change scaffolded before? Remove those folders to scaffold again, or choose another --name.",
    });
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
  await write(
    path.join(finalFolder, "migration.sql"),
    options.guard && hasPlan ? guardSql(id, path.relative(path.dirname(options.migrationsDir), planFolder)) + result.final! : result.final!,
  );
  if (hasPlan) await write(path.join(finalFolder, GATE_FILE), gateFileText(id));
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
