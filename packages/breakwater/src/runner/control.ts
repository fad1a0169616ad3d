// `breakwater pause <run>` and `breakwater continue <run>`: a flag on the run in the journal, which
// the runner's transform reads between two batches (no transaction open, no lock held then).
import { BreakwaterError, Database } from "@breakwater/runtime/internal";
import { ensureJournal, getRun } from "./journal.ts";

export interface PauseState {
  runId: string;
  paused: boolean;
  /** false when the run already was as asked */
  changed: boolean;
  state: string;
  phase: string;
}

/** Sets or clears the run's pause flag. Only a running run can be paused; any paused one continued. */
export async function setPaused(databaseUrl: string, runId: string, paused: boolean): Promise<PauseState> {
  const db = await Database.connect(databaseUrl, { applicationName: `breakwater ${paused ? "pause" : "continue"}` });
  try {
    const run = await getRun(db, runId);
    if (paused && run.state !== "running") {
      throw new BreakwaterError("BW_RUN_NOT_RUNNING", `Run ${run.id} is ${run.state.replace("_", " ")}; only a running run can be paused.`, {
        hint: "`breakwater status` shows where each run stands.",
      });
    }
    // A journal written before pausing existed gets its column (the runner reading it does the same).
    await ensureJournal(db);
    const { rows } = await db.query<{ was: Date | null }>(
      `UPDATE breakwater.runs AS r SET paused_at = CASE WHEN $2 THEN coalesce(r.paused_at, clock_timestamp()) END
       FROM breakwater.runs AS before WHERE r.id = $1 AND before.id = r.id RETURNING before.paused_at AS was`,
      [run.id, paused],
    );
    return { runId: run.id, paused, changed: (rows[0]?.was !== null) !== paused, state: run.state, phase: run.phase };
  } finally {
    await db.close();
  }
}
