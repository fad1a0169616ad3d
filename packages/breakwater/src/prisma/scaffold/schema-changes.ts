// What changed between two Prisma datamodels, each change classified safe or breaking, with
// rename candidates that the user must confirm (a flag or a prompt) — never guessed.
import { quoteLiteral } from "../../db/quote.ts";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { columnOf, type Datamodel, type DmmfEnum, type DmmfField, type DmmfModel } from "./datamodel.ts";

export type ChangeKind =
  | "enum-added"
  | "enum-removed"
  | "enum-value-added"
  | "enum-value-moved"
  | "model-added"
  | "model-removed"
  | "column-added"
  | "required-column-added"
  | "column-removed"
  | "column-renamed"
  | "not-null-added"
  | "not-null-dropped"
  | "type-changed"
  | "model-renamed";

export interface SchemaChange {
  kind: ChangeKind;
  breaking: boolean;
  /** `Role.USER`, `User.name`, `Post` */
  subject: string;
  detail: string;
}

/** A decision the user has to make: which new name an old one became, or a fill value. */
export interface Question {
  kind: "enum-value" | "column" | "model" | "fill";
  /** the flag key: `Role.USER`, `User.name`, `Post`, or the field for a fill */
  key: string;
  prompt: string;
  options: string[];
}

export interface Decisions {
  /** `Role.USER` → `EMPLOYEE`, `User.name` → `fullName`, `Post` → `Article` */
  renames: Record<string, string>;
  /** treat every rename candidate as a removal plus an addition */
  noRenames: boolean;
  /** `User.role` → SQL expression for the rows where it is NULL */
  fills: Record<string, string>;
  /** rename candidates answered "no": removals */
  notRenamed?: string[];
}

export interface EnumMove {
  enumName: string;
  from: string;
  to: string;
}
export interface ColumnRename {
  model: string;
  from: string;
  to: string;
}
/** A table renamed: a model renamed (confirmed) or its @@map changed. */
export interface TableRename {
  /** the model in the new schema */
  model: string;
  /** the model in the old schema */
  oldModel: string;
  /** old and new table names */
  from: string;
  to: string;
}
export interface ColumnFill {
  model: string;
  field: string;
  /** SQL expression for NULL rows */
  fill: string;
}

export interface Analysis {
  changes: SchemaChange[];
  questions: Question[];
  enumMoves: EnumMove[];
  /** field renamed (Model.old → Model.new), or the same field with another @map (from === to) */
  columnRenames: ColumnRename[];
  tableRenames: TableRename[];
  fills: ColumnFill[];
  /** removed columns (not renamed): kept in the intermediate schema, dropped by the final migration */
  removedColumns: { model: string; field: string }[];
  removedModels: string[];
  removedEnums: string[];
  /** fields whose type changes: the old type stays in the intermediate schema */
  typeChanges: { model: string; field: string }[];
  breaking: boolean;
}

const clientSideDefaults = new Set(["uuid", "cuid", "nanoid", "ulid"]);

/** The SQL for a field's @default when PostgreSQL itself can compute it, else null. */
export function defaultSql(field: DmmfField, target: Datamodel): string | null {
  const value = field.default;
  if (value === undefined || value === null) return null;
  if (typeof value === "object" && !Array.isArray(value)) {
    const fn = value as { name: string; args: unknown[] };
    if (fn.name === "now") return "now()";
    if (fn.name === "dbgenerated" && typeof fn.args[0] === "string") return fn.args[0];
    if (clientSideDefaults.has(fn.name)) return fn.name === "uuid" ? "gen_random_uuid()::text" : null;
    return null;
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") {
    if (field.kind === "enum") {
      const values = target.enums.find((e) => e.name === field.type)?.values ?? [];
      const db = values.find((v) => v.name === value)?.dbName ?? value;
      return quoteLiteral(db);
    }
    if (field.type === "Int" || field.type === "BigInt" || field.type === "Float" || field.type === "Decimal") return value;
    return quoteLiteral(value);
  }
  return null;
}

const scalar = (f: DmmfField) => f.kind === "scalar" || f.kind === "enum";
const sameType = (a: DmmfField, b: DmmfField) => a.type === b.type && a.isList === b.isList && a.kind === b.kind;
const nativeOf = (f: DmmfField) => (f.nativeType ? `@db.${f.nativeType[0]}${f.nativeType[1].length ? `(${f.nativeType[1].join(",")})` : ""}` : "");
const typeText = (f: DmmfField) =>
  `${f.type}${
    f.isList ? "[]"
    : f.isRequired ? ""
    : "?"
  }${nativeOf(f) ? ` ${nativeOf(f)}` : ""}`;

function byName<T extends { name: string }>(items: T[]): Map<string, T> {
  return new Map(items.map((i) => [i.name, i]));
}

export function analyze(source: Datamodel, target: Datamodel, decisions: Decisions): Analysis {
  const out: Analysis = {
    changes: [],
    questions: [],
    enumMoves: [],
    columnRenames: [],
    tableRenames: [],
    fills: [],
    removedColumns: [],
    removedModels: [],
    removedEnums: [],
    typeChanges: [],
    breaking: false,
  };
  const used = new Set<string>();
  const change = (kind: ChangeKind, breaking: boolean, subject: string, detail: string) => out.changes.push({ kind, breaking, subject, detail });

  // Enums
  const sourceEnums = byName(source.enums);
  const targetEnums = byName(target.enums);
  for (const e of target.enums) if (!sourceEnums.has(e.name)) change("enum-added", false, e.name, `enum ${e.name} added`);
  for (const e of source.enums) {
    const t = targetEnums.get(e.name);
    if (!t) {
      out.removedEnums.push(e.name);
      change("enum-removed", true, e.name, `enum ${e.name} removed: its type is dropped by the final migration`);
      continue;
    }
    analyzeEnum(e, t, decisions, out, used, change);
  }

  // Models
  const sourceModels = byName(source.models);
  const targetModels = byName(target.models);
  const addedModels = target.models.filter((m) => !sourceModels.has(m.name));
  const renamedModels = new Set<string>();
  for (const m of source.models) {
    if (targetModels.has(m.name)) continue;
    const key = m.name;
    const confirmed = decisions.renames[key];
    if (confirmed !== undefined) {
      used.add(key);
      const t = addedModels.find((a) => a.name === confirmed);
      if (!t)
        throw new BreakwaterError("BW_PLAN_INVALID", `--rename ${key}=${confirmed}: the new schema has no new model ${confirmed}.`, {
          hint: `New models: ${addedModels.map((a) => a.name).join(", ") || "none"}.`,
        });
      renamedModels.add(t.name);
      modelRenamed(m, t, target, decisions, out, change);
      continue;
    }
    const columnsOf = (x: DmmfModel) =>
      x.fields
        .filter(scalar)
        .map((f) => f.name)
        .sort()
        .join(",");
    const candidates = addedModels.filter((a) => columnsOf(a) === columnsOf(m)).map((a) => a.name);
    if (candidates.length > 0 && !decisions.noRenames && !decisions.notRenamed?.includes(key)) {
      out.questions.push({
        kind: "model",
        key,
        prompt: `Model ${m.name} is gone and ${candidates.join(", ")} is new with the same fields. Was ${m.name} renamed?`,
        options: candidates,
      });
    }
    out.removedModels.push(m.name);
    change("model-removed", true, m.name, `model ${m.name} removed: table ${m.dbName ?? m.name} and its rows are dropped by the final migration`);
  }
  for (const m of addedModels) if (!renamedModels.has(m.name)) change("model-added", false, m.name, `model ${m.name} added`);
  for (const m of source.models) {
    const t = targetModels.get(m.name);
    if (!t) continue;
    // The same model with another @@map: Prisma's diff drops the table and creates an empty one.
    if (tableOf(m) !== tableOf(t)) tableRenamed(m, t, out, change, `@@map of ${m.name} changed`);
    analyzeModel(m, t, target, decisions, out, used, change);
  }

  for (const key of Object.keys(decisions.renames)) {
    if (!used.has(key))
      throw new BreakwaterError("BW_PLAN_INVALID", `--rename ${key}=${decisions.renames[key]} matches no removed enum value, field or model.`, {
        hint: "Give the old name as Enum.VALUE, Model.field or Model, exactly as in the old schema.",
      });
  }
  for (const key of Object.keys(decisions.fills)) {
    if (!out.fills.some((f) => `${f.model}.${f.field}` === key))
      throw new BreakwaterError("BW_PLAN_INVALID", `--fill ${key} matches no field made required.`, { hint: "Give Model.field of a field that becomes required." });
  }
  out.breaking = out.changes.some((c) => c.breaking);
  return out;
}

type Record_ = (kind: ChangeKind, breaking: boolean, subject: string, detail: string) => void;

const tableOf = (m: DmmfModel) => m.dbName ?? m.name;

function tableRenamed(m: DmmfModel, t: DmmfModel, out: Analysis, change: Record_, why: string): void {
  if ((m.schema ?? null) !== (t.schema ?? null))
    throw new BreakwaterError(
      "BW_UNSUPPORTED_CHANGE",
      `${why}: table ${tableOf(m)} moves from schema ${m.schema ?? "(default)"} to ${t.schema ?? "(default)"}, which is not scaffolded.`,
      {
        hint: "Keep the table in its schema (@@schema), or move it with a plan of your own.",
      },
    );
  out.tableRenames.push({ model: t.name, oldModel: m.name, from: tableOf(m), to: tableOf(t) });
  change(
    "model-renamed",
    true,
    t.name,
    `${why}: table ${tableOf(m)} renamed to ${tableOf(t)} (Prisma's migration drops ${tableOf(m)} with its rows and creates ${tableOf(t)} empty)`,
  );
}

/** A confirmed model rename: its table renamed (unless @@map keeps the name); its fields must not change with it. */
function modelRenamed(m: DmmfModel, t: DmmfModel, target: Datamodel, decisions: Decisions, out: Analysis, change: Record_): void {
  const scratch = analyze({ models: [], enums: [] }, { models: [], enums: [] }, { renames: {}, fills: {}, noRenames: true });
  analyzeModel(m, t, target, { ...decisions, renames: {}, noRenames: true }, scratch, new Set(), (kind, breaking, subject, detail) =>
    scratch.changes.push({ kind, breaking, subject, detail }),
  );
  if (scratch.changes.length > 0)
    throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `Model ${m.name} is renamed to ${t.name} and its fields change too (${scratch.changes.map((c) => c.detail).join("; ")}).`, {
      hint: "Rename the model in one change and change its fields in a later one (two `breakwater plan` runs).",
    });
  if (tableOf(m) === tableOf(t)) {
    change("model-renamed", false, t.name, `model ${m.name} renamed to ${t.name}; its table ${tableOf(t)} keeps its name (@@map)`);
    return;
  }
  tableRenamed(m, t, out, change, `model ${m.name} renamed to ${t.name}`);
}

function analyzeEnum(e: DmmfEnum, t: DmmfEnum, decisions: Decisions, out: Analysis, used: Set<string>, change: Record_): void {
  const before = e.values.map((v) => v.name);
  const after = t.values.map((v) => v.name);
  const added = after.filter((v) => !before.includes(v));
  for (const value of added) change("enum-value-added", false, `${e.name}.${value}`, `value ${value} added to enum ${e.name}`);
  for (const value of before.filter((v) => !after.includes(v))) {
    const key = `${e.name}.${value}`;
    const to = decisions.renames[key];
    if (to !== undefined) {
      used.add(key);
      if (!after.includes(to))
        throw new BreakwaterError("BW_PLAN_INVALID", `--rename ${key}=${to}: enum ${e.name} has no value ${to} in the new schema (values: ${after.join(", ")}).`);
      const rename = added.includes(to);
      out.enumMoves.push({ enumName: e.name, from: value, to });
      change("enum-value-moved", true, key, `value ${value} removed from enum ${e.name}; its rows move to ${to}${rename ? " (a rename)" : ""}`);
      continue;
    }
    // A removed value always needs a destination: Prisma's final migration fails on any row still holding it.
    const options = added.length > 0 ? [...added, ...after.filter((v) => !added.includes(v))] : after;
    out.questions.push({
      kind: "enum-value",
      key,
      prompt: `Enum value ${key} is removed. Which value do its rows take?${added.length ? ` (new: ${added.join(", ")})` : ""}`,
      options,
    });
    change("enum-value-moved", true, key, `value ${value} removed from enum ${e.name}; its rows need a new value`);
  }
}

function analyzeModel(m: DmmfModel, t: DmmfModel, target: Datamodel, decisions: Decisions, out: Analysis, used: Set<string>, change: Record_): void {
  const before = byName(m.fields.filter(scalar));
  const after = byName(t.fields.filter(scalar));
  const added = [...after.values()].filter((f) => !before.has(f.name));
  const renamedTo = new Set<string>();
  for (const f of before.values()) {
    if (after.has(f.name)) continue;
    const key = `${m.name}.${f.name}`;
    const to = decisions.renames[key];
    if (to !== undefined) {
      used.add(key);
      const g = added.find((a) => a.name === to);
      if (!g)
        throw new BreakwaterError("BW_PLAN_INVALID", `--rename ${key}=${to}: model ${m.name} has no new field ${to}.`, {
          hint: `New fields of ${m.name}: ${added.map((a) => a.name).join(", ") || "none"}.`,
        });
      if (!sameType(f, g))
        throw new BreakwaterError("BW_PLAN_INVALID", `--rename ${key}=${to}: the types differ (${typeText(f)} → ${typeText(g)}).`, {
          hint: "Rename first, change the type in a later migration.",
        });
      if (f.isId || g.isId)
        throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `Renaming the primary key ${key} is not scaffolded.`, { hint: "Keep the column name with @map on the new field name." });
      renamedTo.add(to);
      if (columnOf(f) === columnOf(g)) {
        if (f.isRequired !== g.isRequired)
          throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `--rename ${key}=${to}: the field becomes ${g.isRequired ? "required" : "optional"} as it is renamed.`, {
            hint: "Rename the field in one change and change its optionality in a later one.",
          });
        // @map keeps the column: nothing changes in the database.
        change("column-renamed", false, key, `field ${f.name} renamed to ${to}; its column ${columnOf(g)} keeps its name (@map)`);
        continue;
      }
      out.columnRenames.push({ model: m.name, from: f.name, to });
      change("column-renamed", true, key, `field ${f.name} renamed to ${to}: copied in batches, the old column dropped by the final migration`);
      continue;
    }
    const candidates = added.filter((a) => sameType(a, f)).map((a) => a.name);
    if (candidates.length > 0 && !decisions.noRenames && !decisions.notRenamed?.includes(key)) {
      out.questions.push({
        kind: "column",
        key,
        prompt: `Field ${key} is gone and ${candidates.map((c) => `${m.name}.${c}`).join(", ")} is new with the same type. Was it renamed?`,
        options: candidates,
      });
    }
    out.removedColumns.push({ model: m.name, field: f.name });
    change("column-removed", true, key, `field ${f.name} removed: its data is dropped by the final migration`);
  }
  for (const g of added) {
    if (renamedTo.has(g.name)) continue; // filled by the copy from the old column
    const key = `${m.name}.${g.name}`;
    const dbDefault = defaultSql(g, target);
    const nativeDefault =
      g.default !== undefined && dbDefault !== null && !(typeof g.default === "object" && g.default !== null && clientSideDefaults.has((g.default as { name: string }).name));
    if (g.isRequired && !g.isList && !g.isUpdatedAt && !g.isId && !nativeDefault) {
      pushFill(m, g, target, decisions, out);
      change("required-column-added", true, key, `required field ${g.name} added without a database default: existing rows need a value${relationsOver(t, g)}`);
    } else {
      change("column-added", false, key, `field ${g.name} (${typeText(g)}) added`);
    }
  }
  for (const f of before.values()) {
    const g = after.get(f.name);
    if (!g) continue;
    const key = `${m.name}.${f.name}`;
    if (columnOf(f) !== columnOf(g)) {
      // The same field with another @map: Prisma's diff drops the column and adds an empty one.
      if (!sameType(f, g) || nativeOf(f) !== nativeOf(g) || f.isRequired !== g.isRequired)
        throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `${key}: its column is renamed (${columnOf(f)} → ${columnOf(g)}) and its type or optionality changes too.`, {
          hint: "Rename the column in one change and change the field in a later one (two `breakwater plan` runs).",
        });
      if (f.isId) throw new BreakwaterError("BW_UNSUPPORTED_CHANGE", `Renaming the primary key column of ${key} is not scaffolded.`, { hint: "Keep its @map." });
      out.columnRenames.push({ model: m.name, from: f.name, to: g.name });
      change("column-renamed", true, key, `column ${columnOf(f)} renamed to ${columnOf(g)} (@map; Prisma's migration drops ${columnOf(f)} with its values)`);
      continue;
    }
    if (!sameType(f, g) || nativeOf(f) !== nativeOf(g)) {
      out.typeChanges.push({ model: m.name, field: f.name });
      change("type-changed", true, key, `type ${typeText(f)} → ${typeText(g)}: every value is checked to convert without loss before the final migration`);
      continue;
    }
    if (!f.isRequired && g.isRequired && !g.isList) {
      pushFill(m, g, target, decisions, out);
      change("not-null-added", true, key, `${f.name} becomes required: NULL rows need a value first${relationsOver(t, g)}`);
    } else if (f.isRequired && !g.isRequired) {
      change("not-null-dropped", false, key, `${f.name} becomes optional`);
    }
  }
}

/** The relation fields a foreign key belongs to, said with the change that makes the key required. */
function relationsOver(model: DmmfModel, key: DmmfField): string {
  const relations = model.fields.filter((f) => f.kind === "object" && f.relationFromFields?.includes(key.name)).map((f) => f.name);
  return relations.length ? ` (relation ${relations.join(", ")} stays optional until the final migration)` : "";
}

function pushFill(m: DmmfModel, g: DmmfField, target: Datamodel, decisions: Decisions, out: Analysis): void {
  const key = `${m.name}.${g.name}`;
  const fill = decisions.fills[key] ?? defaultSql(g, target);
  if (fill === null) {
    out.questions.push({
      kind: "fill",
      key,
      prompt: `Field ${key} becomes required and has no default PostgreSQL can compute. Which SQL value do the existing rows take?`,
      options: [],
    });
    return;
  }
  out.fills.push({ model: m.name, field: g.name, fill });
}
