// `breakwater cleanup`: drops what completed runs kept for a rollback after completion — their
// snapshot tables in the breakwater schema, and what online contracts set aside instead of
// dropping (old columns and types, with the triggers keeping them filled) — once they are older
// than a given age. Such a run can no longer be rolled back afterwards, and `rollback` says so
// instead of failing midway. Runs that are unfinished keep everything (resume and rollback need it).
import { quoteTable } from "../db/quote.ts";
import { setLocalLockTimeout, withLockRetries, type LockPolicy } from "../db/locks.ts";
import { ensureJournal, journalExists, listRuns } from "./journal.ts";
import { buildProgram } from "./program.ts";
import { RunnerSession } from "./session.ts";

export interface CleanupRun {
  id: string;
  planId: string;
  finishedAt: string;
  tables: { name: string; bytes: number }[];
  /** what the run's contracts set aside, as the operations describe it */
  setAside: string[];
}

export interface CleanupResult {
  dryRun: boolean;
  runs: CleanupRun[];
  bytes: number;
}

/** The snapshot tables a run created: breakwater.snap_<run id without punctuation>_… (see planContext). */
export function snapshotPrefix(runId: string): string {
  return `snap_${runId.replace(/[^a-z0-9]/gi, "").toLowerCase()}_`;
}

/**
 * Drops the snapshot tables of completed runs that finished more than `olderThanSeconds` ago and
 * marks those runs cleaned. Takes the runner lock, so no rollback reads a snapshot meanwhile.
 */
export async function cleanup(databaseUrl: string, options: { olderThanSeconds: number; dryRun: boolean; reconnectTimeoutMs: number; lock: LockPolicy }): Promise<CleanupResult> {
  const session = await RunnerSession.open(databaseUrl, "cleanup", { reconnectTimeoutMs: options.reconnectTimeoutMs }, () => undefined);
  try {
    const { db } = session;
    if (!(await journalExists(db))) return { dryRun: options.dryRun, runs: [], bytes: 0 };
    await ensureJournal(db);
    const cutoff = Date.now() - options.olderThanSeconds * 1000;
    const runs: CleanupRun[] = [];
    for (const run of await listRuns(db)) {
      if (run.state !== "completed" || !run.finished_at || run.finished_at.getTime() > cutoff) continue;
      const { rows } = await db.query<{ name: string; bytes: number }>(
        `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'breakwater' AND c.relkind = 'r' AND starts_with(c.relname, $1) ORDER BY c.relname`,
        [snapshotPrefix(run.id)],
      );
      // The facts fix every choice the plan made, so the program is the one the run executed.
      const setAside =
        run.cleaned_at ?
          []
        : buildProgram(run.id, run.plan, run.facts, 0)
            // Last step first, as a rollback undoes them: a later step may depend on an earlier one's objects.
            .plans.toReversed()
            .flatMap((plan) => plan.cleanup ?? []);
      if (rows.length === 0 && setAside.length === 0) continue;
      runs.push({
        id: run.id,
        planId: run.plan_id,
        finishedAt: run.finished_at.toISOString(),
        tables: rows.map((r) => ({ name: r.name, bytes: Number(r.bytes) })),
        setAside: setAside.map((action) => action.label),
      });
      if (options.dryRun) continue;
      // Each under lock_timeout with retries: dropping a column takes a brief exclusive lock.
      for (const action of setAside) {
        const tables = action.lock?.tables ?? [];
        await withLockRetries(db, options.lock, action.label, tables, () =>
          db.transaction(async (tx) => {
            await setLocalLockTimeout(tx, options.lock.lockTimeoutMs);
            if (action.lock && tables.length > 0) await tx.query(`LOCK TABLE ${tables.map(quoteTable).join(", ")} IN ${action.lock.mode} MODE`);
            for (const sql of action.statements) await tx.query(sql);
          }),
        );
      }
      await db.transaction(async (tx) => {
        for (const table of rows) await tx.query(`DROP TABLE IF EXISTS ${quoteTable({ schema: "breakwater", name: table.name })}`);
        await tx.query("UPDATE breakwater.runs SET cleaned_at = clock_timestamp() WHERE id = $1", [run.id]);
      });
    }
    return { dryRun: options.dryRun, runs, bytes: runs.reduce((sum, run) => sum + run.tables.reduce((s, t) => s + t.bytes, 0), 0) };
  } finally {
    await session.close();
  }
}
