// addColumn: a column added (Prisma: a new field), ending in the column Prisma's own migration
// adds, in maintenance mode and online alike.
// - instant: no default, or a default PostgreSQL evaluates once (a constant, now()): ADD COLUMN
//   is catalog only (PostgreSQL ≥ 11 keeps the value as the rows' "missing" value), one short lock.
// - fill: a volatile default (gen_random_uuid(), clock_timestamp()) would rewrite the table under
//   ACCESS EXCLUSIVE. Instead the column is added without it, the default set for new rows, the
//   existing rows filled in keyset batches with the expression, and NOT NULL proven by a
//   validated CHECK before SET NOT NULL.
// PostgreSQL decides which: the change is tried on an empty copy of the table first. The
// application does not know the column yet, so online needs nothing more. A rollback, before or
// after the contract, drops the column: it holds only values the run or the application generated.
import { z } from "zod";
import type { Database } from "@breakwater/runtime/internal";
import { checkTypeName, probeColumnChange, ProbeFailure } from "../db/column-probe.ts";
import { primaryKey, type KeyColumn } from "../db/catalog.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteTable } from "../db/quote.ts";
import { checkExpression, embedExpression } from "../db/sql-fragments.ts";
import { relationKind, tableObjects } from "../db/table-objects.ts";
import { fitsName, identifier, preflightError, tableInput, toTableRef } from "./common.ts";
import { emptyPlan, type Action, type Operation, type OperationPlan, type PlanContext, type Proof, type SchemaAccepts } from "./types.ts";

const inputSchema = z
  .object({
    op: z.literal("addColumn"),
    table: tableInput,
    column: identifier,
    /** SQL type, e.g. "uuid", "timestamp(3)", "text" */
    type: z.string().min(1).max(200),
    /** SQL expression, e.g. "gen_random_uuid()", "now()", "'active'" */
    default: z.string().min(1).optional(),
    notNull: z.boolean().default(false),
  })
  .strict();

type _Accepts = Proof<SchemaAccepts<"addColumn", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;

interface Facts {
  /** the table's oid: the final checks find it by it after a later step renamed it */
  tableOid: number;
  strategy: "instant" | "fill";
  /** format_type() as the session prints it */
  typeName: string;
  /** the type with every name outside pg_catalog qualified */
  typeSql: string;
  /** fill: the key the batches walk */
  key: KeyColumn[];
}

function label(input: Input): string {
  return `${displayTable(toTableRef(input.table))}.${input.column}`;
}

async function inspect(db: Database, input: Input): Promise<Facts> {
  const table = toTableRef(input.table);
  const where = label(input);
  // Parsed before anything touches the database: a type name, one expression, nothing after a `;`.
  await checkTypeName(input.type, `addColumn ${where}: \`type\``);
  if (input.default !== undefined) await checkExpression(input.default, `addColumn ${where}: \`default\``);
  if (!fitsName(input.column)) throw preflightError(`The column name ${input.column} is longer than 63 bytes.`);
  const objects = await tableObjects(db, table);
  if (!objects) {
    const kind = await relationKind(db, table);
    throw preflightError(
      kind === null ? `Table ${displayTable(table)} does not exist.` : `${displayTable(table)} is not a table (relkind ${kind}).`,
      "Names are case-sensitive; give { schema, name } for a table outside public.",
    );
  }
  if (objects.table.isPartition)
    throw preflightError(`${displayTable(table)} is a partition; its columns are its partitioned table's.`, "Add the column to the partitioned table.");
  if (objects.columns.some((c) => c.name === input.column)) throw preflightError(`Table ${displayTable(table)} already has a column ${input.column}.`);
  let probe;
  try {
    probe = await probeColumnChange(
      db,
      table,
      input.column,
      (copy) => `ALTER TABLE ${copy} ADD COLUMN ${quoteIdent(input.column)} ${input.type}\n${input.default === undefined ? "" : ` DEFAULT ${embedExpression(input.default)}`}`,
    );
  } catch (error) {
    if (!(error instanceof ProbeFailure)) throw error;
    throw preflightError(
      `${where} cannot be added as ${input.type}${input.default ? ` DEFAULT ${input.default}` : ""}: ${error.message}.`,
      "Check `type` and `default` in the plan.",
    );
  }
  const base = { tableOid: objects.table.oid, typeName: probe.after.typeName, typeSql: probe.after.typeSql, key: [] as KeyColumn[] };
  if (input.notNull && input.default === undefined) {
    const rows = await db.one<{ any: boolean }>(`SELECT EXISTS (SELECT FROM ${quoteTable(table)}) AS any`);
    if (rows.any) {
      throw preflightError(
        `${where} cannot be added NOT NULL without a default: the rows of ${displayTable(table)} would hold NULL (Prisma's own migration fails the same way).`,
        'Give `default` (e.g. default: "\'unknown\'" or "gen_random_uuid()"), or add it nullable and fill it with a backfill and a setNotNull step.',
      );
    }
  }
  if (!probe.rewrites) return { ...base, strategy: "instant" };
  const key = await primaryKey(db, table);
  if (key.length === 0) {
    throw preflightError(
      `The default ${input.default} of ${where} is volatile: it is evaluated for each row, which breakwater does in batches along the primary key, and ${displayTable(table)} has none.`,
      "Add a primary key first, or use a default PostgreSQL evaluates once (a constant).",
    );
  }
  return { ...base, strategy: "fill", key };
}

function plan(input: Input, facts: Facts, context: PlanContext): OperationPlan {
  const result = emptyPlan();
  const table = toTableRef(input.table);
  const t = quoteTable(table);
  const col = quoteIdent(input.column);
  const where = label(input);
  const definition = `${facts.typeName}${input.notNull ? " NOT NULL" : ""}${input.default === undefined ? "" : ` DEFAULT ${input.default}`}`;
  const notNull = context.objectName("nn");
  result.finalChecks.push({
    name: `${where} is ${facts.typeName}${input.notNull ? " NOT NULL" : ""}`,
    sql: `SELECT format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END FROM pg_attribute WHERE attrelid = ${facts.tableOid} AND attname = ${quoteLiteral(input.column)} AND NOT attisdropped`,
    expect: { equals: `${facts.typeName}${input.notNull ? " NOT NULL" : ""}` },
  });
  // The column is new: dropping it gives back the table as it was (with whatever was written to it since).
  const drop: Action = {
    label: `drop ${where}`,
    lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
    statements: [`ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${quoteIdent(notNull)}`, `ALTER TABLE ${t} DROP COLUMN IF EXISTS ${col}`],
  };
  result.rollback = [drop];
  result.rollbackAfterContract = [drop];
  result.notes.push(`a rollback, before or after the contract, drops ${where} with every value in it (the run generated them, or the application wrote them since)`);
  // In the expand: the application does not know the column yet, and later steps of the plan may use it.
  if (facts.strategy === "instant") {
    // Catalog only, one short lock, a column the application does not know yet: no maintenance mode.
    result.needsMaintenance = false;
    result.summary.push(
      `add ${where} ${definition}: catalog only${input.default === undefined ? "" : " (the default is evaluated once; existing rows read it without being written)"}`,
    );
    result.expand.push({
      label: `add ${where} ${definition} (catalog only)`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [
        `ALTER TABLE ${t} ADD COLUMN ${col} ${facts.typeSql}${input.notNull ? " NOT NULL" : ""}${input.default === undefined ? "" : ` DEFAULT ${embedExpression(input.default)}`}`,
      ],
    });
    return result;
  }
  const value = embedExpression(input.default!);
  result.summary.push(
    `add ${where} ${definition}: the default is volatile (a plain ADD COLUMN would rewrite the table under ACCESS EXCLUSIVE), so the existing rows are filled in batches${input.notNull ? ", then NOT NULL is proven by a validated check" : ""}`,
  );
  result.expand.push({
    label: `add ${where} (${facts.typeName}) without rewriting the table; new rows get ${input.default}`,
    lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
    statements: [`ALTER TABLE ${t} ADD COLUMN ${col} ${facts.typeSql}`, `ALTER TABLE ${t} ALTER COLUMN ${col} SET DEFAULT ${value}`],
  });
  const toFill = `${where}:to fill`;
  result.measures.push({ name: toFill, label: `rows of ${displayTable(table)} to fill`, sql: `SELECT count(*) FROM ${t} WHERE ${col} IS NULL` });
  result.changes.push({ label: `${where} filled with ${input.default}`, measure: toFill });
  result.transforms.push({
    label: `fill ${where} with ${input.default}`,
    table,
    key: facts.key,
    set: `${col} = ${value}`,
    // Rows inserted since the expand have their value from the default; a re-run fills only what is left.
    where: `${col} IS NULL`,
    windowOverAllRows: true,
  });
  if (!input.notNull) return result;
  result.checks.push({ name: `every row of ${displayTable(table)} has ${input.column}`, sql: `SELECT count(*) FROM ${t} WHERE ${col} IS NULL`, expect: { equals: 0 } });
  // SET NOT NULL skips its scan when a valid CHECK (col IS NOT NULL) exists (PostgreSQL ≥ 12);
  // VALIDATE scans under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on.
  result.contract.push(
    {
      label: `prove ${where} is never NULL (CHECK NOT VALID)`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [`ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(notNull)} CHECK (${col} IS NOT NULL) NOT VALID`],
    },
    {
      label: "validate that check without blocking writes",
      lock: { tables: [table], mode: "SHARE UPDATE EXCLUSIVE" },
      statements: [`ALTER TABLE ${t} VALIDATE CONSTRAINT ${quoteIdent(notNull)}`],
    },
    {
      label: `SET NOT NULL on ${where} (no scan: the check proves it) and drop the check`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      commitPoint: true,
      statements: [`ALTER TABLE ${t} ALTER COLUMN ${col} SET NOT NULL`, `ALTER TABLE ${t} DROP CONSTRAINT ${quoteIdent(notNull)}`],
    },
  );
  return result;
}

export const addColumnOperation: Operation<Input, Facts, "addColumn"> = {
  kind: "addColumn",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `add column ${label(input)} ${input.type}${input.notNull ? " NOT NULL" : ""}${input.default === undefined ? "" : ` DEFAULT ${input.default}`}`,
  inspect,
  plan,
  onlineRefusal: () => null,
};
