// The phase machine of one run: preflight → expand → maintenance on → snapshot → transform →
// verify → contract → final checks → maintenance off → report, and its rollback. Every step is
// journaled, so a run driven again (resume) continues from the last committed one.
import type { ResolvedConfig } from "../config/config.ts";
import { BreakwaterError, Database, isBreakwaterError, isConnectionLoss, type MaintenanceStore, sqlErrorInfo } from "@breakwater/runtime/internal";
import type { LockPolicy } from "../db/locks.ts";
import { quoteTable } from "../db/quote.ts";
import { createBackup } from "../backup/backup.ts";
import { lowerFence, raiseFence } from "../maintenance/write-fence.ts";
import type { TableRef } from "../db/quote.ts";
import type { Action, CheckSpec } from "../operations/types.ts";
import type { Plan } from "../plan/plan.ts";
import { buildMigrationLog, type MigrationLog } from "../report/migration-log.ts";
import type { CheckResult, EventSink, RunnerEvent } from "./events.ts";
import { executeAction } from "./actions.ts";
import { CheckFailure, evaluateChecks, scalar, verifyChecks } from "./checks.ts";
import { executeSnapshot, restoreSnapshot } from "./snapshot.ts";
import type { ExecutionContext, StepResult } from "./step.ts";
import { awaitOldFormQuiet } from "./old-form.ts";
import { executeTransform } from "./transform.ts";
import { replicaLagState } from "./replica-lag.ts";
import { getRun, getSteps, insertSteps, markStepDone, markStepFailed, markStepRunning, updateRun, type RunRow } from "./journal.ts";
import { buildProgram, keepsMaintenance, newValuesUnreadable, type Program, type ProgramStep } from "./program.ts";
import { RunnerSession, type SessionPolicy } from "./session.ts";

export interface RunnerOptions {
  config: ResolvedConfig;
  databaseUrl: string;
  /** the maintenance store the run turns on and off (the CLI builds it from the config) */
  store: MaintenanceStore;
  emit?: EventSink;
  /** how long a lost connection is retried before the run stops, resumable (default: reconnect.timeoutMs of the config) */
  reconnectTimeoutMs?: number;
  /** stop, resumable, before the first contract step (`--stop-before contract`) */
  stopBeforeContract?: boolean;
}

export const maxReconnects = 10;

export function sessionPolicy(options: RunnerOptions): SessionPolicy {
  return { reconnectTimeoutMs: options.reconnectTimeoutMs ?? options.config.reconnectTimeoutMs };
}

/** Opens the runner's session; what it has to say before a run exists goes out as a warning. */
export function openSession(options: RunnerOptions, command: string): Promise<RunnerSession> {
  return RunnerSession.open(options.databaseUrl, command, sessionPolicy(options), (message) => options.emit?.({ type: "warning", runId: "", message }));
}

export interface RunOutcome {
  runId: string;
  state: RunRow["state"];
  log: MigrationLog;
}

/** A failure after which the run's report exists (check failed and rolled back, or step failed). */
export class RunFailure extends BreakwaterError {
  readonly outcome: RunOutcome;
  constructor(cause: BreakwaterError, outcome: RunOutcome) {
    super(cause.code, cause.message, { hint: cause.hint ?? "", details: cause.details ?? {} });
    this.outcome = outcome;
  }
}

export function toBreakwaterError(error: unknown, label: string): BreakwaterError {
  if (isBreakwaterError(error)) return error;
  const info = sqlErrorInfo(error);
  if (isConnectionLoss(error)) {
    return new BreakwaterError("BW_CONNECTION_FAILED", `Lost the database connection during "${label}": ${info.message}`, {
      hint: "Nothing committed is lost: run `breakwater resume` when the database is reachable again.",
    });
  }
  return new BreakwaterError("BW_SQL_FAILED", `Step "${label}" failed: ${info.message}${info.sqlstate ? ` (SQLSTATE ${info.sqlstate})` : ""}`, {
    details: { sqlstate: info.sqlstate },
  });
}

/** Data errors (SQLSTATE classes 22 and 23) would fail again on resume: undo instead. */
function isDeterministicDataError(error: BreakwaterError): boolean {
  const sqlstate = error.details?.sqlstate;
  return error.code === "BW_CHECK_FAILED" || (typeof sqlstate === "string" && (sqlstate.startsWith("22") || sqlstate.startsWith("23")));
}

function userChecks(plan: Plan): { checks: CheckSpec[]; measures: { name: string; sql: string }[] } {
  const checks: CheckSpec[] = [];
  const measures: { name: string; sql: string }[] = [];
  plan.checks.forEach((check, i) => {
    if (check.expect === "before") {
      measures.push({ name: `check:${i}`, sql: check.sql });
      checks.push({ name: check.name, sql: check.sql, expect: { equalsMeasures: [`check:${i}`] } });
    } else {
      checks.push({ name: check.name, sql: check.sql, expect: { equals: check.expect } });
    }
  });
  return { checks, measures };
}

export class RunExecution {
  readonly ctx: ExecutionContext;
  run: RunRow;
  readonly program: Program;
  readonly options: RunnerOptions;
  private readonly session: RunnerSession;

  constructor(session: RunnerSession, run: RunRow, options: RunnerOptions) {
    this.run = run;
    this.options = options;
    this.session = session;
    const batch = { ...options.config.batch, ...definedOnly(run.plan.batch) };
    this.ctx = {
      db: session.db,
      runId: run.id,
      lock: run.plan.online ? onlineLockPolicy(options.config.lock) : options.config.lock,
      batch,
      maxBatchRate: options.config.maxBatchRate,
      restRatio: run.plan.online && batch.pauseMs === 0 ? onlineRestRatio : 0,
      replicaLag: replicaLagState(options.config.maxReplicaLagMs),
      pauseFile: options.config.pauseFile,
      emit: options.emit ?? (() => undefined),
      measures: run.measures ?? {},
    };
    this.program = buildProgram(run.id, run.plan, run.facts, options.config.shadowThresholdRows, run.plan.backup === "full" || run.plan.backup === "both");
  }

  emit(event: RunnerEvent): void {
    this.ctx.emit(event);
  }

  get db(): Database {
    return this.ctx.db;
  }

  async refresh(): Promise<void> {
    this.run = await getRun(this.db, this.run.id);
  }

  /**
   * Runs `work` (which continues from the journal when called again), reconnecting when the
   * connection is lost: every step's effect commits with its journal entry, so starting over
   * after a reconnect redoes nothing. Past the reconnect budget: BW_CONNECTION_FAILED.
   */
  async persist<T>(label: string, work: () => Promise<T>): Promise<T> {
    for (let reconnects = 0; ; reconnects++) {
      try {
        return await work();
      } catch (error) {
        const failure = toBreakwaterError(error, label);
        if (failure.code !== "BW_CONNECTION_FAILED" && !this.db.isClosed && !isConnectionLoss(error)) throw error;
        // A statement that takes the server down every time must not loop for ever.
        if (reconnects >= maxReconnects) {
          throw new BreakwaterError(
            "BW_CONNECTION_FAILED",
            `Lost the database connection ${reconnects + 1} times during this command; the last time during "${label}": ${failure.message}`,
            {
              hint: `Look at the server's log for what ends the connection, then run \`breakwater resume ${this.run.id}\`. Maintenance mode and the write fence stay on meanwhile.`,
            },
          );
        }
        const cause = isBreakwaterError(error) ? error.message : `during "${label}": ${sqlErrorInfo(error).message}`;
        await this.session.reconnect(this.run.id, cause, sessionPolicy(this.options), (message) => this.emit({ type: "warning", runId: this.run.id, message }));
        this.ctx.db = this.session.db;
        await this.refresh();
        Object.assign(this.ctx.measures, this.run.measures ?? {});
      }
    }
  }

  async recordChecks(results: CheckResult[]): Promise<void> {
    const kept = (this.run.checks ?? []).filter((c) => !results.some((r) => r.name === c.name && r.phase === c.phase));
    this.run.checks = [...kept, ...results];
    await updateRun(this.db, this.run.id, { checks: this.run.checks });
    for (const result of results) this.emit({ type: "check", runId: this.run.id, result });
  }

  /** Executes every step not yet done, in order. */
  async execute(): Promise<void> {
    const rows = new Map((await getSteps(this.db, this.run.id)).map((s) => [s.seq, s]));
    for (const step of this.program.steps) {
      const row = rows.get(step.seq);
      if (row && (row.state === "done" || row.state === "skipped")) continue;
      if (step.phase === "contract" && this.options.stopBeforeContract) {
        throw new BreakwaterError(
          "BW_STOPPED_BEFORE_CONTRACT",
          `Stopped before the contract, as asked (--stop-before contract): the transform is done and verified; nothing of the contract has run.`,
          {
            hint: `Deploy what must run before the contract (the application built from the new schema), then \`breakwater resume ${this.run.id}\`; or \`breakwater rollback ${this.run.id}\`. ${this.meanwhile()}`,
          },
        );
      }
      await updateRun(this.db, this.run.id, { phase: step.phase });
      this.emit({ type: "step-start", runId: this.run.id, seq: step.seq, phase: step.phase, label: step.label });
      await markStepRunning(this.db, this.run.id, step.seq);
      const started = performance.now();
      try {
        const result = await this.executeStep(step, row?.cursor ?? null, Number(row?.rows ?? 0), row?.data ?? null);
        this.emit({
          type: "step-done",
          runId: this.run.id,
          seq: step.seq,
          phase: step.phase,
          label: step.label,
          durationMs: performance.now() - started,
          rows: result.rows,
          skipped: result.skipped ?? false,
          lockHoldMs: result.lockHoldMs,
          lockMode: result.lockMode,
        });
      } catch (error) {
        const failure = toBreakwaterError(error, step.label);
        await markStepFailed(this.db, this.run.id, step.seq, { code: failure.code, message: failure.message }).catch(() => undefined);
        throw failure;
      }
    }
  }

  private async executeStep(step: ProgramStep, cursor: string[] | null, rows: number, data: Record<string, unknown> | null): Promise<StepResult> {
    const empty: StepResult = { rows: 0, lockMode: null, lockHoldMs: null, retries: 0, data: null };
    switch (step.kind) {
      case "preflight":
        await markStepDone(this.db, this.run.id, step.seq, {});
        return empty;
      case "action":
        return await executeAction(this.ctx, step.seq, step.action);
      case "snapshot":
        return await executeSnapshot(this.ctx, step.seq, step.snapshot);
      case "measure":
        return await this.measure(step.seq);
      case "fence":
        await this.raiseFence();
        await markStepDone(this.db, this.run.id, step.seq, { data: { fenced: this.options.config.maintenance.fence ? this.fencedTables().length : 0 } });
        return empty;
      case "backup": {
        const backup = await createBackup(this.options.databaseUrl, this.options.config.backup, {
          label: `before-${this.run.plan_id}`,
          emit: this.ctx.emit,
        });
        const data = { path: backup.path, sizeBytes: backup.manifest.sizeBytes, sha256: backup.manifest.sha256 };
        await markStepDone(this.db, this.run.id, step.seq, { data });
        return { rows: 0, lockMode: "ACCESS SHARE", lockHoldMs: null, retries: 0, data };
      }
      case "transform":
        return await executeTransform(this.ctx, step.seq, step.transform, cursor, rows, data);
      case "marker":
        return await this.marker(step);
      case "old-form":
        return await awaitOldFormQuiet(this.ctx, step.seq, step.watch, this.run.started_at);
    }
  }

  private async measure(seq: number): Promise<StepResult> {
    const all = [...this.program.plans.flatMap((p) => p.measures), ...userChecks(this.run.plan).measures];
    const measures: Record<string, number | string | boolean | null> = {};
    // One snapshot for every count, so they agree with each other; read-only, so a measure
    // (a check's query measured "before") can change nothing.
    await this.db.readOnly(async (tx) => {
      for (const m of all) measures[m.name] = await scalar(tx, m.sql);
    }, "REPEATABLE READ");
    await this.db.transaction(async (tx) => {
      await updateRun(tx, this.run.id, { measures });
      await markStepDone(tx, this.run.id, seq, { data: { measures } });
    });
    Object.assign(this.ctx.measures, measures);
    return { rows: 0, lockMode: "ACCESS SHARE", lockHoldMs: null, retries: 0, data: { measures } };
  }

  private async marker(step: ProgramStep): Promise<StepResult> {
    const empty: StepResult = { rows: 0, lockMode: null, lockHoldMs: null, retries: 0, data: null };
    switch (step.phase) {
      case "maintenance_on": {
        // Record the intent first: a crash between the two leaves a state resume understands.
        const store = this.options.store;
        const created = !(await store.read()).enabled || this.run.maintenance_created;
        await updateRun(this.db, this.run.id, { maintenance_created: created, maintenance_on_at: new Date() });
        const unreadable = newValuesUnreadable(this.run.plan);
        const mode = unreadable ? "full" : this.options.config.maintenance.mode;
        if (created) {
          await store.enable({ mode, retryAfter: this.options.config.maintenance.retryAfter, reason: `breakwater run ${this.run.id} (${this.run.plan_id})`, runId: this.run.id });
        }
        this.run.maintenance_created = created;
        this.emit({ type: "maintenance", runId: this.run.id, enabled: true, file: store.location });
        if (unreadable) {
          this.emit({
            type: "warning",
            runId: this.run.id,
            message: `Maintenance is full (reads refused too) and stays on after the run until \`breakwater maintenance off\`: ${unreadable}. Deploy the application that knows the new values, then turn maintenance off.`,
          });
        }
        await markStepDone(this.db, this.run.id, step.seq, { data: { store: store.kind, location: store.location, created, mode, reason: unreadable } });
        return empty;
      }
      case "verify": {
        const checks = [...this.program.plans.flatMap((p) => p.checks), ...userChecks(this.run.plan).checks];
        // Under the write fence nothing else writes: one query per check is exact and the shortest.
        const fenced = this.program.maintenance && this.options.config.maintenance.fence;
        const { results, batches } = await verifyChecks(this.ctx, checks, { batched: !fenced });
        await this.recordChecks(results);
        if (results.some((r) => !r.ok)) throw new CheckFailure(results);
        await markStepDone(this.db, this.run.id, step.seq, { data: { checked: results.length, batches } });
        return empty;
      }
      case "final_checks": {
        const results = await this.db.readOnly((tx) =>
          evaluateChecks(
            tx,
            this.program.plans.flatMap((p) => p.finalChecks),
            this.ctx.measures,
            "final",
          ),
        );
        // Checks evaluated inside contract transactions are kept with the run, too.
        const steps = await getSteps(this.db, this.run.id);
        const inContract = steps.flatMap((s) => (s.phase === "contract" && Array.isArray(s.data?.checks) ? (s.data.checks as CheckResult[]) : []));
        await this.recordChecks([...inContract, ...results]);
        if (results.some((r) => !r.ok)) throw new CheckFailure(results);
        await markStepDone(this.db, this.run.id, step.seq, {});
        return empty;
      }
      case "maintenance_off": {
        if (keepsMaintenance(this.run.plan)) {
          await this.lowerFence();
          const store = this.options.store;
          const why =
            this.run.plan.keepMaintenance === true ?
              "as the plan asks: deploy the contract migration (breakwater deploy) and"
            : "because the application serving now cannot read the new enum values:";
          this.emit({
            type: "warning",
            runId: this.run.id,
            message: `Maintenance mode stays on (${store.location}), ${why} deploy the application built from the new schema, then run \`breakwater maintenance off\`.`,
          });
          await markStepDone(this.db, this.run.id, step.seq, {});
          return empty;
        }
        await this.maintenanceOff();
        await markStepDone(this.db, this.run.id, step.seq, {});
        return empty;
      }
      case "report": {
        await this.finish("completed", null);
        await markStepDone(this.db, this.run.id, step.seq, {});
        return empty;
      }
      default:
        throw new BreakwaterError("BW_INTERNAL", `no executor for phase ${step.phase}`);
    }
  }

  /** The tables whose data the run changes. */
  fencedTables(): TableRef[] {
    const all = this.program.plans.flatMap((p) => [...p.snapshots.map((s) => s.table), ...p.transforms.map((t) => t.table)]);
    return all.filter((t, i) => all.findIndex((u) => u.schema === t.schema && u.name === t.name) === i);
  }

  async raiseFence(): Promise<void> {
    if (!this.options.config.maintenance.fence) return;
    const { partitionsGuarded } = await raiseFence(this.db, this.run.id, this.fencedTables(), this.ctx.lock, (info) =>
      this.emit({ type: "lock-retry", runId: this.run.id, label: "raise the write fence", info }),
    );
    if (!partitionsGuarded) {
      this.emit({
        type: "warning",
        runId: this.run.id,
        message:
          "Every partition is fenced, but ATTACH / DETACH PARTITION on the fenced tables cannot be refused during this run: that needs an event trigger, which only a superuser may create. Do not change their partitions until the run has finished.",
      });
    }
  }

  async lowerFence(): Promise<void> {
    await lowerFence(this.db, this.run.id, this.ctx.lock, (info) => this.emit({ type: "lock-retry", runId: this.run.id, label: "lower the write fence", info }));
  }

  async maintenanceOff(): Promise<void> {
    await this.lowerFence();
    const store = this.options.store;
    if (this.run.maintenance_created && (await store.read()).enabled) {
      await store.disable();
      this.emit({ type: "maintenance", runId: this.run.id, enabled: false, file: store.location });
    }
    if (this.run.maintenance_on_at) await updateRun(this.db, this.run.id, { maintenance_off_at: new Date() });
  }

  async finish(state: RunRow["state"], error: BreakwaterError | null): Promise<MigrationLog> {
    await updateRun(this.db, this.run.id, {
      state,
      finished_at: state === "failed" ? null : new Date(),
      error: error ? { code: error.code, message: error.message, hint: error.hint } : null,
      // no runner holds on the flag file any more
      pause_file: null,
      pause_file_since: null,
    });
    await this.refresh();
    const log = buildMigrationLog(this.run, await getSteps(this.db, this.run.id), this.program.plans);
    await updateRun(this.db, this.run.id, { report: log });
    return log;
  }

  /**
   * Returns data and schema to the state before the run; maintenance stays on until then. When
   * it meets rows it cannot put back, the fence comes down (maintenance stays on) so that they
   * can be fixed, as the error asks.
   */
  async rollback(reason: string): Promise<void> {
    try {
      await this.persist("rollback", () => this.rollbackSteps(reason));
    } catch (error) {
      if (isBreakwaterError(error, "BW_ROLLBACK_CONFLICT")) await this.lowerFence();
      throw error;
    }
  }

  private async rollbackSteps(reason: string): Promise<void> {
    await updateRun(this.db, this.run.id, { state: "rolling_back" });
    this.emit({ type: "rollback-start", runId: this.run.id, reason });
    const store = this.options.store;
    // Online, or when no step needs writers stopped, every step undoes itself with the
    // application running, as it did itself.
    if (this.program.maintenance && !(await store.read()).enabled) {
      await updateRun(this.db, this.run.id, { maintenance_created: true, maintenance_on_at: this.run.maintenance_on_at ?? new Date(), maintenance_off_at: null });
      const { mode, retryAfter } = this.options.config.maintenance;
      await store.enable({ mode, retryAfter, reason: `breakwater rollback of ${this.run.id}`, runId: this.run.id });
      this.run.maintenance_created = true;
      this.emit({ type: "maintenance", runId: this.run.id, enabled: true, file: store.location });
    }
    if (this.program.maintenance) await this.raiseFence();
    const steps = await getSteps(this.db, this.run.id);
    const byOp = (i: number) => steps.filter((s) => s.op_index === i && s.phase !== "rollback");
    for (let i = this.program.plans.length - 1; i >= 0; i--) {
      const plan = this.program.plans[i]!;
      const opSteps = byOp(i);
      const committed = this.program.steps.some((p) => p.kind === "action" && p.opIndex === i && p.action.commitPoint && opSteps.find((s) => s.seq === p.seq)?.state === "done");
      const started = opSteps.some((s) => s.state !== "pending");
      if (!started) continue;
      const kind = this.run.plan.steps[i]!.op;
      if (committed) {
        if (plan.rollbackAfterContract === undefined) {
          throw new BreakwaterError("BW_ROLLBACK_CONFLICT", `Step ${i + 1} (${kind}) passed its contract and cannot be undone automatically.`, {
            hint: "Restore the backup taken before the run; maintenance mode stays on.",
          });
        }
        await this.rollbackActions(i, plan.rollbackAfterContract, 0);
      } else {
        const transformed = opSteps.some((s) => s.phase === "transform" && (s.state !== "pending" || s.cursor !== null));
        if (transformed) {
          for (const [n, snapshot] of plan.snapshots.entries()) {
            if (!snapshot.restoreOnRollback) continue;
            await this.rollbackStep(i, 50 + n, `restore ${snapshot.columns.join(", ")} of ${snapshot.table.name} from the snapshot`, async () => ({
              rows: await restoreSnapshot(this.ctx, snapshot),
              lockHoldMs: null,
            }));
          }
        }
        await this.rollbackActions(i, plan.rollback, 0);
      }
    }
    for (const plan of this.program.plans) {
      for (const snapshot of plan.snapshots) await this.db.query(`DROP TABLE IF EXISTS ${quoteTable(snapshot.into)}`);
    }
    await this.maintenanceOff();
  }

  private async rollbackActions(opIndex: number, actions: Action[], offset: number): Promise<void> {
    for (const [k, action] of actions.entries()) {
      await this.rollbackStep(opIndex, offset + k, action.label, async (seq) => {
        try {
          const result = await executeAction(this.ctx, seq, action);
          return { rows: result.rows, lockHoldMs: result.lockHoldMs, done: true };
        } catch (error) {
          const info = sqlErrorInfo(error);
          if (info.sqlstate === "22P02") {
            throw new BreakwaterError(
              "BW_ROLLBACK_CONFLICT",
              `Cannot undo "${action.label}": ${info.message}. Rows written after the migration use values the old schema does not have.`,
              {
                hint: `Maintenance mode stays on, and the write fence is lowered so that you can change or delete those rows; then run \`breakwater rollback ${this.run.id}\` again.`,
              },
            );
          }
          throw error;
        }
      });
    }
  }

  /** One journaled rollback step (seq 1000+), skipped when already done. */
  private async rollbackStep(opIndex: number, k: number, label: string, fn: (seq: number) => Promise<{ rows: number; lockHoldMs: number | null; done?: boolean }>): Promise<void> {
    const seq = 1000 + opIndex * 100 + k;
    await insertSteps(this.db, this.run.id, [{ seq, phase: "rollback", opIndex, label }]);
    const existing = (await getSteps(this.db, this.run.id)).find((s) => s.seq === seq);
    if (existing?.state === "done") return;
    this.emit({ type: "step-start", runId: this.run.id, seq, phase: "rollback", label });
    await markStepRunning(this.db, this.run.id, seq);
    const started = performance.now();
    const result = await fn(seq);
    if (!result.done) await markStepDone(this.db, this.run.id, seq, { rows: result.rows });
    this.emit({
      type: "step-done",
      runId: this.run.id,
      seq,
      phase: "rollback",
      label,
      durationMs: performance.now() - started,
      rows: result.rows,
      skipped: false,
      lockHoldMs: result.lockHoldMs,
      lockMode: null,
    });
  }

  /** What the application meets while the run waits for a resume. */
  private meanwhile(): string {
    if (this.run.plan.online) return "The run is online: the application keeps working meanwhile.";
    return this.program.maintenance ? "Maintenance mode stays on meanwhile." : "No step of the run needs maintenance mode: the application keeps working meanwhile.";
  }

  /** Runs the remaining steps; on a failed check undoes everything, otherwise leaves the run resumable. */
  async drive(): Promise<RunOutcome> {
    try {
      await this.persist("run", async () => {
        await this.execute();
        await this.refresh();
      });
      return { runId: this.run.id, state: "completed", log: this.run.report as MigrationLog };
    } catch (error) {
      const failure = toBreakwaterError(error, "run");
      if (failure.code === "BW_CONNECTION_FAILED" || this.db.isClosed) throw failure;
      if (isDeterministicDataError(failure)) {
        try {
          await this.rollback(failure.message);
        } catch (rollbackError) {
          const rb = toBreakwaterError(rollbackError, "rollback");
          const log = await this.finish("failed", new BreakwaterError(rb.code, `${failure.message} — and the automatic rollback failed: ${rb.message}`, { hint: rb.hint ?? "" }));
          throw new RunFailure(rb, { runId: this.run.id, state: "failed", log });
        }
        const log = await this.finish("rolled_back", failure);
        throw new RunFailure(failure, { runId: this.run.id, state: "rolled_back", log });
      }
      const hinted = new BreakwaterError(failure.code, failure.message, {
        hint: failure.hint ?? `Fix the cause, then \`breakwater resume ${this.run.id}\` to continue, or \`breakwater rollback ${this.run.id}\` to undo. ${this.meanwhile()}`,
        details: failure.details ?? {},
      });
      const log = await this.finish("failed", hinted);
      throw new RunFailure(hinted, { runId: this.run.id, state: "failed", log });
    }
  }
}

/**
 * A statement waiting for a table lock makes every later statement on the table queue behind it,
 * the application's reads included: online, a lock request gives up after at most 50 ms (and is
 * retried more often), so no application query waits longer than that on one.
 */
export function onlineLockPolicy(lock: LockPolicy): LockPolicy {
  return { ...lock, lockTimeoutMs: Math.min(lock.lockTimeoutMs, onlineLockTimeoutMs), retries: Math.max(lock.retries, 40), maxBackoffMs: Math.min(lock.maxBackoffMs, 2000) };
}

export const onlineLockTimeoutMs = 50;

/** Online, a batch of the fill is followed by a rest as long as itself (see ExecutionContext.restRatio). */
export const onlineRestRatio = 1;

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
