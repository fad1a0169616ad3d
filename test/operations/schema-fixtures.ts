// What the createIndex, addForeignKey and setNotNull tests share: a User/Post schema with rows, the
// catalog shape Prisma's own migration is compared by, a database built by Prisma's SQL to compare
// with, a client writing in a loop, and runs and rollbacks through the library.
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileStore, isBreakwaterError, type Database } from "@breakwater/runtime/internal";
import type { MigrationInput } from "../../packages/breakwater/src/index.ts";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { validatePlan } from "../../packages/breakwater/src/plan/plan.ts";
import { rollbackRunById, RunFailure, runPlan, type RunOutcome } from "../../packages/breakwater/src/runner/runner.ts";
import type { BreakwaterEvent } from "../../packages/breakwater/src/runner/events.ts";
import { createTestDatabase, tempProject, type TestDatabase } from "../harness.ts";

export const users = 5000;

/** Users (every third name NULL) and one post per user, as Prisma's migration of the old schema creates them. */
export const schemaSql = `
  CREATE TABLE "User" (id serial PRIMARY KEY, email text NOT NULL, name text, "createdAt" timestamptz NOT NULL DEFAULT '2024-01-01');
  CREATE TABLE "Post" (id serial PRIMARY KEY, "authorId" integer, title text NOT NULL);
  INSERT INTO "User" (email, name, "createdAt")
    SELECT 'u' || i || '@example.com', CASE WHEN i % 3 = 0 THEN NULL ELSE 'n' || i END, '2024-01-01'::timestamptz + i * interval '1 minute'
      FROM generate_series(1, ${users}) AS i;
  INSERT INTO "Post" ("authorId", title) SELECT 1 + i % ${users}, 't' || i FROM generate_series(1, ${users}) AS i;
  ANALYZE "User"; ANALYZE "Post";`;

export async function createSchema(): Promise<TestDatabase> {
  const t = await createTestDatabase();
  await t.db.query(schemaSql);
  return t;
}

/** The catalog shape of public: columns, enums, indexes (with validity), constraints (with NOT VALID), triggers. */
export async function shape(db: Database): Promise<string> {
  const q = async (sql: string) => (await db.query<{ x: string }>(sql)).rows.map((r) => r.x).join("\n");
  return [
    await q(`SELECT format('%s.%s %s null=%s default=%s', table_name, column_name, data_type || coalesce('(' || udt_name || ')', ''), is_nullable, column_default) AS x
               FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name`),
    await q(`SELECT t.typname || ': ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS x FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
              WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname ORDER BY 1`),
    await q(`SELECT p.indexdef || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END AS x
               FROM pg_indexes p JOIN pg_index i ON i.indexrelid = format('%I.%I', p.schemaname, p.indexname)::regclass
              WHERE p.schemaname = 'public' ORDER BY p.indexname`),
    await q(`SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS x FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`),
    await q(`SELECT tgname AS x FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`),
  ].join("\n--\n");
}

/** Shape and checksums of a database built from the same rows by Prisma's own migration SQL. */
export async function prismaReference(prismaSql: string, checksums: Record<string, [table: string, where: string]> = {}): Promise<{ shape: string; sums: Record<string, string> }> {
  const t = await createSchema();
  try {
    await t.db.query(prismaSql);
    const sums: Record<string, string> = {};
    for (const [name, [table, where]] of Object.entries(checksums)) sums[name] = await checksum(t.db, table, where);
    return { shape: await shape(t.db), sums };
  } finally {
    await t.drop();
  }
}

/** md5 of every row of the table matching `where`, in id order: equal checksums mean identical rows. */
export async function checksum(db: Database, table: string, where = "true"): Promise<string> {
  const row = await db.one<{ sum: string }>(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) AS sum FROM ${table} AS t WHERE ${where}`);
  return row.sum;
}

/** Tables breakwater keeps in its schema for this run (snap_…): the key lists a rollback needs. */
export async function keptTables(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'breakwater' AND tablename LIKE 'snap\\_%' ORDER BY 1`);
  return rows.map((r) => r.name);
}

export interface Writer {
  stop(): Promise<{ writes: number; errors: string[] }>;
}

/** A client writing in a loop (one statement at a time, as the application would) until stopped. */
export function writer(db: Database, statement: (n: number) => string): Writer {
  let running = true;
  let writes = 0;
  const errors: string[] = [];
  const loop = (async () => {
    for (let n = 0; running; n++) {
      try {
        await db.query(statement(n));
        writes += 1;
      } catch (error) {
        errors.push(`${(error as { code?: string }).code}: ${(error as Error).message}`);
      }
      await sleep(2);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { writes, errors };
    },
  };
}

export interface Failure {
  code: string;
  message: string;
  hint?: string | undefined;
  details?: Record<string, unknown> | undefined;
  outcome?: RunOutcome;
}

export interface Runner {
  dir: string;
  events: BreakwaterEvent[];
  run(plan: MigrationInput): Promise<RunOutcome>;
  /** the run's failure (it must fail): a RunFailure with its outcome, or a preflight refusal without one */
  fail(plan: MigrationInput): Promise<Failure>;
  rollback(runId: string): Promise<RunOutcome>;
}

/** Runs and rollbacks through the library, with a private maintenance file and small batches. */
export async function runner(t: TestDatabase): Promise<Runner> {
  const dir = await tempProject();
  const events: BreakwaterEvent[] = [];
  const config = resolveConfig({ maintenance: { file: path.join(dir, "maintenance.lock") }, batch: { size: 500 } }, dir, null, {});
  const options = { config, databaseUrl: t.url, store: fileStore({ path: config.maintenanceFile }), emit: (e: BreakwaterEvent) => events.push(e) };
  const run = (plan: MigrationInput) => runPlan({ plan: validatePlan(plan), path: path.join(dir, "plan.ts"), sha256: "" }, options);
  return {
    dir,
    events,
    run,
    fail: async (plan) => {
      try {
        await run(plan);
      } catch (error) {
        if (error instanceof RunFailure || isBreakwaterError(error)) return error as Failure;
        throw error;
      }
      throw new Error(`plan ${plan.id} was expected to fail, but completed`);
    },
    rollback: (runId) => rollbackRunById(runId, options),
  };
}

/** A plan check that cannot pass: the verify phase fails and the run is rolled back before its contract. */
export const failingCheck = { name: "impossible", sql: "SELECT 1", expect: 2 };
