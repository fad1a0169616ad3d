// The transform: keyset batches (or block ranges, walking a partitioned table's partitions)
// whose cursor is committed in the same transaction as each batch, so a crash never redoes or
// loses a batch; the batch size adapts to batch.maxMs, and progress is emitted after each batch.
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { setLocalLockTimeout } from "../db/locks.ts";
import { displayTable, quoteTable } from "../db/quote.ts";
import type { TransformSpec } from "../operations/types.ts";
import { markStepDone } from "./journal.ts";
import { betweenBatches, firstBatchSize, holdWhilePaused, nextBatchSize } from "./pacing.ts";
import { withStepLockRetries, type ExecutionContext, type StepResult } from "./step.ts";
import { allOf, blockWindows, keyWindows, type Window, type Windowing } from "./windows.ts";

/**
 * The transform: keyset batches `key > cursor AND key <= upper` (never OFFSET). Integer keys step
 * through key ranges without reading them first; other keys read the next `size` keys (matching
 * the WHERE unless windowOverAllRows). Each batch is one transaction that also advances the cursor
 * in the journal, so a crash never redoes or loses a batch. The batch size adapts so a batch stays
 * under batch.maxMs, and never exceeds batch.size rows.
 */
export async function executeTransform(
  ctx: ExecutionContext,
  seq: number,
  transform: TransformSpec,
  startCursor: string[] | null,
  startRows: number,
  startData: Record<string, unknown> | null,
): Promise<StepResult> {
  const { db } = ctx;
  const table = quoteTable(transform.table);
  // Block ranges when re-running the SET on a row is impossible by construction: rows an update
  // moves into a later block are seen again but no longer match the WHERE, so each row is still
  // written once; rows written by the application meanwhile are kept right by the operation's trigger.
  const windowing: Windowing =
    transform.idempotent && transform.where ?
      await blockWindows(db, transform.table)
    : await keyWindows(db, {
        table: transform.table,
        key: transform.key,
        filter: transform.windowOverAllRows ? null : transform.where,
        newRowsCovered: transform.newRowsCovered === true,
      });

  const updateSql = (window: Window) => `UPDATE ${window.target} SET ${transform.set} WHERE ${allOf(window.range.sql, transform.where && `(${transform.where})`)}`;

  let cursor = startCursor;
  let rows = startRows;
  let scanned = Number(startData?.scanned ?? 0);
  let batches = Number(startData?.batches ?? 0);
  let longestBatchMs = Number(startData?.longestBatchMs ?? 0);
  let retriesTotal = 0;
  const total = scanned + (await windowing.remaining(db, cursor));
  // Every row is changed at most once, so a transform can never change more rows than the table
  // holds; if it does, something moves rows ahead of the batches (a trigger changing the key) and
  // the loop would never end. The estimate is replaced by an exact count when it is exceeded.
  let rowBound = Math.max(total, Number(startData?.rowBound ?? 0));
  const checkBound = async () => {
    if (rows <= rowBound) return;
    rowBound = Math.max(rowBound, (await db.one<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${table}`)).n);
    if (rows > rowBound) {
      throw new BreakwaterError(
        "BW_TRANSFORM_UNBOUNDED",
        `The transform of ${displayTable(transform.table)} changed ${rows} rows, more than the ${rowBound} rows the table holds: something moves rows ahead of the batches (a trigger changing the key?). Stopped.`,
        {
          hint: "Find what changes the rows' keys (triggers on the table), then `breakwater rollback` the run, or fix it and `breakwater resume`. Maintenance mode stays on meanwhile.",
        },
      );
    }
  };
  let size = firstBatchSize(ctx);
  const started = performance.now();
  const scannedAtStart = scanned;
  for (;;) {
    await holdWhilePaused(ctx, transform.label);
    let batchMs = 0;
    let done = false;
    const { retries } = await withStepLockRetries(ctx, transform.label, [transform.table], async () => {
      const batchStart = performance.now();
      await db.transaction(async (tx) => {
        await setLocalLockTimeout(tx, ctx.lock.lockTimeoutMs);
        const window = await windowing.next(tx, cursor, size);
        if (!window) {
          done = true;
          return;
        }
        const changed = (await tx.query(updateSql(window), window.range.params)).rowCount;
        const newScanned = scanned + window.rows;
        const newLongest = Math.max(longestBatchMs, performance.now() - batchStart);
        const journaled = await tx.query(`UPDATE breakwater.steps SET cursor = $3, rows = rows + $4, data = $5 WHERE run_id = $1 AND seq = $2`, [
          ctx.runId,
          seq,
          JSON.stringify(window.upper),
          changed,
          JSON.stringify({ scanned: newScanned, batches: batches + 1, longestBatchMs: newLongest, rowBound }),
        ]);
        // A batch whose cursor is not recorded would be done again after a crash: never commit one.
        if (journaled.rowCount !== 1)
          throw new BreakwaterError("BW_INTERNAL", `The journal has no step ${seq} of run ${ctx.runId} to record the transform's progress in; the batch was not applied.`);
        // Only after COMMIT do these become the state (a rolled-back batch leaves them as they were).
        cursor = window.upper;
        rows += changed;
        scanned = newScanned;
        batches += 1;
        longestBatchMs = newLongest;
      });
      batchMs = performance.now() - batchStart;
    });
    retriesTotal += retries;
    if (done) break;
    await checkBound();
    longestBatchMs = Math.max(longestBatchMs, batchMs);
    size = nextBatchSize(ctx, size, batchMs);
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? (scanned - scannedAtStart) / seconds : 0;
    ctx.emit({
      type: "progress",
      runId: ctx.runId,
      label: transform.label,
      rows,
      scanned,
      total: Math.max(total, scanned),
      rowsPerSecond: rate,
      etaSeconds: rate > 0 ? Math.max(0, (total - scanned) / rate) : null,
      batchSize: size,
      lastBatchMs: batchMs,
    });
    await betweenBatches(ctx, transform.label, batchMs, { wrote: true });
  }
  const data = { scanned, batches, longestBatchMs, rowBound };
  await markStepDone(db, ctx.runId, seq, { lockMode: "ROW EXCLUSIVE", lockHoldMs: longestBatchMs, retries: retriesTotal, data });
  return { rows, lockMode: "ROW EXCLUSIVE", lockHoldMs: longestBatchMs, retries: retriesTotal, data };
}
