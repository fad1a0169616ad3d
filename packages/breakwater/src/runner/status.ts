// `breakwater status`: where every run stands, read from the journal. Reads only; takes no lock.
import { Database } from "@breakwater/runtime/internal";
import { getRun, getSteps, listRuns, type RunRow } from "./journal.ts";

export interface RunStatus {
  id: string;
  planId: string;
  state: RunRow["state"];
  phase: string;
  startedAt: string;
  finishedAt: string | null;
  error: RunRow["error"];
  /** set while `breakwater pause` holds the run's transform */
  pausedAt: string | null;
  /** set while the runner holds because the flag file throttle.pauseFile exists: its path, and since when */
  pauseFile: { path: string; since: string | null } | null;
  steps: { seq: number; phase: string; label: string; state: string; rows: number; durationMs: number | null }[];
}

/** `breakwater status [id]`: every run (or run `id`, BW_RUN_NOT_FOUND when there is none) and where it stands. Reads only; needs no lock. */
export async function runStatus(databaseUrl: string, runId?: string): Promise<RunStatus[]> {
  const db = await Database.connect(databaseUrl, { applicationName: "breakwater status" });
  try {
    const runs = runId === undefined ? await listRuns(db) : [await getRun(db, runId)];
    const result: RunStatus[] = [];
    for (const run of runs) {
      const steps = await getSteps(db, run.id);
      result.push({
        id: run.id,
        planId: run.plan_id,
        state: run.state,
        phase: run.phase,
        startedAt: run.started_at.toISOString(),
        finishedAt: run.finished_at ? run.finished_at.toISOString() : null,
        error: run.error,
        pausedAt: run.paused_at ? run.paused_at.toISOString() : null,
        // undefined in a journal written before the flag file existed
        pauseFile: run.pause_file ? { path: run.pause_file, since: run.pause_file_since ? run.pause_file_since.toISOString() : null } : null,
        steps: steps.map((s) => ({ seq: s.seq, phase: s.phase, label: s.label, state: s.state, rows: Number(s.rows), durationMs: s.duration_ms })),
      });
    }
    return result;
  } finally {
    await db.close();
  }
}
