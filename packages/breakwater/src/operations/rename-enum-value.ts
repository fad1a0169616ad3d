// renameEnumValue: an enum value renamed (USER → EMPLOYEE, plus new values such as MANAGER) on every column
// of every table using the enum, ending with the old value removed from the type.
//
// PostgreSQL cannot remove an enum value, so the target type is built as a new type. Two contracts:
// - "shadow" (default for large tables): a shadow column of the new type, kept in sync by a
//   trigger and filled in batches, NOT NULL proven by a validated CHECK, indexes built
//   CONCURRENTLY; then one short transaction swaps columns and types by rename (metadata only).
// - "typeSwap": Prisma's `ALTER COLUMN … TYPE "Role_new" USING …`, which rewrites the table under
//   ACCESS EXCLUSIVE; fine for small tables.
// - "renameValue" (opt-in): `ALTER TYPE … RENAME VALUE`, catalog only, when `to` is a new value.
// The original column and type are untouched until the swap, so a failed check leaves them as
// they were. The shadow swap sets them aside (in maintenance mode as online): a rollback after
// completion renames them back, and `breakwater cleanup` drops them. Views, materialized views and
// expression or partial indexes over the enum are carried over: built again with the value's
// literals mapped (indexes CONCURRENTLY on the shadow column before the swap, views in it).
import { z } from "zod";
import {
  dependentViews,
  enumColumns,
  enumTypeDependents,
  findEnum,
  indexDefinitions,
  typeExists,
  withQualifiedNames,
  type DependentView,
  type EnumColumn,
  type KeyColumn,
} from "../db/catalog.ts";
import type { Database } from "@breakwater/runtime/internal";
import { DefinitionNotRewritable, rewriteDefinition, type EnumRewrite } from "../db/definition-rewrite.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteQualified, quoteRegExp, quoteTable, type TableRef } from "../db/quote.ts";
import { fitsName, identifier, preflightError } from "./common.ts";
import { dollarQuoted, plpgsqlBlock } from "./rename-table.ts";
import type { Action, CheckSpec, Measure, Operation, OperationPlan, PlanContext, SnapshotSpec, TransformSpec, Proof, SchemaAccepts } from "./types.ts";

const inputSchema = z
  .object({
    op: z.literal("renameEnumValue"),
    schema: identifier.default("public"),
    enum: identifier,
    from: z.string().min(1),
    to: z.string().min(1),
    /** values to create besides `to`, each once; listing `to` again is harmless, listing `from` is refused */
    add: z.array(z.string().min(1)).default([]),
    /** the final order of the values; by default `to` takes the place of `from`, followed by `add` */
    values: z.array(z.string().min(1)).optional(),
    contract: z.enum(["auto", "shadow", "typeSwap", "renameValue"]).default("auto"),
    /**
     * The application serving during and after the run already reads the new values (it was
     * built from a schema holding the old and the new). Without it the run keeps full maintenance
     * until `breakwater maintenance off`: an application built before `to` existed fails on every
     * row holding it (Prisma: P2023 "Value '…' not found in enum").
     */
    appReadsNewValues: z.boolean().default(false),
  })
  .strict()
  .refine((i) => i.from !== i.to, { message: "`from` and `to` must differ" })
  // A value listed twice is most likely a typo for another one; `from` in `add` would be removed
  // and created again in one step.
  .superRefine((i, context) => {
    for (const key of ["add", "values"] as const) {
      const listed = i[key] ?? [];
      const twice = listed.find((v, index) => listed.indexOf(v) !== index);
      if (twice !== undefined) context.addIssue({ code: "custom", path: [key], message: `${JSON.stringify(twice)} is listed twice` });
    }
    if (i.add.includes(i.from)) {
      context.addIssue({ code: "custom", path: ["add"], message: `${JSON.stringify(i.from)} is the value renamed by \`from\`; it cannot be added back in the same step` });
    }
  });

type _Accepts = Proof<SchemaAccepts<"renameEnumValue", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;

interface ColumnFacts {
  column: EnumColumn;
  shadow: string;
  /** the old column's name once the shadow swap sets it aside (kept until cleanup) */
  aside: string;
  rows: number;
  /** label of the literal default, mapped later; null when there is no default */
  defaultLabel: string | null;
  /** the most common value after mapping: existing rows get it without a write (fast default) */
  commonLabel: string | null;
  /**
   * Its expression and partial indexes (pg_get_indexdef, names qualified), each with the
   * definition that builds it again: on the shadow column and the new type (shadow contract) or in
   * place (type swap), the value's literals mapped either way.
   */
  rebuiltIndexes?: { name: string; definition: string; rebuilt: string }[];
}

/** A view or materialized view over the enum, dropped and created again by the swap. */
type CarriedView = Omit<DependentView, "indexes"> & {
  /** the definition with the value's literals mapped */
  mapped: string;
  indexes: { name: string; definition: string; mapped: string }[];
};

interface Facts {
  oldValues: string[];
  finalValues: string[];
  newType: string;
  oldTypeDuringRollback: string;
  /** the old type's name in the breakwater schema once the shadow swap sets it aside */
  asideType: string;
  strategy: "shadow" | "typeSwap" | "renameValue";
  columns: ColumnFacts[];
  /** in the order they can be created in (absent from runs journaled before views were carried) */
  views?: CarriedView[];
  /**
   * The shadow swap sets the old columns and type aside in maintenance mode too. Absent from runs
   * journaled before it did: they dropped the old columns and kept a snapshot, and are rebuilt so.
   */
  setsAside?: boolean;
}

function finalValuesOf(input: Input, oldValues: string[]): string[] {
  const wanted = new Set(oldValues.filter((v) => v !== input.from));
  wanted.add(input.to);
  for (const v of input.add) wanted.add(v);
  if (input.values) {
    const given = new Set(input.values);
    const missing = [...wanted].filter((v) => !given.has(v));
    const extra = input.values.filter((v) => !wanted.has(v));
    if (missing.length > 0 || extra.length > 0 || given.size !== input.values.length) {
      throw preflightError(`\`values\` must list exactly ${[...wanted].join(", ")} (missing: ${missing.join(", ") || "none"}, unexpected: ${extra.join(", ") || "none"}).`);
    }
    return input.values;
  }
  const result: string[] = [];
  for (const v of oldValues) {
    if (v === input.from) {
      if (!oldValues.includes(input.to)) result.push(input.to);
      for (const a of input.add) if (!oldValues.includes(a) && a !== input.to) result.push(a);
    } else {
      result.push(v);
    }
  }
  return result;
}

function parseDefaultLabel(expression: string | null, where: string): string | null {
  if (expression === null) return null;
  const match = /^'((?:[^']|'')*)'::/.exec(expression);
  if (!match) {
    throw preflightError(`${where} has the default ${expression}, which is not a plain enum literal.`, "Drop or simplify the default before running this plan.");
  }
  return match[1]!.replaceAll("''", "'");
}

async function exactOrEstimatedRows(db: Database, column: EnumColumn): Promise<number> {
  if (column.estimatedRows >= 0) return Math.round(column.estimatedRows);
  // Never analyzed: count once (the table is then small or new).
  const row = await db.one<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${quoteTable(column.table)}`);
  return row.n;
}

/** From the planner statistics when the table was analyzed, otherwise by counting once. */
async function mostCommonValue(db: Database, column: EnumColumn): Promise<string | null> {
  const stats = await db.query<{ value: string | null }>(
    "SELECT (most_common_vals::text::text[])[1] AS value FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3",
    [column.table.schema, column.table.name, column.column],
  );
  if (stats.rows.length > 0) return stats.rows[0]!.value;
  const { rows } = await db.query<{ value: string | null }>(
    `SELECT ${quoteIdent(column.column)}::text AS value FROM ${quoteTable(column.table)} WHERE ${quoteIdent(column.column)} IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
  );
  return rows[0]?.value ?? null;
}

/** breakwater's triggers on the column's table that fire on its writes (an earlier run's reverse trigger, or a sync trigger of one not finished). */
async function setAsideTriggers(db: Database, column: EnumColumn): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT t.tgname AS name FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE t.tgrelid = $1 AND $2 = ANY (t.tgattr::int2[]) AND p.pronamespace = to_regnamespace('breakwater') ORDER BY 1`,
    [column.relid, column.attnum],
  );
  return rows.map((r) => r.name);
}

async function inspect(db: Database, input: Input, context: PlanContext): Promise<Facts> {
  const type = await findEnum(db, input.schema, input.enum);
  const typeName = `${input.schema}.${input.enum}`;
  if (!type) throw preflightError(`Enum type ${typeName} does not exist.`, "Check `schema` and `enum` in the plan (names are case-sensitive).");
  if (!type.values.includes(input.from)) {
    throw preflightError(`Enum ${typeName} has no value ${JSON.stringify(input.from)} (values: ${type.values.join(", ")}).`);
  }
  const finalValues = finalValuesOf(input, type.values);
  const renamesInPlace = input.contract === "renameValue";
  const newType = fitsName(`${input.enum}__bw_new`) ? `${input.enum}__bw_new` : context.objectName("type");
  const oldTypeDuringRollback = fitsName(`${input.enum}__bw_old`) ? `${input.enum}__bw_old` : context.objectName("oldtype");
  if (await typeExists(db, input.schema, newType)) {
    throw preflightError(
      `A type named ${input.schema}.${newType} already exists.`,
      "It is left from another run: roll that run back (`breakwater rollback <id>`) or drop the type.",
    );
  }
  const columns: ColumnFacts[] = [];
  const found = await enumColumns(db, type.oid);
  for (const [j, column] of found.entries()) {
    const where = `${displayTable(column.table)}.${column.column}`;
    if (column.isArray && !renamesInPlace) throw preflightError(`${where} is an array of ${typeName}; arrays of enums are not supported by renameEnumValue yet.`);
    // renameValue batches nothing and copies nothing: it needs no key.
    if (column.key.length === 0 && !renamesInPlace) {
      throw preflightError(`${displayTable(column.table)} has no primary key; breakwater needs one to batch, snapshot and resume.`, "Add a primary key first.");
    }
    // A column an earlier run set aside (the old form of this one, kept filled by breakwater's
    // trigger until cleanup) would lose its trigger's source: the earlier run is finished first.
    const kept = renamesInPlace ? [] : await setAsideTriggers(db, column);
    if (kept.length > 0) {
      throw preflightError(
        `${where} is kept in step by breakwater's trigger ${kept.join(", ")} of an earlier run (the old column it set aside until cleanup, or a run not finished), so its type cannot change yet.`,
        "Finish or roll back that run, or drop what it set aside with `breakwater cleanup --older-than 0m` (it can then no longer be rolled back); then run this plan again.",
      );
    }
    if (column.dependents.length > 0 && !renamesInPlace) {
      throw preflightError(
        `${where} is used by ${column.dependents.join("; ")}; its type cannot change while they depend on it.`,
        "Drop them in an expand `sql` step and recreate them in a later step.",
      );
    }
    const shadow = fitsName(`${column.column}__bw`) ? `${column.column}__bw` : context.objectName(`c${j}`);
    const aside = fitsName(`${column.column}__bw_old`) ? `${column.column}__bw_old` : context.objectName(`a${j}`);
    const common = await mostCommonValue(db, column);
    columns.push({
      column,
      shadow,
      aside,
      rows: await exactOrEstimatedRows(db, column),
      defaultLabel: parseDefaultLabel(column.defaultExpression, where),
      commonLabel:
        common === null ? null
        : common === input.from ? input.to
        : common,
    });
  }
  const anyLarge = columns.some((c) => c.rows >= context.shadowThresholdRows);
  // Online, the type swap (a table rewrite under ACCESS EXCLUSIVE) is never chosen.
  const strategy =
    input.contract === "auto" ?
      anyLarge || context.online ?
        "shadow"
      : "typeSwap"
    : input.contract;
  if (strategy === "renameValue") {
    // ALTER TYPE … RENAME VALUE keeps every row's OID: valid only when `to` is new and the final
    // order is the old one with `to` in place of `from` (added values right after it). Views and
    // indexes name the value by its OID and read the new label with it: nothing to carry over.
    const expected = finalValuesOf({ ...input, values: undefined }, type.values);
    if (type.values.includes(input.to) || finalValues.join("\u0000") !== expected.join("\u0000")) {
      throw preflightError(
        `contract "renameValue" needs ${JSON.stringify(input.to)} to be a new value${input.values ? " and the default order of values" : ""}.`,
        'Use contract: "shadow" (or "typeSwap") to merge into an existing value or reorder.',
      );
    }
    return { oldValues: type.values, finalValues, newType, oldTypeDuringRollback, asideType: context.objectName("oldtype"), strategy, columns };
  }
  for (const c of columns) {
    const where = `${displayTable(c.column.table)}.${c.column.column}`;
    // The shadow contract builds a copy of every index of the column; the type swap rebuilds the
    // plain ones itself (ALTER COLUMN … TYPE) and breakwater the others.
    const blocking = c.column.indexes.filter((i) => i.constraint !== null && (strategy === "shadow" || !i.simple));
    if (blocking.length > 0) {
      throw preflightError(
        `${where} is part of ${blocking.map((i) => `${i.name} (backing constraint ${i.constraint})`).join(", ")}, which the ${strategy === "shadow" ? "shadow-column contract" : "type swap"} cannot rebuild.`,
        strategy === "shadow" ?
          'Use contract: "typeSwap" for this step (it rewrites the table under an exclusive lock), or drop the constraint first.'
        : "Drop the constraint first.",
      );
    }
    const shared = c.column.indexes.filter((i) => columns.some((other) => other !== c && other.column.indexes.some((o) => o.oid === i.oid)));
    if (strategy === "shadow" && shared.length > 0) {
      throw preflightError(
        `${shared.map((i) => i.name).join(", ")} use${shared.length === 1 ? "s" : ""} two columns of ${typeName}, which the shadow-column contract cannot rebuild.`,
        'Use contract: "typeSwap" for this step, or drop the index first.',
      );
    }
    if (strategy === "shadow" && c.column.partitioned && c.column.indexes.length > 0) {
      throw preflightError(`${where} is on a partitioned table with indexes; indexes cannot be built CONCURRENTLY there.`, 'Use contract: "typeSwap".');
    }
  }
  if (strategy === "shadow") {
    for (const c of columns) {
      const taken = await db.query("SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped", [quoteTable(c.column.table), c.aside]);
      if (taken.rows.length > 0) {
        throw preflightError(
          `${displayTable(c.column.table)} already has a column ${c.aside}.`,
          "It is left from another run: roll that run back (`breakwater rollback <id>`), run `breakwater cleanup`, or drop it.",
        );
      }
    }
  }

  // Views and expression or partial indexes are printed with every name qualified, then rewritten
  // from their parse tree (not by replacing text, nor by comparing through text: both would change
  // a 'USER' that is not a value of the enum, or miss one printed otherwise).
  const rebuilt = (c: ColumnFacts) => c.column.indexes.filter((i) => !i.simple);
  const { views, blockers, definitions } = await withQualifiedNames(db, async (tx) => ({
    ...(await dependentViews(tx, type.oid, found)),
    definitions: await indexDefinitions(
      tx,
      columns.flatMap((c) => rebuilt(c).map((i) => i.oid)),
    ),
  }));
  if (blockers.length > 0) {
    throw preflightError(
      `The views using ${typeName} (${views.map((v) => `${v.schema}.${v.name}`).join(", ")}) are dropped and created again with the new type, but ${blockers.join("; ")}.`,
      "Drop those objects in an expand `sql` step and recreate them after this step.",
    );
  }
  const carried = [...views.map((v) => v.oid), ...views.flatMap((v) => v.indexes.map((i) => i.oid)), ...found.flatMap((c) => c.indexes.map((i) => i.oid))];
  const typeDependents = await enumTypeDependents(db, type.oid, carried);
  if (typeDependents.length > 0) {
    throw preflightError(
      `Enum ${typeName} is used by ${typeDependents.join("; ")}; the type cannot be replaced while they depend on it.`,
      "Drop those objects in an expand `sql` step and recreate them after this step.",
    );
  }
  const value = { from: input.from, to: input.to };
  const enumType = { schema: input.schema, name: input.enum };
  const rewrite = async (sql: string, what: string, rewrite: EnumRewrite): Promise<string> => {
    try {
      return await rewriteDefinition(sql, rewrite);
    } catch (error) {
      if (!(error instanceof DefinitionNotRewritable)) throw error;
      throw preflightError(
        `${what} ${error.message}, so breakwater cannot carry it over to the renamed value.`,
        `Write the comparison with a value of the enum (role = ${quoteLiteral(input.from)}), or drop it in an expand \`sql\` step and create it again after this step.`,
      );
    }
  };
  for (const c of columns) {
    c.rebuiltIndexes = [];
    for (const index of rebuilt(c)) {
      const definition = definitions.get(index.oid)!;
      const onShadow = strategy === "shadow" ? { typeAs: { schema: input.schema, name: newType }, column: { from: c.column.column, to: c.shadow } } : {};
      c.rebuiltIndexes.push({ name: index.name, definition, rebuilt: await rewrite(definition, `Index ${index.name}`, { type: enumType, value, ...onShadow }) });
    }
  }
  const carriedViews: CarriedView[] = [];
  for (const view of views) {
    const what = `${view.materialized ? "Materialized view" : "View"} ${view.schema}.${view.name}`;
    const unknown = (view.grants ?? []).find((g) => !/^[A-Z]+( [A-Z]+)*$/.test(g.privilege));
    if (unknown) throw preflightError(`${what} has the privilege ${JSON.stringify(unknown.privilege)}, which breakwater does not know how to grant again.`);
    const indexes = [];
    for (const index of view.indexes)
      indexes.push({ name: index.name, definition: index.definition, mapped: await rewrite(index.definition, `Index ${index.name}`, { type: enumType, value }) });
    carriedViews.push({ ...view, mapped: await rewrite(view.definition, what, { type: enumType, value }), indexes });
  }
  return {
    oldValues: type.values,
    finalValues,
    newType,
    oldTypeDuringRollback,
    asideType: context.objectName("oldtype"),
    strategy,
    columns,
    views: carriedViews,
    setsAside: true,
  };
}

/** SQL mapping an old-type value (or NULL) to the new type. */
function mapExpression(input: Input, valueSql: string, typeSql: string): string {
  return `(CASE ${valueSql}::text WHEN ${quoteLiteral(input.from)} THEN ${quoteLiteral(input.to)} ELSE ${valueSql}::text END)::${typeSql}`;
}

function keyMatch(key: KeyColumn[], left: string, right: string): string {
  return key.map((k) => `${left}.${quoteIdent(k.name)} = ${right}.${quoteIdent(k.name)}`).join(" AND ");
}

function plan(input: Input, facts: Facts, context: PlanContext): OperationPlan {
  const oldType = quoteQualified(input.schema, input.enum);
  const newType = quoteQualified(input.schema, facts.newType);
  const restoreType = quoteQualified(input.schema, facts.oldTypeDuringRollback);
  const tables = uniqueTables(facts.columns.map((c) => c.column.table));
  const valuesList = (values: string[]) => values.map(quoteLiteral).join(", ");
  const toExisted = facts.oldValues.includes(input.to);
  const online = context.online;
  // The shadow swap sets the old columns and type aside (runs journaled before maintenance mode did
  // so drop them, as they ran).
  const setsAside = facts.strategy === "shadow" && (online || facts.setsAside === true);
  const views = facts.views ?? [];

  const snapshots: SnapshotSpec[] = [];
  const measures: Measure[] = [];
  const finalChecks: CheckSpec[] = [];
  const afterSwapChecks: CheckSpec[] = [];
  const shadowChecks: CheckSpec[] = [];
  const names = facts.columns.map((c, j) => ({
    trigger: context.objectName(`sync${j}`),
    fn: quoteQualified("breakwater", context.objectName(`sync${j}`)),
    notNull: context.objectName(`nn${j}`),
    snapshot: context.snapshotTable(j),
    /** online: counts the application's writes of `from` */
    counter: context.objectName(`cnt${j}`),
    /** after the shadow swap: keeps the aside column filled (undone by rollback, dropped by cleanup) */
    reverse: context.objectName(`rev${j}`),
    /** a rollback after the shadow swap proves the aside column holds no NULL before it is NOT NULL again */
    asideNotNull: context.objectName(`onn${j}`),
    reverseFn: quoteQualified("breakwater", context.objectName(`rev${j}`)),
    c,
  }));
  const oldWrites = quoteQualified("breakwater", context.objectName("oldwrites"));
  const countFn = quoteQualified("breakwater", context.objectName("count"));
  const asideType = quoteQualified("breakwater", facts.asideType);

  const changes: { label: string; measure: string }[] = [];
  for (const { c, snapshot } of names) {
    const t = quoteTable(c.column.table);
    const col = quoteIdent(c.column.column);
    const label = `${displayTable(c.column.table)}.${c.column.column}`;
    // Only a contract that writes the original column needs a copy of it: the type swap. The
    // shadow swap sets the original column aside unwritten; renameValue writes no row at all.
    if (facts.strategy === "typeSwap" || (facts.strategy === "shadow" && !setsAside))
      snapshots.push({
        into: snapshot,
        table: c.column.table,
        key: c.column.key,
        columns: [c.column.column],
        where: `${col}::text = ${quoteLiteral(input.from)}`,
        restoreOnRollback: false,
        asText: true,
      });
    const fromMeasure = `${label}:${input.from}`;
    const toMeasure = `${label}:${input.to}`;
    measures.push({ name: fromMeasure, label: `${input.from} in ${label} before`, sql: `SELECT count(*) FROM ${t} WHERE ${col}::text = ${quoteLiteral(input.from)}` });
    measures.push({
      name: toMeasure,
      label: `${input.to} in ${label} before`,
      sql: toExisted ? `SELECT count(*) FROM ${t} WHERE ${col}::text = ${quoteLiteral(input.to)}` : "SELECT 0",
    });
    changes.push({ label: `${label}: ${input.from} → ${input.to}`, measure: fromMeasure });
    measures.push({ name: `${label}:rows`, label: `rows in ${displayTable(c.column.table)} before`, sql: `SELECT count(*) FROM ${t}` });
    const carried: CheckSpec = {
      name: `${input.from} before = ${input.to} after (${label})`,
      sql: `SELECT count(*) FROM ${t} WHERE ${quoteIdent(c.shadow)}::text = ${quoteLiteral(input.to)}`,
      expect: { equalsMeasures: toExisted ? [fromMeasure, toMeasure] : [fromMeasure] },
    };
    // Counts measured before the transform cannot hold while the application writes: online,
    // only the per-row checks, which its triggers keep true under concurrent writes.
    if (!context.online) shadowChecks.push(carried);
    shadowChecks.push({
      name: `every row carried to the new type (${label})`,
      table: c.column.table,
      key: c.column.key,
      differs: `${quoteIdent(c.shadow)} IS DISTINCT FROM ${mapExpression(input, col, newType)}`,
    });
    if (!context.online)
      afterSwapChecks.push(
        { ...carried, sql: `SELECT count(*) FROM ${t} WHERE ${col}::text = ${quoteLiteral(input.to)}` },
        { name: `rows unchanged (${displayTable(c.column.table)})`, sql: `SELECT count(*) FROM ${t}`, expect: { equalsMeasures: [`${label}:rows`] } },
      );
    finalChecks.push({ name: `${input.from} left (${label})`, sql: `SELECT count(*) FROM ${t} WHERE ${col}::text = ${quoteLiteral(input.from)}`, expect: { equals: 0 } });
    if (!context.online)
      finalChecks.push({
        name: `${input.to} after (${label})`,
        sql: `SELECT count(*) FROM ${t} WHERE ${col}::text = ${quoteLiteral(input.to)}`,
        expect: { equalsMeasures: toExisted ? [fromMeasure, toMeasure] : [fromMeasure] },
      });
  }
  finalChecks.push({
    name: `values of ${input.enum}`,
    sql: `SELECT array_to_string(array_agg(enumlabel ORDER BY enumsortorder), ', ') FROM pg_enum WHERE enumtypid = ${quoteLiteral(oldType)}::regtype`,
    expect: { equals: facts.finalValues.join(", ") },
  });

  const createType: Action = {
    label: `create type ${facts.newType} (${facts.finalValues.join(", ")})`,
    statements: [`CREATE TYPE ${newType} AS ENUM (${valuesList(facts.finalValues)})`],
  };
  const swapTypes = [`DROP TYPE ${oldType}`, `ALTER TYPE ${newType} RENAME TO ${quoteIdent(input.enum)}`];
  const mappedDefault = (c: ColumnFacts, typeSql: string) =>
    c.defaultLabel === null ? null : `${quoteLiteral(c.defaultLabel === input.from ? input.to : c.defaultLabel)}::${typeSql}`;
  // The type swap's expression and partial indexes: ALTER COLUMN … TYPE would build them again from
  // their text, whose literals name the old type, so breakwater drops them and builds them itself.
  const rebuiltInPlace =
    facts.strategy === "typeSwap" ?
      facts.columns
        .flatMap((c) => (c.rebuiltIndexes ?? []).map((i) => ({ ...i, schema: c.column.table.schema })))
        // An index over two columns of the enum is listed under each.
        .filter((i, n, all) => all.findIndex((o) => o.schema === i.schema && o.name === i.name) === n)
    : [];
  const dropRebuiltInPlace = rebuiltInPlace.map((i) => `DROP INDEX ${quoteQualified(i.schema, i.name)}`);

  // After the contract: back to the old type, USER restored from the snapshot. Rewrites the table.
  const rollbackAfterContract: Action[] = [
    {
      label: `restore type ${input.enum} (${facts.oldValues.join(", ")}) and the ${input.from} rows from the snapshot`,
      lock: { tables, mode: "ACCESS EXCLUSIVE" },
      statements: [
        ...dropViews(views),
        ...dropRebuiltInPlace,
        `CREATE TYPE ${restoreType} AS ENUM (${valuesList(facts.oldValues)})`,
        ...names.flatMap(({ c, snapshot }) => {
          const t = quoteTable(c.column.table);
          const col = quoteIdent(c.column.column);
          return [
            `ALTER TABLE ${t} ALTER COLUMN ${col} DROP DEFAULT`,
            `ALTER TABLE ${t} ALTER COLUMN ${col} TYPE text USING ${col}::text`,
            `UPDATE ${t} AS t SET ${col} = ${quoteLiteral(input.from)} FROM ${quoteTable(snapshot)} AS s WHERE ${keyMatch(c.column.key, "t", "s")}`,
            `ALTER TABLE ${t} ALTER COLUMN ${col} TYPE ${restoreType} USING ${col}::${restoreType}`,
            ...(c.defaultLabel === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${col} SET DEFAULT ${quoteLiteral(c.defaultLabel)}::${restoreType}`]),
          ];
        }),
        `DROP TYPE ${oldType}`,
        `ALTER TYPE ${restoreType} RENAME TO ${quoteIdent(input.enum)}`,
        ...rebuiltInPlace.map((i) => i.definition),
        ...createViews(views, "original"),
      ],
    },
  ];

  const summary = [
    `${input.schema === "public" ? "" : `${input.schema}.`}${input.enum}: ${input.from} → ${input.to}${input.add.length ? `, adds ${input.add.join(", ")}` : ""}; values after: ${facts.finalValues.join(", ")}`,
    `columns: ${facts.columns.map((c) => `${displayTable(c.column.table)}.${c.column.column} (~${c.rows} rows)`).join(", ") || "none"}`,
    `contract: ${
      facts.strategy === "shadow" ? "shadow column + rename swap (short locks)"
      : facts.strategy === "typeSwap" ? "type swap (rewrites the table under ACCESS EXCLUSIVE)"
      : "rename value"
    }`,
  ];

  if (facts.strategy === "renameValue") {
    // Catalog only: every row holding `from` reads `to` at commit; no row is written.
    let previous = input.to;
    const additions = input.add
      .filter((a) => !facts.oldValues.includes(a) && a !== input.to)
      .map((a) => {
        const sql = `ALTER TYPE ${oldType} ADD VALUE ${quoteLiteral(a)} AFTER ${quoteLiteral(previous)}`;
        previous = a;
        return sql;
      });
    return {
      summary: [...summary.slice(0, 2), "contract: ALTER TYPE … RENAME VALUE (catalog only, no row written)"],
      expand: [],
      snapshots,
      measures,
      transforms: [],
      checks: [],
      contract: [
        {
          label: `rename ${input.from} to ${input.to} in ${input.enum}${additions.length ? ` and add ${input.add.join(", ")}` : ""}`,
          // The type's dependents lock nothing but the type; ACCESS EXCLUSIVE on the tables is not needed.
          statements: [`ALTER TYPE ${oldType} RENAME VALUE ${quoteLiteral(input.from)} TO ${quoteLiteral(input.to)}`, ...additions],
          commitPoint: true,
          checks: afterSwapChecks,
        },
      ],
      finalChecks,
      rollback: [],
      rollbackAfterContract: [
        {
          label: `rename ${input.to} back to ${input.from}`,
          statements: [`ALTER TYPE ${oldType} RENAME VALUE ${quoteLiteral(input.to)} TO ${quoteLiteral(input.from)}`],
        },
      ],
      changes,
      notes: input.add.length ? [`values added to ${input.enum} stay after a rollback (PostgreSQL cannot remove an enum value); no row uses them then`] : [],
    };
  }

  if (facts.strategy === "typeSwap") {
    const swap: Action = {
      label: `swap ${facts.columns.length} column(s) to the new type (table rewrite)`,
      lock: { tables, mode: "ACCESS EXCLUSIVE" },
      commitPoint: true,
      checks: afterSwapChecks,
      statements: [
        ...dropViews(views),
        ...dropRebuiltInPlace,
        ...facts.columns.flatMap((c) => {
          const t = quoteTable(c.column.table);
          const col = quoteIdent(c.column.column);
          const def = mappedDefault(c, newType);
          return [
            ...(c.defaultLabel === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${col} DROP DEFAULT`]),
            `ALTER TABLE ${t} ALTER COLUMN ${col} TYPE ${newType} USING ${mapExpression(input, col, newType)}`,
            ...(def === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${col} SET DEFAULT ${def}`]),
          ];
        }),
        ...swapTypes,
        ...rebuiltInPlace.map((i) => i.rebuilt),
        ...createViews(views, "mapped"),
      ],
    };
    return {
      summary,
      expand: [createType],
      snapshots,
      measures,
      transforms: [],
      checks: [],
      contract: [swap],
      finalChecks,
      rollback: [{ label: `drop type ${facts.newType}`, statements: [`DROP TYPE IF EXISTS ${newType}`] }],
      rollbackAfterContract,
      changes,
      notes: [],
    };
  }

  // Shadow strategy.
  const expand: Action[] = [];
  // Online, the type in use gets the new values first (each committed on its own before use), so
  // that both application versions can write during the window: the old one `from`, the new one `to`.
  const intermediate = online ? [input.to, ...input.add].filter((v, i, all) => !facts.oldValues.includes(v) && all.indexOf(v) === i) : [];
  for (const value of intermediate) {
    expand.push({ label: `add ${value} to ${input.enum} for the window`, statements: [`ALTER TYPE ${oldType} ADD VALUE IF NOT EXISTS ${quoteLiteral(value)}`] });
  }
  expand.push(createType);
  if (online) {
    const defaults = names.filter(({ c }) => c.defaultLabel === input.from);
    expand.push({
      label: `count the application's writes of ${input.from}${defaults.length ? `; new rows default to ${input.to}` : ""}`,
      statements: [
        `CREATE SEQUENCE ${oldWrites}`,
        // A sequence, not a counter row: writers never wait on each other for it.
        // SECURITY DEFINER: the application's role needs no right on the breakwater schema.
        `CREATE FUNCTION ${countFn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $bw$ BEGIN PERFORM nextval(${quoteLiteral(oldWrites)}); RETURN NEW; END $bw$`,
        ...names.map(
          ({ c, counter }) =>
            `CREATE TRIGGER ${quoteIdent(counter)} BEFORE INSERT OR UPDATE OF ${quoteIdent(c.column.column)} ON ${quoteTable(c.column.table)} FOR EACH ROW WHEN (NEW.${quoteIdent(c.column.column)}::text = ${quoteLiteral(input.from)}) EXECUTE FUNCTION ${countFn}()`,
        ),
        ...defaults.map(({ c }) => `ALTER TABLE ${quoteTable(c.column.table)} ALTER COLUMN ${quoteIdent(c.column.column)} SET DEFAULT ${quoteLiteral(input.to)}::${oldType}`),
      ],
    });
  }
  for (const { c, trigger, fn } of names) {
    const t = quoteTable(c.column.table);
    const col = quoteIdent(c.column.column);
    const shadow = quoteIdent(c.shadow);
    expand.push({
      label: `add shadow column ${displayTable(c.column.table)}.${c.shadow} and its sync trigger`,
      lock: { tables: [c.column.table], mode: "ACCESS EXCLUSIVE" },
      statements: [
        // With a constant default, ADD COLUMN is metadata only and every existing row reads the
        // most common new value without being written (PostgreSQL ≥ 11 "missing value"); the
        // transform then writes only the rows whose value differs. The default itself is dropped
        // at once: new rows get their value from the trigger.
        ...(c.commonLabel === null ?
          [`ALTER TABLE ${t} ADD COLUMN ${shadow} ${newType}`]
        : [`ALTER TABLE ${t} ADD COLUMN ${shadow} ${newType} DEFAULT ${quoteLiteral(c.commonLabel)}::${newType}`, `ALTER TABLE ${t} ALTER COLUMN ${shadow} DROP DEFAULT`]),
        // Writes by the application between now and the swap keep the shadow column in step.
        `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $bw$ BEGIN NEW.${shadow} := ${mapExpression(input, `NEW.${col}`, newType)}; RETURN NEW; END $bw$`,
        `CREATE TRIGGER ${quoteIdent(trigger)} BEFORE INSERT OR UPDATE OF ${col} ON ${t} FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
      ],
    });
  }
  const transforms: TransformSpec[] = [];
  for (const table of tables) {
    const cols = facts.columns.filter((c) => sameTable(c.column.table, table));
    transforms.push({
      label: `fill ${cols.map((c) => c.shadow).join(", ")} of ${displayTable(table)}`,
      table,
      key: cols[0]!.column.key,
      set: cols.map((c) => `${quoteIdent(c.shadow)} = ${mapExpression(input, quoteIdent(c.column.column), newType)}`).join(", "),
      // Only rows whose shadow value is not already right; this also makes a re-run a no-op.
      where: cols.map((c) => `${quoteIdent(c.shadow)} IS DISTINCT FROM ${mapExpression(input, quoteIdent(c.column.column), newType)}`).join(" OR "),
      windowOverAllRows: true,
      idempotent: true,
      // The sync trigger keeps the shadow column right for every write: no fence needed.
      beforeMaintenance: true,
    });
  }
  // Prepared before maintenance mode (none of it needs writes stopped): the NOT NULL proof and the
  // indexes of the shadow column. The contract itself is the swap.
  const prepare: Action[] = names.flatMap(({ c, notNull }) => (c.column.notNull ? proveNotNull(c.column.table, c.shadow, notNull) : []));
  const contract: Action[] = [];
  const indexRenames: string[] = [];
  const indexDrops: string[] = [];
  /** the old column's indexes, renamed aside with it (and back by a rollback after completion) */
  const asideIndexes: { original: string; aside: string; copy: string; schema: string }[] = [];
  for (const [j, { c }] of names.entries()) {
    for (const [k, index] of c.column.indexes.entries()) {
      const copy = context.objectName(`ix${j}_${k}`);
      const copySql = quoteQualified(c.column.table.schema, copy);
      // An expression or partial index: its definition rewritten at preflight (the shadow column,
      // the new type, the value's literals mapped). A plain one: its key columns renamed.
      const rebuilt = c.rebuiltIndexes?.find((i) => i.name === index.name);
      prepare.push({
        label: `build index ${index.name} on ${c.shadow} CONCURRENTLY`,
        statements: [
          rebuilt ? buildConcurrentlyAs(rebuilt.rebuilt, quoteIdent(copy)) : rewriteIndexDefinition(index.definition, c.column.columnInIndexDefinition, c.shadow, quoteIdent(copy)),
        ],
        outsideTransaction: {
          skipIf: `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(${quoteLiteral(copySql)}) AND indisvalid)`,
          cleanupBeforeRetry: [`DROP INDEX CONCURRENTLY IF EXISTS ${copySql}`],
        },
      });
      indexRenames.push(`ALTER INDEX ${copySql} RENAME TO ${quoteIdent(index.name)}`);
      indexDrops.push(`DROP INDEX IF EXISTS ${copySql}`);
      asideIndexes.push({ original: index.name, aside: context.objectName(`oix${j}_${k}`), copy, schema: c.column.table.schema });
    }
  }
  const asideIndexesOf = (c: ColumnFacts) => asideIndexes.filter((x) => c.column.indexes.some((i) => i.name === x.original) && x.schema === c.column.table.schema);
  // The rows written after the swap get the old column's value too (the inverse mapping), so a
  // rollback after completion renames back instead of copying data. A value the old type cannot
  // hold (in maintenance mode an `add` value, which only online is added to it for the window; or
  // one a later run brings) leaves the old column NULL and never fails the write: a rollback after
  // completion then refuses, naming it.
  const reverseBody = (col: string, aside: string) =>
    `DECLARE bw_old text := ${toExisted ? `NEW.${col}::text` : `CASE NEW.${col}::text WHEN ${quoteLiteral(input.to)} THEN ${quoteLiteral(input.from)} ELSE NEW.${col}::text END`};
BEGIN
  NEW.${aside} := CASE WHEN bw_old = ANY (enum_range(NULL::${asideType})::text[]) THEN bw_old::${asideType} END;
  RETURN NEW;
END`;
  const unrepresentable = facts.finalValues.filter((v) => !facts.oldValues.includes(v) && !intermediate.includes(v) && v !== input.to);
  const swapLabel = `swap ${facts.columns.length} column(s) and the type by rename${setsAside ? ", the old ones set aside" : ""}${views.length ? `, ${views.length} view(s) created again` : ""}`;
  contract.push({
    label: swapLabel,
    lock: { tables, mode: "ACCESS EXCLUSIVE" },
    commitPoint: true,
    statements: [
      // The views over the old columns and type go first (set aside, those would follow them), and
      // come back over the new ones at the end.
      ...dropViews(views),
      ...names.flatMap(({ c, trigger, fn, notNull, counter, reverse, reverseFn }) => {
        const t = quoteTable(c.column.table);
        const col = quoteIdent(c.column.column);
        const def = mappedDefault(c, newType);
        return [
          `DROP TRIGGER ${quoteIdent(trigger)} ON ${t}`,
          `DROP FUNCTION ${fn}()`,
          ...(online ? [`DROP TRIGGER ${quoteIdent(counter)} ON ${t}`] : []),
          ...(setsAside ?
            [
              ...asideIndexesOf(c).map((x) => `ALTER INDEX ${quoteQualified(x.schema, x.original)} RENAME TO ${quoteIdent(x.aside)}`),
              `ALTER TABLE ${t} RENAME COLUMN ${col} TO ${quoteIdent(c.aside)}`,
              // The reverse trigger fills it on every insert; NULL where the old type lacks the value.
              ...(c.defaultLabel === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(c.aside)} DROP DEFAULT`]),
              ...(c.column.notNull ? [`ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(c.aside)} DROP NOT NULL`] : []),
            ]
          : [`ALTER TABLE ${t} DROP COLUMN ${col}`]),
          `ALTER TABLE ${t} RENAME COLUMN ${quoteIdent(c.shadow)} TO ${col}`,
          ...(def === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${col} SET DEFAULT ${def}`]),
          ...(c.column.notNull ? [`ALTER TABLE ${t} ALTER COLUMN ${col} SET NOT NULL`, `ALTER TABLE ${t} DROP CONSTRAINT ${quoteIdent(notNull)}`] : []),
          ...(setsAside ?
            [
              `CREATE FUNCTION ${reverseFn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS ${dollarQuoted(reverseBody(col, quoteIdent(c.aside)))}`,
              `CREATE TRIGGER ${quoteIdent(reverse)} BEFORE INSERT OR UPDATE OF ${col} ON ${t} FOR EACH ROW EXECUTE FUNCTION ${reverseFn}()`,
            ]
          : []),
        ];
      }),
      ...indexRenames,
      ...(online ? [`DROP FUNCTION ${countFn}()`, `DROP SEQUENCE ${oldWrites}`] : []),
      ...(setsAside ?
        [
          `ALTER TYPE ${oldType} RENAME TO ${quoteIdent(facts.asideType)}`,
          `ALTER TYPE ${quoteQualified(input.schema, facts.asideType)} SET SCHEMA breakwater`,
          `ALTER TYPE ${newType} RENAME TO ${quoteIdent(input.enum)}`,
        ]
      : swapTypes),
      ...createViews(views, "mapped"),
    ],
  });
  contract.push({ label: "refresh planner statistics (ANALYZE)", statements: tables.map((t) => `ANALYZE ${quoteTable(t)}`) });

  const rollback: Action[] = [
    {
      label: "drop the shadow columns, triggers and the new type",
      lock: { tables, mode: "ACCESS EXCLUSIVE" },
      statements: [
        ...names.flatMap(({ c, trigger, fn, notNull, counter }) => {
          const t = quoteTable(c.column.table);
          return [
            `DROP TRIGGER IF EXISTS ${quoteIdent(trigger)} ON ${t}`,
            `DROP FUNCTION IF EXISTS ${fn}()`,
            ...(online ? [`DROP TRIGGER IF EXISTS ${quoteIdent(counter)} ON ${t}`] : []),
            // The default the window gave new rows, back to the original (the type keeps the value: PostgreSQL cannot remove one).
            ...(online && c.defaultLabel === input.from ?
              [`ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(c.column.column)} SET DEFAULT ${quoteLiteral(input.from)}::${oldType}`]
            : []),
            `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${quoteIdent(notNull)}`,
            `ALTER TABLE ${t} DROP COLUMN IF EXISTS ${quoteIdent(c.shadow)}`,
          ];
        }),
        ...(online ? [`DROP FUNCTION IF EXISTS ${countFn}()`, `DROP SEQUENCE IF EXISTS ${oldWrites}`] : []),
        ...indexDrops,
        `DROP TYPE IF EXISTS ${newType}`,
      ],
    },
  ];
  const notes = ["columns swapped by rename move to the end of the table's column order"];
  const materialized = views.filter((v) => v.materialized && v.populated);
  if (materialized.length > 0) {
    notes.push(
      `the swap runs the query of ${materialized.map((v) => `${v.schema}.${v.name}`).join(", ")} again (materialized view${materialized.length > 1 ? "s" : ""} created again WITH DATA) while it holds its lock; so does a rollback after completion`,
    );
  }
  if (!setsAside) {
    return {
      summary,
      expand,
      snapshots,
      measures,
      transforms,
      checks: shadowChecks,
      prepare,
      contract,
      finalChecks,
      rollback,
      rollbackAfterContract,
      changes,
      notes,
    };
  }
  // After completion: rename back (catalog only, one short exclusive lock), then drop the new
  // column and type. Rows written since hold the old column's value through the reverse trigger;
  // where it could not (a value the old type lacks), the rollback refuses before changing anything.
  const guards: Action[] = [
    {
      label: `check that the column${names.length > 1 ? "s" : ""} set aside hold every row's value`,
      statements: names.map(({ c }) => {
        const t = quoteTable(c.column.table);
        const lost = `${quoteIdent(c.aside)} IS NULL AND ${quoteIdent(c.column.column)} IS NOT NULL`;
        // 22P02, which the runner reports as rows the old schema cannot hold (BW_ROLLBACK_CONFLICT).
        return plpgsqlBlock(
          `SELECT count(*), min(${quoteIdent(c.column.column)}::text) INTO bw_n, bw_value FROM ${t} WHERE ${lost};
           IF bw_n > 0 THEN
             RAISE EXCEPTION USING ERRCODE = 'invalid_text_representation', MESSAGE = bw_n || ${quoteLiteral(` row(s) of ${displayTable(c.column.table)} hold a value of ${c.column.column} that ${input.enum} did not have before the run (e.g. `)} || bw_value || ')';
           END IF;`,
          "bw_n bigint; bw_value text;",
        );
      }),
    },
    ...names.flatMap(({ c, asideNotNull }) => (c.column.notNull ? proveNotNull(c.column.table, c.aside, asideNotNull) : [])),
  ];
  const renameBack: Action = {
    label: `rename the columns set aside and ${input.enum} back`,
    lock: { tables, mode: "ACCESS EXCLUSIVE" },
    statements: [
      ...dropViews(views),
      ...names.flatMap(({ c, reverse, reverseFn, asideNotNull }) => {
        const t = quoteTable(c.column.table);
        const col = quoteIdent(c.column.column);
        const mine = asideIndexesOf(c);
        return [
          `DROP TRIGGER IF EXISTS ${quoteIdent(reverse)} ON ${t}`,
          `DROP FUNCTION IF EXISTS ${reverseFn}()`,
          ...mine.map((x) => `ALTER INDEX ${quoteQualified(x.schema, x.original)} RENAME TO ${quoteIdent(x.copy)}`),
          `ALTER TABLE ${t} RENAME COLUMN ${col} TO ${quoteIdent(c.shadow)}`,
          `ALTER TABLE ${t} RENAME COLUMN ${quoteIdent(c.aside)} TO ${col}`,
          ...(c.column.notNull ? [`ALTER TABLE ${t} ALTER COLUMN ${col} SET NOT NULL`, `ALTER TABLE ${t} DROP CONSTRAINT ${quoteIdent(asideNotNull)}`] : []),
          ...mine.map((x) => `ALTER INDEX ${quoteQualified(x.schema, x.aside)} RENAME TO ${quoteIdent(x.original)}`),
        ];
      }),
      `ALTER TYPE ${oldType} RENAME TO ${quoteIdent(facts.newType)}`,
      `ALTER TYPE ${asideType} SET SCHEMA ${quoteIdent(input.schema)}`,
      `ALTER TYPE ${quoteQualified(input.schema, facts.asideType)} RENAME TO ${quoteIdent(input.enum)}`,
      ...names.flatMap(({ c }) =>
        c.defaultLabel === null ?
          []
        : [`ALTER TABLE ${quoteTable(c.column.table)} ALTER COLUMN ${quoteIdent(c.column.column)} SET DEFAULT ${quoteLiteral(c.defaultLabel)}::${oldType}`],
      ),
      ...names.map(({ c }) => `ALTER TABLE ${quoteTable(c.column.table)} DROP COLUMN ${quoteIdent(c.shadow)}`),
      `DROP TYPE ${newType}`,
      ...createViews(views, "original"),
    ],
  };
  return {
    summary,
    expand,
    snapshots,
    measures,
    transforms,
    checks: shadowChecks,
    prepare,
    contract,
    finalChecks,
    rollback,
    rollbackAfterContract: [...guards, renameBack],
    changes,
    notes: [
      ...notes,
      `the old column${names.length > 1 ? "s" : ""} (${names.map(({ c }) => c.aside).join(", ")}) and type (breakwater.${facts.asideType}) stay, kept filled, until \`breakwater cleanup\`; a rollback after completion renames them back`,
      ...(intermediate.length ? [`${intermediate.join(", ")} stay in ${input.enum} after a rollback (PostgreSQL cannot remove an enum value)`] : []),
      ...(unrepresentable.length ?
        [`rows written after completion with ${unrepresentable.join(", ")} (not in ${input.enum} before the run) make a rollback after completion refuse until they change`]
      : []),
    ],
    ...(online ?
      { oldFormWrites: { sequence: oldWrites, what: `${input.from} to ${names.map(({ c }) => `${displayTable(c.column.table)}.${c.column.column}`).join(", ")}` } }
    : {}),
    cleanup: [
      {
        label: `drop the old column${names.length > 1 ? "s" : ""} and type set aside`,
        lock: { tables, mode: "ACCESS EXCLUSIVE" },
        statements: [
          ...names.flatMap(({ c, reverse, reverseFn }) => [
            `DROP TRIGGER IF EXISTS ${quoteIdent(reverse)} ON ${quoteTable(c.column.table)}`,
            `DROP FUNCTION IF EXISTS ${reverseFn}()`,
            `ALTER TABLE ${quoteTable(c.column.table)} DROP COLUMN IF EXISTS ${quoteIdent(c.aside)}`,
          ]),
          `DROP TYPE IF EXISTS ${asideType}`,
        ],
      },
    ],
  };
}

/** SET NOT NULL skips its table scan when a valid CHECK (col IS NOT NULL) exists (PostgreSQL ≥ 12); VALIDATE scans under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on. */
function proveNotNull(table: TableRef, column: string, check: string): Action[] {
  const t = quoteTable(table);
  return [
    {
      label: `prove ${displayTable(table)}.${column} is never NULL (CHECK NOT VALID)`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [`ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(check)} CHECK (${quoteIdent(column)} IS NOT NULL) NOT VALID`],
    },
    {
      label: `validate that check without blocking writes`,
      lock: { tables: [table], mode: "SHARE UPDATE EXCLUSIVE" },
      statements: [`ALTER TABLE ${t} VALIDATE CONSTRAINT ${quoteIdent(check)}`],
    },
  ];
}

const viewKind = (view: CarriedView) => (view.materialized ? "MATERIALIZED VIEW" : "VIEW");

/**
 * The views, last created first (a view built on another goes before it). The swap holds its
 * tables already, and a query of a view locks the view, then its tables: one waiting for a table
 * while holding the view would deadlock with the swap waiting for the view, and PostgreSQL ends
 * whichever waited deadlock_timeout (1 s) first, the application's query most likely (40P01). So
 * the swap waits at most 50 ms for a view, gives up first (55P03), and is tried again.
 */
function dropViews(views: CarriedView[]): string[] {
  if (views.length === 0) return [];
  return [
    plpgsqlBlock(
      `IF current_setting('lock_timeout')::interval = '0' OR current_setting('lock_timeout')::interval > '50ms' THEN PERFORM set_config('lock_timeout', '50ms', true); END IF;`,
    ),
    ...views.toReversed().map((v) => `DROP ${viewKind(v)} ${quoteQualified(v.schema, v.name)}`),
  ];
}

/**
 * The views again, as they were (`original`) or with the value's literals mapped: options,
 * tablespace, a materialized view's rows and indexes, owner, privileges and comments.
 */
function createViews(views: CarriedView[], as: "original" | "mapped"): string[] {
  return views.flatMap((v) => {
    const name = quoteQualified(v.schema, v.name);
    const options = v.options.map((o) => `${quoteIdent(o.slice(0, o.indexOf("=")))} = ${quoteLiteral(o.slice(o.indexOf("=") + 1))}`);
    const withOptions = options.length > 0 ? ` WITH (${options.join(", ")})` : "";
    const definition = as === "mapped" ? v.mapped : v.definition;
    const grantee = (role: string | null) => (role === null ? "PUBLIC" : quoteIdent(role));
    return [
      v.materialized ?
        `CREATE MATERIALIZED VIEW ${name}${withOptions}${v.tablespace ? ` TABLESPACE ${quoteIdent(v.tablespace)}` : ""} AS ${definition} WITH ${v.populated ? "" : "NO "}DATA`
      : `CREATE VIEW ${name}${withOptions} AS ${definition}`,
      ...v.indexes.map((i) => (as === "mapped" ? i.mapped : i.definition)),
      `ALTER ${viewKind(v)} ${name} OWNER TO ${quoteIdent(v.owner)}`,
      // Privileges exactly as they were: none but those listed, the owner's own included.
      ...(v.grants === null ?
        []
      : [
          `REVOKE ALL ON ${name} FROM PUBLIC, ${quoteIdent(v.owner)}`,
          ...v.grants.map((g) => `GRANT ${g.privilege} ON ${name} TO ${grantee(g.grantee)}${g.grantable ? " WITH GRANT OPTION" : ""}`),
        ]),
      ...(v.comment === null ? [] : [`COMMENT ON ${viewKind(v)} ${name} IS ${quoteLiteral(v.comment)}`]),
      ...v.columnComments.map((c) => `COMMENT ON COLUMN ${name}.${quoteIdent(c.column)} IS ${quoteLiteral(c.comment)}`),
    ];
  });
}

/** A definition from pg_get_indexdef built CONCURRENTLY under another name (quoted). */
function buildConcurrentlyAs(definition: string, copyName: string): string {
  const match = /^CREATE (UNIQUE )?INDEX (?:"(?:[^"]|"")+"|\S+) ON /.exec(definition);
  if (!match) throw preflightError(`Cannot rebuild the index: ${definition}`);
  return `CREATE ${match[1] ?? ""}INDEX CONCURRENTLY ${copyName} ON ${definition.slice(match[0].length)}`;
}

/** `CREATE INDEX name ON t USING btree (role)` → `CREATE INDEX CONCURRENTLY copy ON t USING btree (role__bw)`; copyName is quoted. */
export function rewriteIndexDefinition(definition: string, columnAsPrinted: string, shadow: string, copyName: string): string {
  const match = /^CREATE (UNIQUE )?INDEX (?:"(?:[^"]|"")+"|\S+) ON (.*? USING \w+ )(\(.*)$/s.exec(definition);
  if (!match) throw preflightError(`Cannot rebuild the index: ${definition}`);
  const columns = match[3]!.replace(new RegExp(`(?<=[(,\\s])${quoteRegExp(columnAsPrinted)}(?=[\\s,)])`, "g"), quoteIdent(shadow));
  return `CREATE ${match[1] ?? ""}INDEX CONCURRENTLY ${copyName} ON ${match[2]}${columns}`;
}

function sameTable(a: TableRef, b: TableRef): boolean {
  return a.schema === b.schema && a.name === b.name;
}

function uniqueTables(tables: TableRef[]): TableRef[] {
  const result: TableRef[] = [];
  for (const t of tables) if (!result.some((r) => sameTable(r, t))) result.push(t);
  return result;
}

export const renameEnumValueOperation: Operation<Input, Facts, "renameEnumValue"> = {
  kind: "renameEnumValue",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `rename ${input.enum}.${input.from} → ${input.to}${input.add.length ? ` (+ ${input.add.join(", ")})` : ""}`,
  inspect,
  plan,
  onlineRefusal: (input) => {
    if (input.contract === "typeSwap") return 'contract "typeSwap" rewrites every table using the enum under ACCESS EXCLUSIVE; online uses "shadow" (the default) or "renameValue"';
    if (!input.appReadsNewValues) {
      return `the application reads rows holding ${input.to} while the run goes on: deploy an application built from a schema holding both ${input.from} and ${input.to}, then set \`appReadsNewValues: true\``;
    }
    return null;
  },
};
