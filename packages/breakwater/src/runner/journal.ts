// The journal in the `breakwater` schema: one row per run and one per step, with state,
// timings, counts, lock holds, cursors and errors. It is what resume and rollback read.
import { hostname } from "node:os";
import { BreakwaterError, type Database } from "@breakwater/runtime/internal";
import type { Plan } from "../plan/plan.ts";
import type { CheckResult, Phase } from "./events.ts";

export type RunState = "running" | "completed" | "failed" | "rolling_back" | "rolled_back";
export type StepState = "pending" | "running" | "done" | "failed" | "skipped";

export interface RunRow {
  id: string;
  plan_id: string;
  plan_path: string | null;
  plan_sha256: string | null;
  plan: Plan;
  facts: unknown[];
  state: RunState;
  phase: Phase;
  started_at: Date;
  finished_at: Date | null;
  maintenance_created: boolean;
  maintenance_on_at: Date | null;
  maintenance_off_at: Date | null;
  measures: Record<string, number | string | boolean | null>;
  checks: CheckResult[];
  error: { code: string; message: string; hint?: string } | null;
  report: unknown;
  holder: string | null;
  /** set by `breakwater pause`: the transform stops between batches until `breakwater continue` */
  paused_at: Date | null;
  /** set by `breakwater cleanup` when it dropped the run's snapshots */
  cleaned_at: Date | null;
  /** set by the runner while it holds because the flag file throttle.pauseFile exists: its path, and since when */
  pause_file: string | null;
  pause_file_since: Date | null;
}

export interface StepRow {
  run_id: string;
  seq: number;
  phase: Phase;
  op_index: number | null;
  label: string;
  state: StepState;
  started_at: Date | null;
  finished_at: Date | null;
  duration_ms: number | null;
  rows: number;
  lock_mode: string | null;
  lock_hold_ms: number | null;
  retries: number;
  cursor: string[] | null;
  data: Record<string, unknown> | null;
  error: { code?: string; message: string } | null;
}

/** "breakwat" in ASCII: the advisory lock key of one breakwater runner per database. */
export const RUNNER_LOCK_KEY = 0x627265616b776174n;

export async function ensureJournal(db: Database): Promise<void> {
  await db.query(`
    CREATE SCHEMA IF NOT EXISTS breakwater;
    CREATE TABLE IF NOT EXISTS breakwater.runs (
      id text PRIMARY KEY,
      plan_id text NOT NULL,
      plan_path text,
      plan_sha256 text,
      plan jsonb NOT NULL,
      facts jsonb NOT NULL DEFAULT '[]',
      state text NOT NULL,
      phase text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      finished_at timestamptz,
      maintenance_created boolean NOT NULL DEFAULT false,
      maintenance_on_at timestamptz,
      maintenance_off_at timestamptz,
      measures jsonb NOT NULL DEFAULT '{}',
      checks jsonb NOT NULL DEFAULT '[]',
      error jsonb,
      report jsonb,
      holder text
    );
    CREATE TABLE IF NOT EXISTS breakwater.steps (
      run_id text NOT NULL REFERENCES breakwater.runs (id) ON DELETE CASCADE,
      seq int NOT NULL,
      phase text NOT NULL,
      op_index int,
      label text NOT NULL,
      state text NOT NULL DEFAULT 'pending',
      started_at timestamptz,
      finished_at timestamptz,
      duration_ms float8,
      rows bigint NOT NULL DEFAULT 0,
      lock_mode text,
      lock_hold_ms float8,
      retries int NOT NULL DEFAULT 0,
      cursor jsonb,
      data jsonb,
      error jsonb,
      PRIMARY KEY (run_id, seq)
    );
    -- Added after the first release: journals created before it get the column here.
    ALTER TABLE breakwater.runs ADD COLUMN IF NOT EXISTS paused_at timestamptz;
    ALTER TABLE breakwater.runs ADD COLUMN IF NOT EXISTS cleaned_at timestamptz;
    ALTER TABLE breakwater.runs ADD COLUMN IF NOT EXISTS pause_file text;
    ALTER TABLE breakwater.runs ADD COLUMN IF NOT EXISTS pause_file_since timestamptz;`);
}

export async function journalExists(db: Database): Promise<boolean> {
  const row = await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.runs') IS NOT NULL AS ok");
  return row.ok;
}

export function holderDescription(): string {
  return `pid ${process.pid} on ${hostname()}`;
}

export async function insertRun(db: Database, run: { id: string; plan: Plan; planPath: string | null; planSha256: string | null; facts: unknown[] }): Promise<void> {
  await db.query(
    `INSERT INTO breakwater.runs (id, plan_id, plan_path, plan_sha256, plan, facts, state, phase, holder)
     VALUES ($1, $2, $3, $4, $5, $6, 'running', 'preflight', $7)`,
    [run.id, run.plan.id, run.planPath, run.planSha256, JSON.stringify(run.plan), JSON.stringify(run.facts), holderDescription()],
  );
}

export async function insertSteps(db: Database, runId: string, steps: { seq: number; phase: Phase; opIndex: number | null; label: string }[]): Promise<void> {
  for (const s of steps) {
    await db.query("INSERT INTO breakwater.steps (run_id, seq, phase, op_index, label) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, seq) DO NOTHING", [
      runId,
      s.seq,
      s.phase,
      s.opIndex,
      s.label,
    ]);
  }
}

export async function getRun(db: Database, runId: string): Promise<RunRow> {
  const never = !(await journalExists(db));
  const rows = never ? [] : (await db.query<RunRow>("SELECT * FROM breakwater.runs WHERE id = $1", [runId])).rows;
  if (!rows[0]) {
    throw new BreakwaterError("BW_RUN_NOT_FOUND", `No run ${runId} in this database${never ? ": breakwater has never run on it" : ""}.`, {
      hint: `${never ? "Check DATABASE_URL; " : ""}\`breakwater status\` lists the runs.`,
    });
  }
  return rows[0];
}

export async function listRuns(db: Database): Promise<RunRow[]> {
  if (!(await journalExists(db))) return [];
  return (await db.query<RunRow>("SELECT * FROM breakwater.runs ORDER BY started_at DESC, id DESC")).rows;
}

export async function getSteps(db: Database, runId: string): Promise<StepRow[]> {
  return (await db.query<StepRow>("SELECT * FROM breakwater.steps WHERE run_id = $1 ORDER BY seq", [runId])).rows;
}

export async function updateRun(
  db: Database,
  runId: string,
  fields: Partial<
    Record<
      | "state"
      | "phase"
      | "finished_at"
      | "maintenance_created"
      | "maintenance_on_at"
      | "maintenance_off_at"
      | "measures"
      | "checks"
      | "error"
      | "report"
      | "holder"
      | "pause_file"
      | "pause_file_since",
      unknown
    >
  >,
): Promise<void> {
  const entries = Object.entries(fields);
  if (entries.length === 0) return;
  const json = new Set(["measures", "checks", "error", "report"]);
  const sets = entries.map(([k], i) => `${k} = $${i + 2}`).join(", ");
  await db.query(`UPDATE breakwater.runs SET ${sets} WHERE id = $1`, [runId, ...entries.map(([k, v]) => (json.has(k) && v !== null ? JSON.stringify(v) : v))]);
}

export async function markStepRunning(db: Database, runId: string, seq: number): Promise<void> {
  await db.query("UPDATE breakwater.steps SET state = 'running', started_at = coalesce(started_at, clock_timestamp()), error = NULL WHERE run_id = $1 AND seq = $2", [runId, seq]);
}

export async function markStepDone(
  db: Database,
  runId: string,
  seq: number,
  result: { rows?: number; lockMode?: string | null; lockHoldMs?: number | null; retries?: number; data?: Record<string, unknown> | null; skipped?: boolean },
): Promise<void> {
  await db.query(
    `UPDATE breakwater.steps
        SET state = $3, finished_at = clock_timestamp(),
            duration_ms = extract(epoch FROM clock_timestamp() - coalesce(started_at, clock_timestamp())) * 1000,
            rows = coalesce($4, rows), lock_mode = coalesce($5, lock_mode), lock_hold_ms = coalesce($6, lock_hold_ms),
            retries = retries + coalesce($7, 0), data = coalesce($8, data)
      WHERE run_id = $1 AND seq = $2`,
    [
      runId,
      seq,
      result.skipped ? "skipped" : "done",
      result.rows ?? null,
      result.lockMode ?? null,
      result.lockHoldMs ?? null,
      result.retries ?? 0,
      result.data ? JSON.stringify(result.data) : null,
    ],
  );
}

export async function markStepFailed(db: Database, runId: string, seq: number, error: { code?: string; message: string }): Promise<void> {
  await db.query("UPDATE breakwater.steps SET state = 'failed', finished_at = clock_timestamp(), error = $3 WHERE run_id = $1 AND seq = $2", [runId, seq, JSON.stringify(error)]);
}

export interface LockHolder {
  /** the holder's backend */
  pid: number;
  /** the runner process and its host, read from the application_name breakwater sets (null when not ours or cut short) */
  runnerPid: number | null;
  host: string | null;
  /** when the holder's connection started */
  connectedAt: Date;
}

async function holderRow(db: Database): Promise<{ pid: number; application_name: string; backend_start: Date; client_addr: string | null } | undefined> {
  const key = RUNNER_LOCK_KEY;
  const { rows } = await db.query<{ pid: number; application_name: string; backend_start: Date; client_addr: string | null }>(
    `SELECT a.pid, a.application_name, a.backend_start, a.client_addr::text AS client_addr
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1`,
    [(key >> 32n).toString(), (key & 0xffffffffn).toString()],
  );
  return rows[0];
}

/** The session holding the runner lock, or null when it is free. */
export async function lockHolder(db: Database): Promise<LockHolder | null> {
  const row = await holderRow(db);
  if (!row) return null;
  const runner = /\(pid (\d+) on ([^)]+)\)$/.exec(row.application_name);
  return { pid: row.pid, runnerPid: runner ? Number(runner[1]) : null, host: runner ? runner[2]! : null, connectedAt: row.backend_start };
}

/** Who holds the runner lock: the backend and, when known, the run it is working on. */
export async function describeLockHolder(db: Database): Promise<string> {
  const holder = await holderRow(db);
  if (!holder) return "another breakwater runner (it has just finished)";
  return `${holder.application_name || "a session"} (database backend pid ${holder.pid}${holder.client_addr ? ` from ${holder.client_addr}` : ""}, connected since ${holder.backend_start.toISOString()})`;
}
