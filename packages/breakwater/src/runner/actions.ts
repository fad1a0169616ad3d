// DDL actions: each in its own transaction under lock_timeout with retries (the lock taken
// explicitly and its hold timed), or outside any transaction for CONCURRENTLY; the step is marked
// done in the same transaction as the action.
import { setLocalLockTimeout } from "../db/locks.ts";
import { quoteTable } from "../db/quote.ts";
import type { Action } from "../operations/types.ts";
import { CheckFailure, evaluateChecks, scalar } from "./checks.ts";
import type { CheckResult } from "./events.ts";
import { markStepDone } from "./journal.ts";
import { withStepLockRetries, type ExecutionContext, type StepResult } from "./step.ts";

function lockStatement(action: Action): string | null {
  if (!action.lock || action.lock.tables.length === 0) return null;
  return `LOCK TABLE ${action.lock.tables.map(quoteTable).join(", ")} IN ${action.lock.mode} MODE`;
}

/** Runs one action: its own transaction (or none for CONCURRENTLY), marked done atomically. */
export async function executeAction(ctx: ExecutionContext, seq: number, action: Action): Promise<StepResult> {
  const { db } = ctx;
  const tables = action.lock?.tables ?? [];
  if (action.outsideTransaction) {
    const skip = await scalar(db, action.outsideTransaction.skipIf);
    if (skip === true) return { rows: 0, lockMode: null, lockHoldMs: null, retries: 0, data: null, skipped: true };
    const { value: ms, retries } = await withStepLockRetries(ctx, action.label, tables, async () => {
      for (const sql of action.outsideTransaction!.cleanupBeforeRetry) await db.query(sql);
      await db.query("SELECT set_config('lock_timeout', $1, false)", [`${ctx.lock.lockTimeoutMs}ms`]);
      const start = performance.now();
      try {
        for (const sql of action.statements) await db.query(sql);
      } finally {
        await db.query("SELECT set_config('lock_timeout', '0', false)");
      }
      return performance.now() - start;
    });
    await markStepDone(db, ctx.runId, seq, { rows: 0, lockMode: "SHARE UPDATE EXCLUSIVE", lockHoldMs: ms, retries });
    return { rows: 0, lockMode: "SHARE UPDATE EXCLUSIVE", lockHoldMs: ms, retries, data: null };
  }
  let checkResults: CheckResult[] = [];
  const { value, retries } = await withStepLockRetries(ctx, action.label, tables, async () => {
    let lockedAt: number | null = null;
    const start = performance.now();
    let rows = 0;
    await db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, ctx.lock.lockTimeoutMs);
      const lock = lockStatement(action);
      if (lock) {
        await tx.query(lock);
        lockedAt = performance.now();
      }
      for (const sql of action.statements) rows += (await tx.query(sql)).rowCount;
      if (action.checks && action.checks.length > 0) {
        checkResults = await evaluateChecks(tx, action.checks, ctx.measures, "contract");
        if (checkResults.some((r) => !r.ok)) throw new CheckFailure(checkResults);
      }
      await markStepDone(tx, ctx.runId, seq, { rows, lockMode: action.lock?.mode ?? null, retries: 0, data: checkResults.length ? { checks: checkResults } : null });
    });
    const end = performance.now();
    return { rows, holdMs: lockedAt === null ? null : end - lockedAt, durationMs: end - start };
  });
  // The hold time is only known after COMMIT; recording it is not part of the atomic step.
  await db.query("UPDATE breakwater.steps SET lock_hold_ms = $3, retries = $4 WHERE run_id = $1 AND seq = $2", [ctx.runId, seq, value.holdMs, retries]);
  for (const result of checkResults) ctx.emit({ type: "check", runId: ctx.runId, result });
  return { rows: value.rows, lockMode: action.lock?.mode ?? null, lockHoldMs: value.holdMs, retries, data: checkResults.length ? { checks: checkResults } : null };
}
