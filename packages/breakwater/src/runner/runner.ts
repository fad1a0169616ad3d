// Starting, resuming and rolling back runs: one runner per database (the session's advisory
// lock), a run recorded with all its steps before any of them runs.
import { randomBytes } from "node:crypto";
import { BreakwaterError, Database, isBreakwaterError, isConnectionLoss, sqlErrorInfo } from "@breakwater/runtime/internal";
import { checkQuery } from "../db/sql-fragments.ts";
import { takeOverFence } from "../maintenance/write-fence.ts";
import { operations } from "../operations/registry.ts";
import type { LoadedPlan } from "../plan/plan.ts";
import { ensureJournal, journalExists, getRun, getSteps, holderDescription, insertRun, insertSteps, listRuns, updateRun, type RunRow } from "./journal.ts";
import { buildProgram, planContext } from "./program.ts";
import { maxReconnects, openSession, RunExecution, sessionPolicy, toBreakwaterError, type RunnerOptions, type RunOutcome } from "./execution.ts";
import type { RunnerSession } from "./session.ts";

export { RunFailure, type RunnerOptions, type RunOutcome } from "./execution.ts";
export { runStatus, type RunStatus } from "./status.ts";

function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `${stamp}-${randomBytes(2).toString("hex")}`;
}

/** `breakwater run <plan>` */
export async function runPlan(loaded: LoadedPlan, options: RunnerOptions): Promise<RunOutcome> {
  const session = await openSession(options, "run");
  try {
    const runId = newRunId();
    await session.setApplicationName(`breakwater run ${runId} (${holderDescription()})`);
    const run = await recordRun(session, loaded, options, runId);
    const execution = new RunExecution(session, run, options);
    options.emit?.({ type: "run", runId, planId: loaded.plan.id, resumed: false });
    return await execution.drive();
  } finally {
    await session.close();
  }
}

/**
 * Preflight, then the run and all its steps recorded in one transaction (a run is never in the
 * journal without its steps, which resume relies on). Preflight reads only, so a connection lost
 * before that transaction commits is taken back and preflight starts again.
 */
async function recordRun(session: RunnerSession, loaded: LoadedPlan, options: RunnerOptions, runId: string): Promise<RunRow> {
  for (let reconnects = 0; ; reconnects++) {
    try {
      const db = session.db;
      // After a lost connection: did the transaction recording the run commit before it went?
      if (reconnects > 0 && (await journalExists(db)) && (await db.query("SELECT 1 FROM breakwater.runs WHERE id = $1", [runId])).rowCount > 0) return await getRun(db, runId);
      const facts = await preflight(db, loaded, options, runId);
      await ensureJournal(db);
      // The backup choice is fixed with the run, so a resume builds the same steps.
      const plan = { ...loaded.plan, backup: loaded.plan.backup ?? options.config.backup.beforeRun };
      const program = buildProgram(runId, plan, facts, options.config.shadowThresholdRows, plan.backup === "full" || plan.backup === "both");
      await db.transaction(async (tx) => {
        await insertRun(tx, { id: runId, plan, planPath: loaded.path, planSha256: loaded.sha256, facts });
        await insertSteps(
          tx,
          runId,
          program.steps.map((s) => ({ seq: s.seq, phase: s.phase, opIndex: s.opIndex, label: s.label })),
        );
      });
      return await getRun(db, runId);
    } catch (error) {
      if (!isConnectionLoss(error) && !isBreakwaterError(error, "BW_CONNECTION_FAILED")) throw error;
      if (reconnects >= maxReconnects) throw toBreakwaterError(error, "preflight");
      await session.reconnect(runId, `during "preflight": ${sqlErrorInfo(error).message}`, sessionPolicy(options), (message) =>
        options.emit?.({ type: "warning", runId, message }),
      );
    }
  }
}

/** Reads only: a plan that cannot run changes nothing, not even the journal. Returns each step's facts. */
async function preflight(db: Database, loaded: LoadedPlan, options: RunnerOptions, runId: string): Promise<unknown[]> {
  // A plan is applied once; an unfinished run of it must be resumed or rolled back first.
  if (await journalExists(db)) {
    const previous = (await listRuns(db)).find((r) => r.plan_id === loaded.plan.id && r.state !== "rolled_back");
    if (previous?.state === "completed") {
      throw new BreakwaterError("BW_PLAN_INVALID", `Plan ${loaded.plan.id} was already applied by run ${previous.id} on ${previous.started_at.toISOString()}.`, {
        hint: `To apply it again, roll that run back first (\`breakwater rollback ${previous.id}\`) or give the plan a new id.`,
      });
    }
    if (previous) {
      throw new BreakwaterError("BW_PLAN_INVALID", `Run ${previous.id} of plan ${loaded.plan.id} is unfinished (${previous.state.replace("_", " ")}).`, {
        hint: `Continue it with \`breakwater resume ${previous.id}\` or undo it with \`breakwater rollback ${previous.id}\`.`,
      });
    }
  }
  for (const check of loaded.plan.checks) await checkQuery(check.sql, `check "${check.name}": \`sql\``);
  const facts: unknown[] = [];
  for (const [i, step] of loaded.plan.steps.entries()) {
    facts.push(await operations[step.op]!.inspect(db, step.input, planContext(runId, i, options.config.shadowThresholdRows, loaded.plan.online)));
  }
  return facts;
}

async function latestUnfinished(db: Database): Promise<RunRow> {
  const runs = await listRuns(db);
  const run = runs.find((r) => r.state === "running" || r.state === "failed" || r.state === "rolling_back");
  if (!run) throw new BreakwaterError("BW_NOTHING_TO_RESUME", "No unfinished run in this database.", { hint: "`breakwater status` lists the runs." });
  return run;
}

/** `breakwater resume [id]`: continues a run (or its rollback) from the last committed step. */
export async function resumeRun(runId: string | undefined, options: RunnerOptions): Promise<RunOutcome> {
  const session = await openSession(options, "resume");
  try {
    const { db } = session;
    if (!(await journalExists(db)))
      throw new BreakwaterError("BW_NOTHING_TO_RESUME", "breakwater has never run on this database.", { hint: "Start with `breakwater run <plan>`." });
    await ensureJournal(db);
    const run = runId ? await getRun(db, runId) : await latestUnfinished(db);
    if (run.state === "completed" || run.state === "rolled_back") {
      throw new BreakwaterError("BW_NOTHING_TO_RESUME", `Run ${run.id} is already ${run.state.replace("_", " ")}.`);
    }
    await session.setApplicationName(`breakwater resume ${run.id} (${holderDescription()})`);
    const execution = new RunExecution(session, run, options);
    // A run is resumed along the steps it was started with: a version of breakwater that orders
    // them otherwise must not take it over halfway.
    const planned = new Map(execution.program.steps.map((s) => [s.seq, s.label]));
    const differs = (await getSteps(db, run.id)).find((s) => s.seq < 1000 && planned.has(s.seq) && planned.get(s.seq) !== s.label);
    if (differs) {
      throw new BreakwaterError(
        "BW_PLAN_CHANGED",
        `Run ${run.id} was started by a version of breakwater whose steps differ from this one's (step ${differs.seq} is "${differs.label}" in the journal, "${planned.get(differs.seq)}" here). Nothing was changed.`,
        { hint: `Resume it with the version that started it, or \`breakwater rollback ${run.id}\`.` },
      );
    }
    // Steps a runner of an earlier version did not journal before it died (each row's cursor must exist).
    await insertSteps(
      db,
      run.id,
      execution.program.steps.map((s) => ({ seq: s.seq, phase: s.phase, opIndex: s.opIndex, label: s.label })),
    );
    // The crashed runner's session is gone: this one becomes the writer the fence lets through.
    await takeOverFence(db, run.id);
    options.emit?.({ type: "run", runId: run.id, planId: run.plan_id, resumed: true });
    if (run.state === "rolling_back") {
      await execution.rollback("resuming an interrupted rollback");
      const log = await execution.finish("rolled_back", run.error ? new BreakwaterError(run.error.code as "BW_CHECK_FAILED", run.error.message) : null);
      return { runId: run.id, state: "rolled_back", log };
    }
    await updateRun(execution.db, run.id, { state: "running", holder: holderDescription(), error: null });
    return await execution.drive();
  } finally {
    await session.close();
  }
}

/** `breakwater rollback <id>`: data and schema back to the state before the run. */
export async function rollbackRunById(runId: string, options: RunnerOptions): Promise<RunOutcome> {
  const session = await openSession(options, "rollback");
  try {
    const { db } = session;
    const run = await getRun(db, runId);
    if (run.state === "rolled_back") throw new BreakwaterError("BW_NOTHING_TO_RESUME", `Run ${run.id} is already rolled back.`);
    // A journal written by an earlier version gets the columns this one records (runs.pause_file).
    await ensureJournal(db);
    await session.setApplicationName(`breakwater rollback ${run.id} (${holderDescription()})`);
    const execution = new RunExecution(session, run, options);
    // cleanup marks a run only when it dropped something the run kept for its rollback.
    if (run.cleaned_at) {
      throw new BreakwaterError(
        "BW_ROLLBACK_CONFLICT",
        `Run ${run.id}'s snapshots and what it set aside were removed by \`breakwater cleanup\` on ${run.cleaned_at.toISOString()}: what it changed can no longer be put back from them. Nothing was changed.`,
        { hint: "Restore a backup taken before the run (`breakwater restore`), or write a plan that changes the rows back." },
      );
    }
    await takeOverFence(db, run.id);
    try {
      await execution.rollback(`requested by breakwater rollback ${run.id}`);
    } catch (error) {
      const failure = toBreakwaterError(error, "rollback");
      if (failure.code !== "BW_CONNECTION_FAILED") await updateRun(execution.db, run.id, { error: { code: failure.code, message: failure.message, hint: failure.hint } });
      throw failure;
    }
    const log = await execution.finish("rolled_back", null);
    return { runId: run.id, state: "rolled_back", log };
  } finally {
    await session.close();
  }
}
