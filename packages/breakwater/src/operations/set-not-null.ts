// setNotNull: ALTER COLUMN … SET NOT NULL without scanning the table under ACCESS EXCLUSIVE, in
// maintenance mode and online alike:
// - expand: triggers refuse every write that would leave a new NULL (23502, the error the column
//   gives afterwards), while updates of other columns of rows not yet filled go on (a CHECK would
//   refuse those too); with `fill`, the keys of the rows still holding NULL are recorded in the
//   breakwater schema with the value each will get (the fill evaluated once per row).
// - transform: those rows get their value in keyset batches (rows the application filled
//   meanwhile are left as they are).
// - contract: CHECK (col IS NOT NULL) NOT VALID (a brief lock), VALIDATE CONSTRAINT (SHARE UPDATE
//   EXCLUSIVE: reads and writes go on), then one short transaction: SET NOT NULL, which skips its
//   scan thanks to the validated check (PostgreSQL ≥ 12), and the check and triggers dropped.
// Rollback (before or after the contract) sets back to NULL exactly the recorded rows that still
// hold the value breakwater wrote: no copy of data the application may change is ever needed, so
// the same holds online and after completion. Without `fill`, NULL rows are refused at preflight:
// `fill` takes any SQL expression of the row, so it does whatever a backfill of those rows would.
import { z } from "zod";
import { isConnectionLoss, sqlErrorInfo } from "@breakwater/runtime/internal/errors";
import { primaryKey, type KeyColumn } from "../db/catalog.ts";
import { describeTable } from "../db/relations.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteQualified, quoteTable, type TableRef } from "../db/quote.ts";
import { checkExpression, embedExpression } from "../db/sql-fragments.ts";
import { identifier, preflightError, tableInput, toTableRef } from "./common.ts";
import { emptyPlan, type Action, type Operation, type PlanContext, type Proof, type SchemaAccepts } from "./types.ts";

const inputSchema = z
  .object({
    op: z.literal("setNotNull"),
    table: tableInput,
    column: identifier,
    fill: z.string().min(1).optional(),
  })
  .strict();

type _Accepts = Proof<SchemaAccepts<"setNotNull", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;

interface Facts {
  /** the column is NOT NULL already: nothing to do */
  already: boolean;
  /** rows holding NULL at preflight */
  nullRows: number;
  /** format_type() of the column */
  type: string;
  /** the recorded fill values are kept as text: a later step may replace the column's type (an enum swap) */
  asText: boolean;
  key: KeyColumn[];
  /** the name of the check proving NOT NULL, and of the triggers and function refusing new NULLs; all dropped at the contract */
  check: string;
}

function label(input: Input): string {
  return `${displayTable(toTableRef(input.table))}.${input.column}`;
}

/**
 * VALIDATE CONSTRAINT; when NULLs remain (23514: written before the triggers refused them), the same
 * error with their count and the query listing them. One plain literal, so no name can end it.
 */
function validateStatement(input: Input, check: string): string {
  const table = quoteTable(toTableRef(input.table));
  const isNull = `${quoteIdent(input.column)} IS NULL`;
  const message = ` rows of ${displayTable(toTableRef(input.table))} hold NULL in ${input.column}, so it cannot become NOT NULL${input.fill === undefined ? " (give `fill` for them)" : ""}. List them with: SELECT * FROM ${table} WHERE ${isNull}`;
  const body = `DECLARE nulls bigint;
BEGIN
  EXECUTE ${quoteLiteral(`ALTER TABLE ${table} VALIDATE CONSTRAINT ${quoteIdent(check)}`)};
EXCEPTION WHEN check_violation THEN
  SELECT count(*) INTO nulls FROM ${table} WHERE ${isNull};
  RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = nulls || ${quoteLiteral(message)};
END`;
  return `DO ${quoteLiteral(body)}`;
}

export const setNotNullOperation: Operation<Input, Facts, "setNotNull"> = {
  kind: "setNotNull",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `set ${label(input)} NOT NULL${input.fill ? ` (NULL rows get ${input.fill})` : ""}`,
  async inspect(db, input, context) {
    const table = toTableRef(input.table);
    if (input.fill !== undefined) await checkExpression(input.fill, `setNotNull of ${label(input)}: \`fill\``);
    const facts = await describeTable(db, table);
    if (!facts) throw preflightError(`Table ${displayTable(table)} does not exist.`, "Names are case-sensitive; give { schema, name } for a table outside public.");
    if (facts.kind !== "table" && facts.kind !== "partitioned table") throw preflightError(`${displayTable(table)} is a ${facts.kind}, not a table.`);
    const column = facts.columns.find((c) => c.name === input.column);
    if (!column) throw preflightError(`Table ${displayTable(table)} has no column ${input.column}.`);
    const check = context.objectName("notnull");
    const base = { type: column.type, asText: column.userDefinedType, key: [] as KeyColumn[], check };
    if (column.notNull) return { ...base, already: true, nullRows: 0 };
    const taken = await db.query("SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2", [quoteTable(table), check]);
    if (taken.rowCount > 0)
      throw preflightError(`${displayTable(table)} already has a constraint named ${check}.`, "It is left from another run: roll that run back, or drop the constraint.");
    const nulls = await db.one<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${quoteTable(table)} WHERE ${quoteIdent(input.column)} IS NULL`);
    const nullRows = Number(nulls.n);
    if (input.fill === undefined) {
      if (nullRows > 0) {
        throw preflightError(
          `${nullRows} rows of ${displayTable(table)} hold NULL in ${input.column}: it cannot become NOT NULL. List them with: SELECT * FROM ${quoteTable(table)} WHERE ${quoteIdent(input.column)} IS NULL`,
          'Give `fill`: an SQL expression of the row for the value they get, e.g. fill: "\'unknown\'" or fill: "now()".',
        );
      }
      return { ...base, already: false, nullRows };
    }
    const key = await primaryKey(db, table);
    if (key.length === 0)
      throw preflightError(`Table ${displayTable(table)} has no primary key; breakwater needs one to fill its rows in batches and to undo that.`, "Add a primary key first.");
    // Proves the fill is valid SQL of the column's type for this table, in a read-only transaction.
    try {
      await db.readOnly((tx) =>
        tx.query(`EXPLAIN SELECT CAST(${embedExpression(input.fill!)} AS ${column.type}) FROM ${quoteTable(table)} WHERE ${quoteIdent(input.column)} IS NULL`),
      );
    } catch (error) {
      if (isConnectionLoss(error)) throw error;
      // A value an earlier step of the plan creates (an enum value) is not known yet (22P02): fine.
      if (!sqlErrorInfo(error).sqlstate?.startsWith("22")) {
        throw preflightError(`The \`fill\` of ${label(input)} is not a valid value of its type (${column.type}): ${sqlErrorInfo(error).message}.`, "Check `fill` in the plan.");
      }
    }
    return { ...base, already: false, nullRows, key };
  },
  plan(input, facts, context) {
    const plan = emptyPlan();
    if (facts.already) {
      plan.summary.push(`${label(input)} is NOT NULL already: nothing to do`);
      return plan;
    }
    const table = toTableRef(input.table);
    const t = quoteTable(table);
    const col = quoteIdent(input.column);
    const check = quoteIdent(facts.check);
    const filled = input.fill !== undefined;
    plan.summary.push(
      `${label(input)} becomes NOT NULL${filled ? `; the ${facts.nullRows} rows holding NULL (at preflight) get ${input.fill}, in batches` : ""}`,
      "new NULLs are refused from the expand on (triggers); SET NOT NULL itself scans nothing (validated check)",
    );
    const guard = refuseNewNulls(input, facts);
    plan.expand.push(guard.create);
    plan.notes.push(
      `From the expand on, a write that would leave a new NULL in ${label(input)} fails (SQLSTATE 23502, as after the migration): the application must write a value by then. Updates of other columns of rows not yet filled go on.`,
    );
    const keys = context.snapshotTable(0);
    if (filled) planFill(plan, input, facts, context, keys);
    plan.contract.push(
      {
        label: `prove ${label(input)} holds no NULL: CHECK NOT VALID`,
        lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
        statements: [`ALTER TABLE ${t} ADD CONSTRAINT ${check} CHECK (${col} IS NOT NULL) NOT VALID`],
      },
      {
        label: `validate the check on ${label(input)} (reads and writes go on)`,
        lock: { tables: [table], mode: "SHARE UPDATE EXCLUSIVE" },
        statements: [validateStatement(input, facts.check)],
      },
      {
        label: `SET NOT NULL on ${label(input)} (no scan: the check proves it), drop the check and the triggers`,
        lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
        commitPoint: true,
        statements: [`ALTER TABLE ${t} ALTER COLUMN ${col} SET NOT NULL`, `ALTER TABLE ${t} DROP CONSTRAINT ${check}`, ...guard.drop],
      },
    );
    plan.finalChecks.push({
      name: `${label(input)} is NOT NULL`,
      sql: `SELECT attnotnull FROM pg_attribute WHERE attrelid = to_regclass(${quoteLiteral(t)}) AND attname = ${quoteLiteral(input.column)}`,
      expect: { equals: true },
    });
    const restore = filled ? restoreActions(input, facts, keys) : { guard: [], restore: [] };
    plan.rollback = [
      {
        label: `drop the triggers and the check on ${label(input)}`,
        lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
        statements: [...guard.drop, `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${check}`],
      },
      ...restore.restore,
    ];
    plan.rollbackAfterContract = [
      {
        label: `DROP NOT NULL on ${label(input)}`,
        lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
        statements: [...restore.guard, `ALTER TABLE ${t} ALTER COLUMN ${col} DROP NOT NULL`, `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${check}`, ...guard.drop],
      },
      ...restore.restore,
    ];
    return plan;
  },
  onlineRefusal: () => null,
};

/**
 * Two AFTER triggers (they see the row as every BEFORE trigger left it, as a constraint would), whose
 * WHEN clause keeps every other write free of any cost: an INSERT of a NULL, and an UPDATE that
 * turns a value into NULL. A row already NULL may be updated and stay NULL until it is filled.
 */
function refuseNewNulls(input: Input, facts: Facts): { create: Action; drop: string[] } {
  const table = toTableRef(input.table);
  const t = quoteTable(table);
  const col = quoteIdent(input.column);
  const fn = quoteQualified("breakwater", facts.check);
  const onInsert = quoteIdent(`${facts.check}_insert`);
  const onUpdate = quoteIdent(`${facts.check}_update`);
  const message = `null value in column ${JSON.stringify(input.column)} of relation ${JSON.stringify(table.name)} violates not-null constraint`;
  const raise = `BEGIN
  RAISE EXCEPTION USING ERRCODE = 'not_null_violation', MESSAGE = ${quoteLiteral(message)},
    DETAIL = 'A breakwater run is making the column NOT NULL.', SCHEMA = ${quoteLiteral(table.schema)}, TABLE = ${quoteLiteral(table.name)}, COLUMN = ${quoteLiteral(input.column)};
END`;
  return {
    create: {
      label: `refuse new NULLs in ${label(input)} (triggers)`,
      lock: { tables: [table], mode: "SHARE ROW EXCLUSIVE" },
      statements: [
        `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS ${quoteLiteral(raise)}`,
        `CREATE TRIGGER ${onInsert} AFTER INSERT ON ${t} FOR EACH ROW WHEN (NEW.${col} IS NULL) EXECUTE FUNCTION ${fn}()`,
        `CREATE TRIGGER ${onUpdate} AFTER UPDATE ON ${t} FOR EACH ROW WHEN (NEW.${col} IS NULL AND OLD.${col} IS NOT NULL) EXECUTE FUNCTION ${fn}()`,
      ],
    },
    drop: [`DROP TRIGGER IF EXISTS ${onInsert} ON ${t}`, `DROP TRIGGER IF EXISTS ${onUpdate} ON ${t}`, `DROP FUNCTION IF EXISTS ${fn}()`],
  };
}

/** The key list (with the value each row gets), its count, and the batches that write it. */
function planFill(plan: ReturnType<typeof emptyPlan>, input: Input, facts: Facts, context: PlanContext, keys: TableRef): void {
  const table = toTableRef(input.table);
  const t = quoteTable(table);
  const col = quoteIdent(input.column);
  const keyList = facts.key.map((k) => quoteIdent(k.name)).join(", ");
  const value = `CAST(${embedExpression(input.fill!)} AS ${facts.type})${facts.asText ? "::text" : ""}`;
  plan.expand.push({
    label: `record the keys of the rows of ${displayTable(table)} holding NULL in ${input.column}, with the value each gets`,
    // After the triggers: no row can become NULL any more, so the list holds every row the fill will write.
    statements: [
      `DROP TABLE IF EXISTS ${quoteTable(keys)}`,
      `CREATE TABLE ${quoteTable(keys)} AS SELECT ${keyList}, ${value} AS ${col} FROM ${t} WHERE ${col} IS NULL`,
      `ALTER TABLE ${quoteTable(keys)} ADD PRIMARY KEY (${keyList})`,
    ],
  });
  const measure = `${label(input)}:null`;
  plan.measures.push({ name: measure, label: `rows of ${displayTable(table)} holding NULL in ${input.column}`, sql: `SELECT count(*) FROM ${quoteTable(keys)}` });
  plan.changes.push({ label: `${label(input)}: NULL → ${input.fill}`, measure });
  const match = facts.key.map((k) => `bw_fill.${quoteIdent(k.name)} = ${t}.${quoteIdent(k.name)}`).join(" AND ");
  plan.transforms.push({
    label: `fill the NULLs of ${label(input)}`,
    table,
    key: facts.key,
    // The recorded value; a row the application filled meanwhile no longer matches the WHERE.
    set: `${col} = (SELECT bw_fill.${col}${facts.asText ? `::${facts.type}` : ""} FROM ${quoteTable(keys)} AS bw_fill WHERE ${match})`,
    where: `${col} IS NULL`,
    windowOverAllRows: true,
  });
  if (context.online) {
    plan.notes.push(
      `A rollback sets back to NULL only the rows that held NULL before the run and still hold the value breakwater wrote; a row the application changed keeps its value, unless it wrote that very value.`,
    );
  } else {
    plan.notes.push(
      `A rollback sets back to NULL only the rows that held NULL before the run and still hold the value breakwater wrote (a row changed after the run keeps its value).`,
    );
  }
  plan.notes.push(`${input.fill} is evaluated once per row, when the keys are recorded (now() is then one timestamp for every row, as in a single UPDATE).`);
}

/** Setting the recorded rows back to NULL, and (after completion) refusing first when `breakwater cleanup` removed the list. */
function restoreActions(input: Input, facts: Facts, keys: TableRef): { guard: string[]; restore: Action[] } {
  const table = toTableRef(input.table);
  const col = quoteIdent(input.column);
  const list = quoteLiteral(quoteTable(keys));
  const match = facts.key.map((k) => `bw_fill.${quoteIdent(k.name)} = bw_target.${quoteIdent(k.name)}`).join(" AND ");
  // Compared as text: every type has a text form, not every type an equality (json).
  const update = `UPDATE ${quoteTable(table)} AS bw_target SET ${col} = NULL FROM ${quoteTable(keys)} AS bw_fill WHERE ${match} AND bw_target.${col}::text = bw_fill.${col}::text`;
  const gone = `The list of the rows of ${displayTable(table)} that held NULL in ${input.column} (${keys.schema}.${keys.name}) was removed by breakwater cleanup: they can no longer be set back to NULL. Nothing was changed.`;
  return {
    guard: [
      `DO ${quoteLiteral(`BEGIN IF to_regclass(${list}) IS NULL THEN RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state', MESSAGE = ${quoteLiteral(gone)}; END IF; END`)}`,
    ],
    restore: [
      {
        label: `set back to NULL the rows of ${displayTable(table)} the fill wrote and nobody changed since`,
        // Before the list exists, nothing was filled.
        statements: [`DO ${quoteLiteral(`BEGIN IF to_regclass(${list}) IS NOT NULL THEN EXECUTE ${quoteLiteral(update)}; END IF; END`)}`],
      },
      { label: `drop the list of the rows that held NULL`, statements: [`DROP TABLE IF EXISTS ${quoteTable(keys)}`] },
    ],
  };
}
