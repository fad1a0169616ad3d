// createIndex: CREATE INDEX CONCURRENTLY, in maintenance mode and online alike: the build takes
// SHARE UPDATE EXCLUSIVE, so reads and writes go on and no maintenance is needed. A build that
// fails (a duplicate, a lock timeout, a killed session) leaves an INVALID index behind; it is
// dropped CONCURRENTLY before each retry, and a rollback drops whatever was built.
// - A unique index counts its duplicates first, so a refusal says how many there are and how to
//   list them (SQLSTATE 23505); a duplicate written after that count fails the build itself.
// - A name already held by an identical valid index: nothing to do. By a different one: refused.
// - Partitioned tables are refused: PostgreSQL cannot build their index CONCURRENTLY.
import { z } from "zod";
import { isConnectionLoss, sqlErrorInfo, type Database } from "@breakwater/runtime/internal";
import { describeTable, indexSignature, relationNamed } from "../db/relations.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteQualified, quoteTable, type TableRef } from "../db/quote.ts";
import { checkExpression, embedExpression } from "../db/sql-fragments.ts";
import { fitsName, identifier, preflightError, tableInput, toTableRef } from "./common.ts";
import { prismaName } from "./prisma-names.ts";
import { emptyPlan, type Action, type Operation, type Proof, type SchemaAccepts } from "./types.ts";

const keyOptions = { sort: z.enum(["asc", "desc"]).optional(), opclass: identifier.optional() };
const indexKey = z.union([identifier, z.object({ column: identifier, ...keyOptions }).strict(), z.object({ expression: z.string().min(1), ...keyOptions }).strict()]);

const inputSchema = z
  .object({
    op: z.literal("createIndex"),
    table: tableInput,
    name: identifier.optional(),
    columns: z.array(indexKey).min(1, "an index needs at least one column"),
    unique: z.boolean().default(false),
    where: z.string().min(1).optional(),
    using: z.enum(["btree", "hash", "gin", "gist", "brin"]).default("btree"),
    phase: z.enum(["expand", "contract"]).default("expand"),
  })
  .strict()
  .refine((i) => i.name !== undefined || i.columns.every((c) => typeof c === "string" || "column" in c), {
    message: "an index with an expression key needs a `name` (Prisma's default name is made of column names)",
    path: ["name"],
  });

type _Accepts = Proof<SchemaAccepts<"createIndex", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;
type Key = Input["columns"][number];

interface Facts {
  name: string;
  /** what holds the name now: nothing, an invalid leftover of an earlier build (dropped and rebuilt), or this very index */
  existing: "none" | "invalid" | "identical";
}

function indexName(input: Input): string {
  if (input.name !== undefined) return input.name;
  const columns = input.columns.map((c) => (typeof c === "string" ? c : (c as { column: string }).column));
  return prismaName(toTableRef(input.table).name, columns, input.unique ? "_key" : "_idx");
}

function keySql(key: Key): string {
  if (typeof key === "string") return quoteIdent(key);
  const target = "column" in key ? quoteIdent(key.column) : embedExpression(key.expression);
  return `${target}${key.opclass ? ` ${quoteIdent(key.opclass)}` : ""}${key.sort === "desc" ? " DESC" : ""}`;
}

/** The key as a value to group by (no sort order, no operator class). */
function keyValue(key: Key): string {
  if (typeof key === "string") return quoteIdent(key);
  return "column" in key ? quoteIdent(key.column) : embedExpression(key.expression);
}

function keyLabel(key: Key): string {
  if (typeof key === "string") return key;
  return "column" in key ? key.column : key.expression;
}

/** `CREATE [UNIQUE] INDEX [CONCURRENTLY] name ON table USING method (keys) [WHERE …]`. */
function createStatement(input: Input, name: string, on: string, concurrently: boolean): string {
  const where = input.where === undefined ? "" : ` WHERE ${embedExpression(input.where)}`;
  return `CREATE ${input.unique ? "UNIQUE " : ""}INDEX${concurrently ? " CONCURRENTLY" : ""} ${quoteIdent(name)} ON ${on} USING ${input.using} (${input.columns.map(keySql).join(", ")})${where}`;
}

/** A transaction rolled back on purpose: the probe index must leave nothing behind. */
class ProbeRolledBack extends Error {}

/**
 * Builds the index on an empty temporary copy of the table, in a transaction that is rolled back:
 * PostgreSQL itself checks the columns, expressions, predicate, method and operator classes, and
 * the result's signature says whether an existing index is the same one. Touches no row of the table.
 */
async function probe(db: Database, input: Input, table: TableRef, name: string): Promise<string> {
  let signature = "";
  try {
    await db.transaction(async (tx) => {
      await tx.query(`CREATE TEMPORARY TABLE ${quoteIdent(table.name)} (LIKE ${quoteTable(table)})`);
      await tx.query(createStatement(input, name, `pg_temp.${quoteIdent(table.name)}`, false));
      const index = await tx.one<{ oid: number }>("SELECT to_regclass($1)::oid::int8 AS oid", [`pg_temp.${quoteIdent(name)}`]);
      signature = await indexSignature(tx, Number(index.oid));
      throw new ProbeRolledBack();
    });
  } catch (error) {
    if (error instanceof ProbeRolledBack) return signature;
    if (isConnectionLoss(error)) throw error;
    throw preflightError(
      `The index ${name} on ${displayTable(table)} cannot be built: ${sqlErrorInfo(error).message}.`,
      "Check `columns`, `where`, `using` and `opclass` in the plan.",
    );
  }
  return signature;
}

/**
 * Counts the values held by more than one row (rows with a NULL key never conflict) and refuses
 * with that count and the query listing them, as the unique violation it is (23505). Runs as its
 * own statement before the build; a DO block is written as a plain literal, so no text in the
 * user's SQL can end it.
 */
function duplicateCheck(input: Input, table: TableRef, name: string): string {
  const values = input.columns.map(keyValue);
  const conditions = [...values.map((v) => `${v} IS NOT NULL`), ...(input.where === undefined ? [] : [embedExpression(input.where)])].join(" AND ");
  const listing = `SELECT ${values.join(", ")}, count(*) FROM ${quoteTable(table)} WHERE ${conditions} GROUP BY ${values.join(", ")} HAVING count(*) > 1`;
  const what = `(${input.columns.map(keyLabel).join(", ")}) in ${displayTable(table)}`;
  const message = ` values of ${what} are held by more than one row, so the unique index ${name} cannot be built; nothing was changed. List them with: ${listing.replace(/\s+/g, " ")}`;
  const body = `DECLARE duplicates bigint;
BEGIN
  SELECT count(*) INTO duplicates FROM (${listing}) AS d;
  IF duplicates > 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'unique_violation', MESSAGE = duplicates || ${quoteLiteral(message)};
  END IF;
END`;
  return `DO ${quoteLiteral(body)}`;
}

export const createIndexOperation: Operation<Input, Facts, "createIndex"> = {
  kind: "createIndex",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `create ${input.unique ? "unique " : ""}index ${indexName(input)} on ${displayTable(toTableRef(input.table))}`,
  async inspect(db, input) {
    const table = toTableRef(input.table);
    const name = indexName(input);
    const what = `index ${name} on ${displayTable(table)}`;
    // Parsed before anything touches the database: one expression each, nothing after a `;`.
    for (const [i, key] of input.columns.entries()) {
      if (typeof key !== "string" && "expression" in key) await checkExpression(key.expression, `${what}: \`columns.${i}.expression\``);
    }
    if (input.where !== undefined) await checkExpression(input.where, `${what}: \`where\``);
    if (!fitsName(name)) throw preflightError(`The index name ${name} is longer than 63 bytes.`, "Give a shorter `name`.");
    const facts = await describeTable(db, table);
    if (!facts) throw preflightError(`Table ${displayTable(table)} does not exist.`, "Names are case-sensitive; give { schema, name } for a table outside public.");
    if (facts.kind === "partitioned table") {
      throw preflightError(
        `${displayTable(table)} is a partitioned table: PostgreSQL cannot build its index CONCURRENTLY, and a plain CREATE INDEX blocks writes to every partition while it builds.`,
        "Create the index on each partition with a createIndex step, then in a `sql` step CREATE INDEX … ON ONLY the parent table and ALTER INDEX … ATTACH PARTITION each partition's index (catalog only).",
      );
    }
    if (facts.kind !== "table") throw preflightError(`${displayTable(table)} is a ${facts.kind}, not a table.`);
    const columns = facts.columns.map((c) => c.name);
    const missing = input.columns
      .flatMap((k) =>
        typeof k === "string" ? [k]
        : "column" in k ? [k.column]
        : [],
      )
      .filter((c) => !columns.includes(c));
    if (missing.length > 0) throw preflightError(`Table ${displayTable(table)} has no column ${missing.join(", ")}.`);
    const signature = await probe(db, input, table, name);
    const holder = await relationNamed(db, table.schema, name);
    if (!holder) return { name, existing: "none" };
    if (holder.indexOf === null || holder.indexOf !== (await db.one<{ t: string }>("SELECT to_regclass($1)::text AS t", [quoteTable(table)])).t) {
      throw preflightError(
        `The name ${table.schema}.${name} is taken by ${holder.indexOf === null ? `a ${holder.kind}` : `an index on ${holder.indexOf}`}; an index needs a name no other relation in its schema has.`,
        "Give another `name`.",
      );
    }
    if (holder.building) {
      throw preflightError(
        `The index ${name} is being built right now by another session.`,
        "Wait until that build has finished (pg_stat_progress_create_index), then run the plan again.",
      );
    }
    if (!holder.valid) return { name, existing: "invalid" };
    if (holder.signature === signature) return { name, existing: "identical" };
    throw preflightError(
      `${displayTable(table)} already has an index named ${name}, with another definition: ${holder.definition}.`,
      "Give another `name`, or drop that index first (a `sql` step with DROP INDEX CONCURRENTLY).",
    );
  },
  plan(input, facts) {
    const table = toTableRef(input.table);
    const plan = emptyPlan();
    // The build takes SHARE UPDATE EXCLUSIVE: writers go on, so no maintenance mode.
    plan.needsMaintenance = false;
    const qualified = quoteQualified(table.schema, facts.name);
    const description = `${input.unique ? "unique " : ""}index ${facts.name} on ${displayTable(table)} (${input.columns.map(keyLabel).join(", ")})${input.where ? ` where ${input.where}` : ""}`;
    if (facts.existing === "identical") {
      plan.summary.push(`${description}: already there, nothing to do`);
      return plan;
    }
    plan.summary.push(`${description}, built CONCURRENTLY${input.phase === "contract" ? " after the transforms" : ""} (reads and writes go on)`);
    if (facts.existing === "invalid") {
      plan.summary.push(`an INVALID index ${facts.name} left by an earlier build is dropped CONCURRENTLY and built again`);
      plan.notes.push(`The INVALID index ${facts.name} found before the run is dropped and rebuilt; a rollback leaves no index of that name (not the invalid one either).`);
    }
    const valid = `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(${quoteLiteral(qualified)}) AND indisvalid)`;
    const build: Action = {
      label: `build ${description} CONCURRENTLY`,
      statements: [...(input.unique ? [duplicateCheck(input, table, facts.name)] : []), createStatement(input, facts.name, quoteTable(table), true)],
      // A failed or interrupted build leaves an INVALID index: dropped before each new attempt.
      outsideTransaction: { skipIf: valid, cleanupBeforeRetry: [`DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`] },
    };
    plan[input.phase].push(build);
    plan.finalChecks.push({ name: `index ${facts.name} is valid`, sql: valid, expect: { equals: true } });
    const drop: Action[] = [
      {
        label: `drop index ${facts.name} CONCURRENTLY`,
        statements: [`DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`],
        outsideTransaction: { skipIf: `SELECT to_regclass(${quoteLiteral(qualified)}) IS NULL`, cleanupBeforeRetry: [] },
      },
    ];
    plan.rollback = drop;
    plan.rollbackAfterContract = drop;
    return plan;
  },
  onlineRefusal: () => null,
};
