// addForeignKey: a foreign key without a long lock, in maintenance mode and online alike.
// ADD CONSTRAINT … NOT VALID takes SHARE ROW EXCLUSIVE on both tables for a moment (under
// lock_timeout with retries) and checks every write from then on; VALIDATE CONSTRAINT then scans
// the existing rows under SHARE UPDATE EXCLUSIVE, while reads and writes go on. Rows referencing
// nothing make VALIDATE fail (23503): the error counts them and gives the query that lists them,
// and the rollback drops the constraint.
import { z } from "zod";
import { isConnectionLoss, sqlErrorInfo, type Database } from "@breakwater/runtime/internal";
import { describeTable, tableIndexes, type TableFacts } from "../db/relations.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteTable, type TableRef } from "../db/quote.ts";
import { fitsName, identifier, preflightError, tableInput, toTableRef } from "./common.ts";
import { prismaName } from "./prisma-names.ts";
import { emptyPlan, type Action, type Operation, type Proof, type SchemaAccepts } from "./types.ts";

const referentialAction = z.enum(["CASCADE", "RESTRICT", "NO ACTION", "SET NULL", "SET DEFAULT"]);

const inputSchema = z
  .object({
    op: z.literal("addForeignKey"),
    table: tableInput,
    columns: z.array(identifier).min(1, "a foreign key needs at least one column"),
    references: z.object({ table: tableInput, columns: z.array(identifier).min(1) }).strict(),
    name: identifier.optional(),
    onDelete: referentialAction.default("NO ACTION"),
    onUpdate: referentialAction.default("NO ACTION"),
    phase: z.enum(["expand", "contract"]).default("expand"),
  })
  .strict()
  .refine((i) => i.columns.length === i.references.columns.length, {
    message: "`columns` and `references.columns` must have as many columns each",
    path: ["references", "columns"],
  })
  .refine((i) => new Set(i.columns).size === i.columns.length, { message: "a column is listed twice", path: ["columns"] });

type _Accepts = Proof<SchemaAccepts<"addForeignKey", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;

interface Facts {
  name: string;
  /** what holds the name now: nothing, this very key not yet validated, or this very key */
  existing: "none" | "notValidated" | "identical";
  /** no index on the referencing table starts with its columns */
  unindexed: boolean;
}

/** pg_constraint's confupdtype / confdeltype letters */
const actionCodes: Record<Input["onDelete"], string> = { "NO ACTION": "a", RESTRICT: "r", CASCADE: "c", "SET NULL": "n", "SET DEFAULT": "d" };

function keyName(input: Input): string {
  return input.name ?? prismaName(toTableRef(input.table).name, input.columns, "_fkey");
}

function columnList(columns: string[]): string {
  return columns.map(quoteIdent).join(", ");
}

/** Rows whose key is complete (MATCH SIMPLE: a NULL in it is never checked) and references no row. */
function orphanQuery(input: Input, select: string): string {
  const table = toTableRef(input.table);
  const referenced = toTableRef(input.references.table);
  const complete = input.columns.map((c) => `referencing.${quoteIdent(c)} IS NOT NULL`).join(" AND ");
  const match = input.columns.map((c, i) => `referenced.${quoteIdent(input.references.columns[i]!)} = referencing.${quoteIdent(c)}`).join(" AND ");
  return `SELECT ${select} FROM ${quoteTable(table)} AS referencing WHERE ${complete} AND NOT EXISTS (SELECT FROM ${quoteTable(referenced)} AS referenced WHERE ${match})`;
}

function requireColumns(facts: TableFacts, table: TableRef, columns: string[]): void {
  const missing = columns.filter((c) => !facts.columns.some((column) => column.name === c));
  if (missing.length > 0) throw preflightError(`Table ${displayTable(table)} has no column ${missing.join(", ")}.`);
}

async function requireTable(db: Database, table: TableRef): Promise<TableFacts> {
  const facts = await describeTable(db, table);
  if (!facts) throw preflightError(`Table ${displayTable(table)} does not exist.`, "Names are case-sensitive; give { schema, name } for a table outside public.");
  if (facts.kind !== "table" && facts.kind !== "partitioned table") throw preflightError(`${displayTable(table)} is a ${facts.kind}, not a table.`);
  return facts;
}

/** The same key: columns, referenced table and columns, actions, MATCH SIMPLE, not deferrable. */
async function existingKey(db: Database, input: Input, name: string): Promise<Facts["existing"]> {
  const table = toTableRef(input.table);
  const { rows } = await db.query<{ type: string; validated: boolean; same: boolean; definition: string }>(
    `SELECT c.contype::text AS type, c.convalidated AS validated, pg_get_constraintdef(c.oid) AS definition,
            (c.contype = 'f' AND c.confrelid = to_regclass($3)
             AND array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(n, o) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) = $4::text[]
             AND array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(n, o) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) = $5::text[]
             AND c.confupdtype = $6 AND c.confdeltype = $7 AND c.confmatchtype = 's' AND NOT c.condeferrable) AS same
       FROM pg_constraint c WHERE c.conrelid = to_regclass($1) AND c.conname = $2`,
    [quoteTable(table), name, quoteTable(toTableRef(input.references.table)), input.columns, input.references.columns, actionCodes[input.onUpdate], actionCodes[input.onDelete]],
  );
  const row = rows[0];
  if (!row) return "none";
  if (!row.same) {
    throw preflightError(
      `${displayTable(table)} already has a constraint named ${name}: ${row.definition}.`,
      "Give another `name`, or drop that constraint first (a `sql` step with ALTER TABLE … DROP CONSTRAINT).",
    );
  }
  return row.validated ? "identical" : "notValidated";
}

/**
 * VALIDATE CONSTRAINT; when rows reference nothing (23503), the same error with their count and
 * the query listing them. A DO block written as one plain literal, so no name can end it.
 */
function validateStatement(input: Input, name: string): string {
  const table = toTableRef(input.table);
  const referenced = toTableRef(input.references.table);
  const validate = `ALTER TABLE ${quoteTable(table)} VALIDATE CONSTRAINT ${quoteIdent(name)}`;
  const message = ` rows of ${displayTable(table)} (${input.columns.join(", ")}) reference no row of ${displayTable(referenced)} (${input.references.columns.join(", ")}), so the foreign key ${name} cannot be validated. List them with: ${orphanQuery(input, "referencing.*")}`;
  const body = `DECLARE orphans bigint;
BEGIN
  EXECUTE ${quoteLiteral(validate)};
EXCEPTION WHEN foreign_key_violation THEN
  ${orphanQuery(input, "count(*) INTO orphans")};
  RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = orphans || ${quoteLiteral(message)};
END`;
  return `DO ${quoteLiteral(body)}`;
}

export const addForeignKeyOperation: Operation<Input, Facts, "addForeignKey"> = {
  kind: "addForeignKey",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `add foreign key ${keyName(input)} on ${displayTable(toTableRef(input.table))}`,
  async inspect(db, input) {
    const table = toTableRef(input.table);
    const referenced = toTableRef(input.references.table);
    const name = keyName(input);
    if (!fitsName(name)) throw preflightError(`The constraint name ${name} is longer than 63 bytes.`, "Give a shorter `name`.");
    const facts = await requireTable(db, table);
    requireColumns(facts, table, input.columns);
    const referencedFacts = await requireTable(db, referenced);
    requireColumns(referencedFacts, referenced, input.references.columns);
    if (facts.kind === "partitioned table") {
      const version = await db.one<{ n: number }>("SELECT current_setting('server_version_num')::int AS n");
      if (version.n < 180000) {
        throw preflightError(
          `${displayTable(table)} is a partitioned table: PostgreSQL before 18 cannot add a foreign key to it NOT VALID, and adding it valid scans every partition under a lock that blocks writes.`,
          "Add the foreign key to each partition with an addForeignKey step, or add it in maintenance with a `sql` step.",
        );
      }
    }
    // PostgreSQL needs a unique key on exactly the referenced columns (42830 otherwise).
    const wanted = [...input.references.columns].sort().join("\u0000");
    const uniqueKeys = (await tableIndexes(db, referenced)).filter((i) => i.unique && i.valid && !i.partial && !i.columns.includes(null));
    if (!uniqueKeys.some((i) => [...(i.columns as string[])].sort().join("\u0000") === wanted)) {
      throw preflightError(
        `${displayTable(referenced)} has no primary key or unique index on exactly (${input.references.columns.join(", ")}), which a foreign key must reference.`,
        "Add one first (a createIndex step with unique: true), or reference the primary key.",
      );
    }
    // The orphan query, planned only: types with no equality between them are refused here (42883).
    try {
      await db.readOnly((tx) => tx.query(`EXPLAIN ${orphanQuery(input, "1")}`));
    } catch (error) {
      if (isConnectionLoss(error)) throw error;
      throw preflightError(
        `${displayTable(table)} (${input.columns.join(", ")}) cannot reference ${displayTable(referenced)} (${input.references.columns.join(", ")}): ${sqlErrorInfo(error).message}.`,
      );
    }
    const leading = new Set(input.columns);
    const unindexed = !(await tableIndexes(db, table)).some(
      (i) => i.valid && !i.partial && i.columns.length >= leading.size && i.columns.slice(0, leading.size).every((c) => c !== null && leading.has(c)),
    );
    return { name, existing: await existingKey(db, input, name), unindexed };
  },
  plan(input, facts) {
    const table = toTableRef(input.table);
    const referenced = toTableRef(input.references.table);
    const plan = emptyPlan();
    // NOT VALID takes a brief lock and checks writes from then on; VALIDATE lets writers go on: no maintenance mode.
    plan.needsMaintenance = false;
    const constraint = quoteIdent(facts.name);
    const definition = `FOREIGN KEY (${columnList(input.columns)}) REFERENCES ${quoteTable(referenced)} (${columnList(input.references.columns)}) ON DELETE ${input.onDelete} ON UPDATE ${input.onUpdate}`;
    const description = `foreign key ${facts.name}: ${displayTable(table)} (${input.columns.join(", ")}) → ${displayTable(referenced)} (${input.references.columns.join(", ")}), ON DELETE ${input.onDelete} ON UPDATE ${input.onUpdate}`;
    if (facts.existing === "identical") {
      plan.summary.push(`${description}: already there and valid, nothing to do`);
      return plan;
    }
    const tables = [table, referenced].filter((t, i, all) => all.findIndex((u) => u.schema === t.schema && u.name === t.name) === i);
    if (facts.existing === "none") {
      plan.summary.push(`${description}: added NOT VALID (a brief lock), then validated while reads and writes go on`);
      plan[input.phase].push({
        label: `add ${facts.name} NOT VALID (writes are checked from now on)`,
        lock: { tables, mode: "SHARE ROW EXCLUSIVE" },
        statements: [`ALTER TABLE ${quoteTable(table)} ADD CONSTRAINT ${constraint} ${definition} NOT VALID`],
      });
      const drop: Action[] = [
        {
          label: `drop foreign key ${facts.name}`,
          // Dropping a foreign key removes its triggers from both tables.
          lock: { tables, mode: "ACCESS EXCLUSIVE" },
          statements: [`ALTER TABLE ${quoteTable(table)} DROP CONSTRAINT IF EXISTS ${constraint}`],
        },
      ];
      plan.rollback = drop;
      plan.rollbackAfterContract = drop;
    } else {
      plan.summary.push(`${description}: already there NOT VALID, validated while reads and writes go on`);
      plan.notes.push(`${facts.name} existed NOT VALID before the run: a rollback leaves it in place, validated.`);
    }
    plan[input.phase].push({
      label: `validate ${facts.name} (reads and writes go on)`,
      lock: { tables: [table], mode: "SHARE UPDATE EXCLUSIVE" },
      statements: [validateStatement(input, facts.name)],
    });
    plan.finalChecks.push({
      name: `foreign key ${facts.name} is valid`,
      sql: `SELECT coalesce((SELECT convalidated FROM pg_constraint WHERE conrelid = to_regclass(${quoteLiteral(quoteTable(table))}) AND conname = ${quoteLiteral(facts.name)}), false)`,
      expect: { equals: true },
    });
    if (facts.unindexed) {
      plan.notes.push(
        `No index on ${displayTable(table)} starts with (${input.columns.join(", ")}) before the run: every delete or key update in ${displayTable(referenced)} then scans ${displayTable(table)}. Consider a createIndex step on those columns (earlier in this plan is fine).`,
      );
    }
    return plan;
  },
  onlineRefusal: () => null,
};
