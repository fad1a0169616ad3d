// The write fence: while a run transforms a table, writes to it from any session but the
// runner's are refused by the database itself (SQLSTATE BW001), so cron jobs and workers that
// never see the HTTP maintenance page cannot write either. A statement-level trigger checks
// breakwater.fences, which names the run and the backend pid allowed to write.
import type { Database } from "../db/database.ts";
import { setLocalLockTimeout, withLockRetries, type LockPolicy, type LockRetryInfo } from "../db/locks.ts";
import { quoteTable, type TableRef } from "../db/quote.ts";

export const FENCE_SQLSTATE = "BW001";
const TRIGGER = "breakwater_write_fence";

const setupSql = `
  CREATE SCHEMA IF NOT EXISTS breakwater;
  CREATE TABLE IF NOT EXISTS breakwater.fences (
    relid oid PRIMARY KEY,
    table_name text NOT NULL,
    run_id text NOT NULL,
    pid int NOT NULL,
    since timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE OR REPLACE FUNCTION breakwater.write_fence() RETURNS trigger LANGUAGE plpgsql AS $fence$
  DECLARE
    fence record;
  BEGIN
    SELECT run_id, pid INTO fence FROM breakwater.fences WHERE relid = TG_RELID;
    IF NOT FOUND OR fence.pid = pg_backend_pid() THEN
      RETURN NULL;
    END IF;
    RAISE EXCEPTION USING
      ERRCODE = '${FENCE_SQLSTATE}',
      MESSAGE = format('writes to %I.%I are paused while breakwater run %s migrates it', TG_TABLE_SCHEMA, TG_TABLE_NAME, fence.run_id),
      HINT = 'The application is in maintenance mode; retry when the run has finished (breakwater status).';
  END
  $fence$;`;

/** Raises the fence on the tables for this session (the runner); idempotent. */
export async function raiseFence(db: Database, runId: string, tables: TableRef[], policy: LockPolicy, onRetry?: (info: LockRetryInfo) => void): Promise<void> {
  if (tables.length === 0) return;
  await db.query(setupSql);
  await withLockRetries(db, policy, "raise the write fence", tables, () =>
    db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, policy.lockTimeoutMs);
      for (const table of tables) {
        await tx.query(
          `INSERT INTO breakwater.fences (relid, table_name, run_id, pid) VALUES ($1::regclass, $1, $2, pg_backend_pid())
           ON CONFLICT (relid) DO UPDATE SET run_id = EXCLUDED.run_id, pid = EXCLUDED.pid`,
          [quoteTable(table), runId],
        );
        await tx.query(`DROP TRIGGER IF EXISTS ${TRIGGER} ON ${quoteTable(table)}`);
        await tx.query(`CREATE TRIGGER ${TRIGGER} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${quoteTable(table)} FOR EACH STATEMENT EXECUTE FUNCTION breakwater.write_fence()`);
      }
    }), onRetry);
}

/** After a crash the new runner session takes the fence over (the old pid is gone). */
export async function takeOverFence(db: Database, runId: string): Promise<number> {
  const exists = await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.fences') IS NOT NULL AS ok");
  if (!exists.ok) return 0;
  return (await db.query("UPDATE breakwater.fences SET pid = pg_backend_pid() WHERE run_id = $1", [runId])).rowCount;
}

/** Lowers every fence of the run; idempotent. */
export async function lowerFence(db: Database, runId: string, policy: LockPolicy, onRetry?: (info: LockRetryInfo) => void): Promise<void> {
  const exists = await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.fences') IS NOT NULL AS ok");
  if (!exists.ok) return;
  // regclass prints the current, quoted name (the table may have been renamed since).
  const { rows } = await db.query<{ name: string | null }>(
    "SELECT (SELECT f.relid::regclass::text FROM pg_class c WHERE c.oid = f.relid) AS name FROM breakwater.fences f WHERE f.run_id = $1",
    [runId],
  );
  if (rows.length === 0) return;
  await withLockRetries(db, policy, "lower the write fence", [], () =>
    db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, policy.lockTimeoutMs);
      for (const { name } of rows) if (name !== null) await tx.query(`DROP TRIGGER IF EXISTS ${TRIGGER} ON ${name}`);
      await tx.query("DELETE FROM breakwater.fences WHERE run_id = $1", [runId]);
    }), onRetry);
}

export interface FenceInfo {
  runId: string;
  tables: string[];
  since: Date;
}

/** The fences still up, by run (a run that was interrupted keeps its fence until resume or rollback). */
export async function listFences(db: Database): Promise<FenceInfo[]> {
  const exists = await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.fences') IS NOT NULL AS ok");
  if (!exists.ok) return [];
  const { rows } = await db.query<{ run_id: string; tables: string[]; since: Date }>(
    "SELECT run_id, array_agg(table_name ORDER BY table_name) AS tables, min(since) AS since FROM breakwater.fences GROUP BY run_id ORDER BY min(since)",
  );
  return rows.map((r) => ({ runId: r.run_id, tables: r.tables, since: r.since }));
}
