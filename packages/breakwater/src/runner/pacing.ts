// Between two batches of a transform or of a row check: the rest (batch.pauseMs, or online the
// rest ratio), throttle.maxBatchRate, the wait for standbys after a batch that wrote
// (throttle.maxReplicaLagMs), and the hold while paused (`breakwater pause`, or the flag file
// throttle.pauseFile exists). No transaction is open and no lock held meanwhile.
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { waitForReplicas } from "./replica-lag.ts";
import type { ExecutionContext } from "./step.ts";

/** How often a paused run looks whether `breakwater continue` was given or the flag file removed. */
const pausePollMs = 250;

/** After a batch that took `batchMs`: rest, pace, and (when it wrote) wait while a standby lags. */
export async function betweenBatches(ctx: ExecutionContext, label: string, batchMs: number, options: { wrote: boolean }): Promise<void> {
  if (ctx.batch.pauseMs > 0) await sleep(ctx.batch.pauseMs);
  else if (ctx.restRatio > 0) await sleep(batchMs * ctx.restRatio);
  await paceBatches(ctx, batchMs);
  if (options.wrote) await waitForReplicas(ctx, label, () => holdWhilePaused(ctx, label));
}

/** The first batch's size: small, so the first measure of batch.maxMs is cheap. */
export function firstBatchSize(ctx: ExecutionContext): number {
  return Math.max(1, Math.min(ctx.batch.size, 1000));
}

/** The next batch's size, to keep each batch well under batch.maxMs: shrink quickly when slow, grow gently when fast; never over batch.size. */
export function nextBatchSize(ctx: ExecutionContext, size: number, batchMs: number): number {
  if (batchMs > ctx.batch.maxMs / 2) return Math.max(1, Math.floor((size * ctx.batch.maxMs) / 2 / Math.max(batchMs, 1)));
  if (batchMs < ctx.batch.maxMs / 4) return Math.min(ctx.batch.size, Math.ceil(size * 2));
  return size;
}

/** throttle.maxBatchRate: a batch starts at most every 1/rate seconds (its own time included). */
async function paceBatches(ctx: ExecutionContext, batchMs: number): Promise<void> {
  if (ctx.maxBatchRate === null) return;
  const rest = 1000 / ctx.maxBatchRate - batchMs - ctx.batch.pauseMs;
  if (rest > 0) await sleep(rest);
}

interface RunPause {
  paused_at: Date | null;
  pause_file: string | null;
  pause_file_since: Date | null;
}

/**
 * Before each batch: holds while `breakwater pause <run>` has set the run's paused_at (until it is
 * cleared), or while the file throttle.pauseFile exists (until it is removed; one existsSync per
 * batch), looking again every pausePollMs. The journal records the flag file the run holds on
 * (runs.pause_file), so `breakwater status` says why.
 */
export async function holdWhilePaused(ctx: ExecutionContext, label: string): Promise<void> {
  let held: "pause" | "flag-file" | null = null;
  let started = 0;
  for (;;) {
    const flag = ctx.pauseFile !== null && existsSync(ctx.pauseFile);
    const run = await ctx.db.one<RunPause>("SELECT paused_at, pause_file, pause_file_since FROM breakwater.runs WHERE id = $1", [ctx.runId]);
    let flagSince = run.pause_file_since;
    if (flag && run.pause_file !== ctx.pauseFile) {
      flagSince = (
        await ctx.db.one<{ since: Date }>("UPDATE breakwater.runs SET pause_file = $2, pause_file_since = clock_timestamp() WHERE id = $1 RETURNING pause_file_since AS since", [
          ctx.runId,
          ctx.pauseFile,
        ])
      ).since;
    } else if (!flag && run.pause_file !== null) {
      await ctx.db.query("UPDATE breakwater.runs SET pause_file = NULL, pause_file_since = NULL WHERE id = $1", [ctx.runId]);
    }
    const reason =
      flag ? "flag-file"
      : run.paused_at !== null ? "pause"
      : null;
    if (reason === null) break;
    if (reason !== held) {
      if (held === null) started = performance.now();
      held = reason;
      ctx.emit(
        reason === "flag-file" ?
          { type: "paused", runId: ctx.runId, label, since: (flagSince ?? new Date()).toISOString(), reason, file: ctx.pauseFile! }
        : { type: "paused", runId: ctx.runId, label, since: run.paused_at!.toISOString(), reason },
      );
    }
    await sleep(pausePollMs);
  }
  if (held !== null) ctx.emit({ type: "continued", runId: ctx.runId, label, pausedMs: Math.round(performance.now() - started) });
}
