// backfill: a data transform `UPDATE table SET … WHERE …` run in keyset batches, with a snapshot
// of exactly the rows and columns it changes, so a rollback restores them in place.
import { z } from "zod";
import { columnNames, hasUserDefinedType, primaryKey, tableExists } from "../db/catalog.ts";
import { isConnectionLoss, sqlErrorInfo } from "@breakwater/runtime/internal/errors";
import { displayTable, quoteIdent, quoteTable, type TableRef } from "../db/quote.ts";
import { checkExpression, embedExpression } from "../db/sql-fragments.ts";
import { identifier, preflightError, tableInput, toTableRef } from "./common.ts";
import { emptyPlan, type Operation, type Proof, type SchemaAccepts } from "./types.ts";
import type { KeyColumn } from "../db/catalog.ts";

const inputSchema = z
  .object({
    op: z.literal("backfill"),
    table: tableInput,
    /** column → SQL expression, e.g. `{ role: "'EMPLOYEE'" }` */
    set: z.record(identifier, z.string().min(1)).refine((s) => Object.keys(s).length > 0, "`set` needs at least one column"),
    /** SQL predicate choosing the rows, e.g. `"role" = 'USER'` */
    where: z.string().min(1).optional(),
  })
  .strict();

type _Accepts = Proof<SchemaAccepts<"backfill", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;
interface Facts {
  key: KeyColumn[];
  /** snapshot values as text: a later migration may replace the column's type (an enum swap), and the snapshot must not hold it */
  asText?: boolean;
}

export const backfillOperation: Operation<Input, Facts, "backfill"> = {
  kind: "backfill",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `backfill ${displayTable(toTableRef(input.table))} (${Object.keys(input.set).join(", ")})`,
  async inspect(db, input) {
    const table = toTableRef(input.table);
    const what = `backfill of ${displayTable(table)}`;
    // Parsed before anything touches the database: one expression each, nothing after a `;`.
    for (const [column, expression] of Object.entries(input.set)) await checkExpression(expression, `${what}: \`set.${column}\``);
    if (input.where !== undefined) await checkExpression(input.where, `${what}: \`where\``);
    if (!(await tableExists(db, table)))
      throw preflightError(`Table ${displayTable(table)} does not exist.`, "Names are case-sensitive; give { schema, name } for a table outside public.");
    const columns = await columnNames(db, table);
    const missing = Object.keys(input.set).filter((c) => !columns.includes(c));
    if (missing.length > 0) throw preflightError(`Table ${displayTable(table)} has no column ${missing.join(", ")}.`);
    const key = await primaryKey(db, table);
    if (key.length === 0) throw preflightError(`Table ${displayTable(table)} has no primary key; breakwater needs one to batch, snapshot and resume.`, "Add a primary key first.");
    // Batches walk the primary key: a row whose key moves ahead of the cursor would be met again, without end.
    const movedKey = key.filter((k) => k.name in input.set).map((k) => k.name);
    if (movedKey.length > 0) {
      throw preflightError(
        `The ${what} sets ${movedKey.join(", ")}, the key its batches walk; a row moved ahead of the batches would be updated again and again.`,
        "Change primary key values with a `sql` step, or copy the rows into a new table.",
      );
    }
    const asText = await hasUserDefinedType(db, table, Object.keys(input.set));
    // Prove the expressions and predicate are valid SQL for this table before anything changes,
    // in a read-only transaction that is rolled back: planning may run functions (constant folding).
    try {
      await db.readOnly((tx) => tx.query(`EXPLAIN ${updateStatement(table, input)}`));
    } catch (error) {
      // A lost connection says nothing about the plan: the runner reconnects and runs preflight again.
      if (isConnectionLoss(error)) throw error;
      // A value an earlier step of the plan creates (an enum value) is not known yet (22P02): fine.
      if (sqlErrorInfo(error).sqlstate?.startsWith("22")) return { key, asText };
      throw preflightError(`The ${what} is not valid SQL: ${(error as Error).message}`, "Check `set` and `where` in the plan.");
    }
    return { key, asText };
  },
  plan(input, facts, context) {
    const table = toTableRef(input.table);
    const plan = emptyPlan();
    const columns = Object.keys(input.set);
    const where = input.where === undefined ? null : embedExpression(input.where);
    plan.summary.push(`backfill ${displayTable(table)}: ${columns.join(", ")}${input.where ? ` where ${input.where}` : ""}`);
    plan.snapshots.push({ into: context.snapshotTable(0), table, key: facts.key, columns, where, restoreOnRollback: true, ...(facts.asText ? { asText: true } : {}) });
    plan.measures.push({
      name: `${displayTable(table)}:matching`,
      label: `rows of ${displayTable(table)} to backfill`,
      sql: `SELECT count(*) FROM ${quoteTable(table)}${where ? ` WHERE ${where}` : ""}`,
    });
    plan.changes.push({ label: `${displayTable(table)}: ${columns.join(", ")}`, measure: `${displayTable(table)}:matching` });
    plan.transforms.push({ label: `backfill ${displayTable(table)}`, table, key: facts.key, set: assignments(input), where });
    return plan;
  },
  // Its rollback writes the snapshot back over the rows, which would undo what the application wrote meanwhile.
  onlineRefusal: () =>
    "a backfill writes the column the application reads and writes, and its rollback puts the snapshot back over the application's later writes; use an operation that fills a new column beside the old one",
};

/** `"a" = (expr), "b" = (expr)`: each expression already checked by checkExpression. */
function assignments(input: Input): string {
  return Object.entries(input.set)
    .map(([c, e]) => `${quoteIdent(c)} = ${embedExpression(e)}`)
    .join(", ");
}

function updateStatement(table: TableRef, input: Input): string {
  return `UPDATE ${quoteTable(table)} SET ${assignments(input)}${input.where === undefined ? "" : ` WHERE ${embedExpression(input.where)}`}`;
}
