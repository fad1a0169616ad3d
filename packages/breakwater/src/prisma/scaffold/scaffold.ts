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
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { quoteIdent, quoteRegExp } from "../../db/quote.ts";
import { splitStatements, type Statement } from "../../db/sql-statements.ts";
import { appliedByPlanGuardSql, GATE_FILE, gateFileText, guardSql } from "../plan-gate.ts";
import { columnOf, type Datamodel, type SchemaFile } from "./datamodel.ts";
import type { Finding } from "../../lint/types.ts";
import { intermediateSchema } from "./intermediate-schema.ts";
import { contractSafety, expandSafety, lintWritten, type PlannedSafety } from "./lint-migrations.ts";
import { onlinePlanFileSource, onlineSteps, planFileSource, planSteps, typeCheckSpecs, type TypeCheck } from "./plan-source.ts";
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
  /** an online plan: its operations make the breaking changes while the application keeps writing */
  online?: boolean;
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
  /**
   * Online: the final migration is Prisma's SQL for what the plan's operations do (recorded as
   * applied by deploy once the plan has completed, never run); `drop` is what is left to run after
   * it (columns, tables and enums removed from the schema), or null.
   */
  online: { drop: string | null } | null;
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
    return { analysis, source, target, single, intermediate: null, final: null, online: null, typeChecks: [], folder: input.target.folder, engines: engines.report };
  }
  if (input.online && performedOnline(analysis)) return scaffoldOnline(input, source, target, analysis);
  refuseMaintenanceOnly(analysis);
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
    online: null,
    typeChecks,
    folder: input.target.folder,
    engines: engines.report,
  };
}

/** Changes only an online plan's operations make (renameColumn, renameTable): refused without --online. */
function refuseMaintenanceOnly(analysis: Analysis): void {
  const mapOnly = analysis.columnRenames.filter((r) => r.from === r.to);
  const what = [...analysis.tableRenames.map((r) => `table ${r.from} → ${r.to}`), ...mapOnly.map((r) => `${r.model}.${r.from}'s column (@map)`)];
  if (what.length === 0) return;
  throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `Renamed: ${what.join(", ")}. Prisma's migration drops and recreates ${what.length === 1 ? "it" : "them"} empty.`, {
    hint: "Scaffold with --online: its plan renames them with renameTable / renameColumn, in place, and the final migration is recorded as applied (remove `online: true` from the plan to run it in maintenance mode).",
  });
}

/** What the online plan's operations do: anything but removals. */
function performedOnline(analysis: Analysis): boolean {
  return analysis.enumMoves.length + analysis.columnRenames.length + analysis.tableRenames.length + analysis.fills.length + analysis.typeChanges.length > 0;
}

/**
 * The online scaffold: the intermediate migration adds what is safe (new values, tables and optional
 * columns; the old names stay, mapped); the plan's operations rename, fill, convert and contract
 * while the application writes; the final migration is Prisma's SQL for exactly those changes,
 * which deploy records as applied once the plan has completed; the drops of removed fields, models
 * and enums follow in a migration of their own.
 */
async function scaffoldOnline(input: ScaffoldInput, source: Datamodel, target: Datamodel, analysis: Analysis): Promise<Scaffold> {
  const { engines } = input;
  const perEnum = new Map<string, number>();
  for (const move of analysis.enumMoves) perEnum.set(move.enumName, (perEnum.get(move.enumName) ?? 0) + 1);
  const crowded = [...perEnum].filter(([, n]) => n > 1).map(([name]) => name);
  if (crowded.length > 0)
    throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `Online, one value of an enum moves per plan: ${crowded.join(", ")} ${crowded.length === 1 ? "has" : "have"} several.`, {
      hint: "Remove or rename one value per change (one `breakwater plan --online` each), or scaffold without --online.",
    });
  for (const rename of analysis.columnRenames) {
    const before = source.models.find((m) => m.name === rename.model)!.fields.find((f) => f.name === rename.from)!;
    const after = target.models.find((m) => m.name === rename.model)!.fields.find((f) => f.name === rename.to)!;
    if (before.isRequired !== after.isRequired)
      throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `${rename.model}.${rename.from} is renamed to ${rename.to} and becomes ${after.isRequired ? "required" : "optional"}.`, {
        hint: "Online, rename the field in one change and change its optionality in a later one.",
      });
  }
  // A renamed column needs the application built from the new schema before its contract (the old
  // one reads the old column); a moved enum value or a changed type needs it after theirs (until
  // then the column holds the old value or type).
  if (analysis.columnRenames.length > 0 && analysis.enumMoves.length + analysis.typeChanges.length > 0)
    throw new BreakwaterError(
      "BW_UNSUPPORTED_CHANGE",
      "Online, a renamed column and a moved enum value or changed type cannot share a plan: the application built from the new schema must be deployed before the first's contract and after the others'.",
      { hint: "Scaffold them as two changes (two `breakwater plan --online` runs, each deployed in turn), or scaffold without --online." },
    );
  const parse = (files: SchemaFile[], what: string) => {
    try {
      engines.parse(files, what);
    } catch (error) {
      throw new BreakwaterError("BW_INTERNAL", `The ${what} breakwater wrote is not valid Prisma: ${(error as Error).message}`, { hint: "Please report this with both schemas." });
    }
  };
  const files = intermediateSchema(input.source.files, input.target.files, source, target, analysis, "online");
  parse(files, "intermediate schema");
  // The schema once the plan has run: the new one, with what is removed still there.
  const removals = analysis.removedColumns.length + analysis.removedModels.length + analysis.removedEnums.length > 0;
  const afterPlan =
    removals ?
      intermediateSchema(
        input.source.files,
        input.target.files,
        source,
        target,
        { ...analysis, enumMoves: [], columnRenames: [], tableRenames: [], fills: [], typeChanges: [] },
        "online",
      )
    : input.target.files;
  if (removals) parse(afterPlan, "schema after the plan");
  const intermediateSql = await engines.diff(input.source.files, files);
  const finalSql = await engines.diff(files, afterPlan);
  const drop = removals ? await engines.diff(afterPlan, input.target.files) : null;
  const typeChecks = await typeChangeChecks(analysis, source, input.source.files, finalSql, engines);
  return {
    analysis,
    source,
    target,
    single: null,
    intermediate: { sql: intermediateSql, files },
    final: finalSql,
    online: { drop },
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
  /** null online when nothing safe changes before the plan */
  intermediateFolder: string | null;
  finalFolder: string | null;
  /** online: the drops of removed fields, models and enums, run by deploy after the recorded final migration */
  dropFolder: string | null;
  /** online: the application built from the new schema must be deployed before the contract (a renamed column) */
  stopBeforeContract: boolean;
  singleFolder: string | null;
  planFile: string | null;
  schemaFile: string | null;
  /** lint findings left in the migrations written (those the plan makes safe carry an ignore with the reason): to review */
  review: Finding[];
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
  const review: Finding[] = [];
  // A migration.sql, linted first: ignores with reasons where the plan makes a finding safe.
  const writeMigration = async (file: string, sql: string, safety: PlannedSafety[]) => {
    const linted = await lintWritten(sql, (path.relative(process.cwd(), file) || file).split(path.sep).join("/"), safety);
    review.push(...linted.review);
    await write(file, linted.sql);
  };
  // A second scaffold of the same change would add the same columns and values twice.
  const existing = existsSync(options.migrationsDir) ? await readdir(options.migrationsDir) : [];
  const clash = existing.find((n) =>
    [`_${options.name}`, `_${options.name}_expand`, `_${options.name}_contract`, `_${options.name}_drop`].some((suffix) => n.endsWith(suffix) && /^\d{14}_/.test(n)),
  );
  if (clash)
    throw new BreakwaterError("BW_PLAN_INVALID", `A migration named ${options.name} exists already: ${clash}.`, {
      hint: "Was this change scaffolded before? Remove those folders to scaffold again, or choose another --name.",
    });
  if (result.single !== null) {
    const [stamp] = await nextTimestamps(options.migrationsDir, now, 1);
    const folder = path.join(options.migrationsDir, `${stamp}_${options.name}`);
    await writeMigration(path.join(folder, "migration.sql"), result.single, []);
    return { files, intermediateFolder: null, finalFolder: null, dropFolder: null, stopBeforeContract: false, singleFolder: folder, planFile: null, schemaFile: null, review };
  }
  if (result.online) return writeOnline(result, options, write, writeMigration, files, review);
  const [first, second] = await nextTimestamps(options.migrationsDir, now, 2);
  const intermediateFolder = path.join(options.migrationsDir, `${first}_${options.name}_expand`);
  const finalFolder = path.join(options.migrationsDir, `${second}_${options.name}_contract`);
  const planFolder = path.join(options.planDir, `${first}_${options.name}`);
  const id = `${first}_${options.name}`;
  const steps = planSteps(result.analysis, result.source, result.target, options.dbSchema);
  const typeChecks = typeCheckSpecs(result.typeChecks, result.source, options.dbSchema);
  const hasPlan = steps.length > 0 || typeChecks.length > 0;
  await writeMigration(path.join(intermediateFolder, "migration.sql"), result.intermediate!.sql, hasPlan ? expandSafety(result.analysis) : []);
  await writeMigration(
    path.join(finalFolder, "migration.sql"),
    options.guard && hasPlan ? guardSql(id, path.relative(path.dirname(options.migrationsDir), planFolder)) + result.final! : result.final!,
    hasPlan ? contractSafety(result.analysis, result.source, result.target) : [],
  );
  if (hasPlan) await write(path.join(finalFolder, GATE_FILE), gateFileText(id));
  // One schema file → schema.intermediate.prisma; a schema folder → schema.intermediate/ with the same files.
  const schemaPath = await writeIntermediateSchema(result, planFolder, write);
  let planFile: string | null = null;
  if (hasPlan) {
    // .mts is ESM whatever the project's package.json says; .ts only where "type" is "module".
    planFile = path.join(planFolder, (await isModulePackage(planFolder)) ? "plan.ts" : "plan.mts");
    await write(planFile, planFileSource(id, `${describeChanges(result.analysis.changes)} (scaffolded from ${options.fromLabel})`, steps, options.importFrom, typeChecks));
  }
  return { files, intermediateFolder, finalFolder, dropFolder: null, stopBeforeContract: false, singleFolder: null, planFile, schemaFile: schemaPath, review };
}

/** The intermediate schema beside the plan: schema.intermediate.prisma, or a schema.intermediate/ folder. */
async function writeIntermediateSchema(result: Scaffold, planFolder: string, write: (file: string, text: string) => Promise<void>): Promise<string> {
  const schemaPath = result.folder ? path.join(planFolder, "schema.intermediate") : path.join(planFolder, "schema.intermediate.prisma");
  if (result.folder) for (const f of result.intermediate!.files) await write(path.join(schemaPath, f.path), f.content);
  else await write(schemaPath, result.intermediate!.files[0]!.content);
  return schemaPath;
}

/**
 * Online: [intermediate migration, when anything safe changes first] → plan (online: true) →
 * final migration, recorded as applied by deploy once the plan has completed → [the drops].
 * The final migration is never run: it is not linted.
 */
async function writeOnline(
  result: Scaffold,
  options: WriteOptions,
  write: (file: string, text: string) => Promise<void>,
  writeMigration: (file: string, sql: string, safety: PlannedSafety[]) => Promise<void>,
  files: string[],
  review: Finding[],
): Promise<Written> {
  const now = options.now ?? new Date();
  const hasExpand = (await splitStatements(result.intermediate!.sql, "the intermediate migration")).length > 0;
  const drop = result.online!.drop;
  const stamps = await nextTimestamps(options.migrationsDir, now, 1 + (hasExpand ? 1 : 0) + (drop !== null ? 1 : 0));
  const [first] = stamps;
  const id = `${first}_${options.name}`;
  const planFolder = path.join(options.planDir, id);
  const planRelative = path.relative(path.dirname(options.migrationsDir), planFolder);
  let next = 0;
  const intermediateFolder = hasExpand ? path.join(options.migrationsDir, `${stamps[next++]}_${options.name}_expand`) : null;
  const finalName = `${stamps[next++]}_${options.name}_contract`;
  const finalFolder = path.join(options.migrationsDir, finalName);
  const dropFolder = drop !== null ? path.join(options.migrationsDir, `${stamps[next++]}_${options.name}_drop`) : null;
  if (intermediateFolder) await writeMigration(path.join(intermediateFolder, "migration.sql"), result.intermediate!.sql, expandSafety(result.analysis));
  await write(path.join(finalFolder, "migration.sql"), appliedByPlanGuardSql(id, planRelative, finalName, options.guard ?? false) + result.final!);
  await write(path.join(finalFolder, GATE_FILE), gateFileText(id, true));
  if (dropFolder) {
    await writeMigration(path.join(dropFolder, "migration.sql"), options.guard ? guardSql(id, planRelative) + drop! : drop!, []);
    await write(path.join(dropFolder, GATE_FILE), gateFileText(id));
  }
  const schemaFile = await writeIntermediateSchema(result, planFolder, write);
  const steps = onlineSteps(result.analysis, result.source, result.target, options.dbSchema, result.typeChecks);
  const stopBeforeContract = steps.some((s) => s.operation === "renameColumn");
  const planFile = path.join(planFolder, (await isModulePackage(planFolder)) ? "plan.ts" : "plan.mts");
  await write(
    planFile,
    onlinePlanFileSource(id, `${describeChanges(result.analysis.changes)} (scaffolded from ${options.fromLabel})`, steps, options.importFrom, stopBeforeContract),
  );
  return { files, intermediateFolder, finalFolder, dropFolder, stopBeforeContract, singleFolder: null, planFile, schemaFile, review };
}
