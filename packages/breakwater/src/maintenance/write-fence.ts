// The write fence: while a run transforms a table, writes to it from any session but the
// runner's are refused by the database itself (SQLSTATE BW001), so cron jobs and workers that
// never see the HTTP maintenance page cannot write either. A statement-level trigger checks
// breakwater.fences, which names the run and the backend allowed to write (its pid and start time:
// a pid alone is reused by the next session once the runner dies). Statement triggers
// on a partitioned table do not fire for statements on its partitions, so every partition is
// fenced as well, and an event trigger refuses to change the partitions of a fenced table.
import { type Database, sqlErrorInfo } from "@breakwater/runtime/internal";
import { setLocalLockTimeout, withLockRetries, type LockPolicy, type LockRetryInfo } from "../db/locks.ts";
import { quoteTable, type TableRef } from "../db/quote.ts";

export const FENCE_SQLSTATE = "BW001";
const TRIGGER = "breakwater_write_fence";
const PARTITION_GUARD = "breakwater_partition_guard";

const setupSql = `
  CREATE SCHEMA IF NOT EXISTS breakwater;
  CREATE TABLE IF NOT EXISTS breakwater.fences (
    relid oid PRIMARY KEY,
    table_name text NOT NULL,
    run_id text NOT NULL,
    pid int NOT NULL,
    since timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  -- the fenced partitioned table a fenced partition belongs to
  ALTER TABLE breakwater.fences ADD COLUMN IF NOT EXISTS root oid;
  -- with pid, names the runner's session: another session may get the same pid after it ends
  ALTER TABLE breakwater.fences ADD COLUMN IF NOT EXISTS backend_start timestamptz;
  CREATE OR REPLACE FUNCTION breakwater.is_fence_holder(holder_pid int, holder_start timestamptz) RETURNS boolean LANGUAGE sql STABLE AS $holder$
    SELECT holder_pid = pg_backend_pid() AND holder_start IS NOT DISTINCT FROM (SELECT a.backend_start FROM pg_stat_get_activity(pg_backend_pid()) a)
  $holder$;
  CREATE OR REPLACE FUNCTION breakwater.write_fence() RETURNS trigger LANGUAGE plpgsql AS $fence$
  DECLARE
    fence record;
  BEGIN
    SELECT run_id, pid, backend_start INTO fence FROM breakwater.fences WHERE relid = TG_RELID;
    IF NOT FOUND OR breakwater.is_fence_holder(fence.pid, fence.backend_start) THEN
      RETURN NULL;
    END IF;
    RAISE EXCEPTION USING
      ERRCODE = '${FENCE_SQLSTATE}',
      MESSAGE = format('writes to %I.%I are paused while breakwater run %s migrates it', TG_TABLE_SCHEMA, TG_TABLE_NAME, fence.run_id),
      HINT = 'The application is in maintenance mode; retry when the run has finished (breakwater status).';
  END
  $fence$;
  CREATE OR REPLACE FUNCTION breakwater.partition_guard() RETURNS event_trigger LANGUAGE plpgsql AS $guard$
  DECLARE
    hit record;
  BEGIN
    IF to_regclass('breakwater.fences') IS NULL THEN
      RETURN;
    END IF;
    -- a partition attached to (or created under) a fenced table
    SELECT f.run_id, f.table_name, t.relid::regclass::text AS part INTO hit
      FROM breakwater.fences f CROSS JOIN LATERAL pg_partition_tree(f.relid) t
     WHERE NOT breakwater.is_fence_holder(f.pid, f.backend_start) AND NOT EXISTS (SELECT 1 FROM breakwater.fences g WHERE g.relid = t.relid)
     LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = '${FENCE_SQLSTATE}',
        MESSAGE = format('%s cannot become a partition of %s while breakwater run %s migrates it', hit.part, hit.table_name, hit.run_id),
        HINT = 'Attach it when the run has finished (breakwater status).';
    END IF;
    -- a fenced partition detached or dropped
    SELECT f.run_id, f.table_name INTO hit FROM breakwater.fences f
     WHERE f.root IS NOT NULL AND NOT breakwater.is_fence_holder(f.pid, f.backend_start)
       AND NOT EXISTS (SELECT 1 FROM pg_partition_tree(f.root) t WHERE t.relid = f.relid)
     LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = '${FENCE_SQLSTATE}',
        MESSAGE = format('partition %s cannot be detached or dropped while breakwater run %s migrates it', hit.table_name, hit.run_id),
        HINT = 'Detach it when the run has finished (breakwater status).';
    END IF;
  END
  $guard$;`;

/** The table and, for a partitioned table, every partition below it (statement triggers do not reach them). */
async function fencedRelations(db: Database, table: TableRef): Promise<{ name: string; root: number | null }[]> {
  const { rows } = await db.query<{ name: string; root: number | null }>(
    // pg_partition_tree() returns no row for a table that is not partitioned.
    `SELECT $1::regclass::text AS name, NULL::int8 AS root
     UNION ALL
     SELECT t.relid::regclass::text, $1::regclass::oid::int8 FROM pg_partition_tree($1::regclass) t WHERE t.relid <> $1::regclass`,
    [quoteTable(table)],
  );
  return rows;
}

/**
 * Raises the fence on the tables (and their partitions) for this session (the runner);
 * idempotent. Returns false when the partitions of a fenced partitioned table could not be
 * guarded (event triggers need a superuser).
 */
export async function raiseFence(db: Database, runId: string, tables: TableRef[], policy: LockPolicy, onRetry?: (info: LockRetryInfo) => void): Promise<{ partitionsGuarded: boolean }> {
  if (tables.length === 0) return { partitionsGuarded: true };
  await db.query(setupSql);
  const relations = (await Promise.all(tables.map((t) => fencedRelations(db, t)))).flat();
  await withLockRetries(db, policy, "raise the write fence", tables, () =>
    db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, policy.lockTimeoutMs);
      for (const { name, root } of relations) {
        await tx.query(
          `INSERT INTO breakwater.fences (relid, table_name, run_id, pid, backend_start, root)
           VALUES ($1::regclass, $1, $2, pg_backend_pid(), (SELECT backend_start FROM pg_stat_get_activity(pg_backend_pid())), $3)
           ON CONFLICT (relid) DO UPDATE SET run_id = EXCLUDED.run_id, pid = EXCLUDED.pid, backend_start = EXCLUDED.backend_start, root = EXCLUDED.root`,
          [name, runId, root],
        );
        await tx.query(`DROP TRIGGER IF EXISTS ${TRIGGER} ON ${name}`);
        await tx.query(`CREATE TRIGGER ${TRIGGER} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${name} FOR EACH STATEMENT EXECUTE FUNCTION breakwater.write_fence()`);
      }
    }), onRetry);
  if (!relations.some((r) => r.root !== null)) return { partitionsGuarded: true };
  try {
    await db.query(
      `DO $do$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = '${PARTITION_GUARD}') THEN
           CREATE EVENT TRIGGER ${PARTITION_GUARD} ON ddl_command_end WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE', 'DROP TABLE') EXECUTE FUNCTION breakwater.partition_guard();
         END IF;
       END $do$`,
    );
    return { partitionsGuarded: true };
  } catch (error) {
    if (sqlErrorInfo(error).sqlstate === "42501") return { partitionsGuarded: false };
    throw error;
  }
}

/** After a crash (or a lost connection) the new runner session takes the fence over. */
export async function takeOverFence(db: Database, runId: string): Promise<number> {
  const exists = await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.fences') IS NOT NULL AS ok");
  if (!exists.ok) return 0;
  return (await db.query("UPDATE breakwater.fences SET pid = pg_backend_pid(), backend_start = (SELECT backend_start FROM pg_stat_get_activity(pg_backend_pid())) WHERE run_id = $1", [runId])).rowCount;
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
  // The partition guard lives only while some fence does (it is owned by a superuser when it exists).
  await db
    .query(`DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM breakwater.fences) THEN DROP EVENT TRIGGER IF EXISTS ${PARTITION_GUARD}; END IF; END $do$`)
    .catch(() => undefined);
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
