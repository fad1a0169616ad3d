// The transform: keyset batches (or block ranges, walking a partitioned table's partitions)
// whose cursor is committed in the same transaction as each batch, so a crash never redoes or
// loses a batch; the batch size adapts to batch.maxMs, and progress is emitted after each batch.
import { setTimeout as sleep } from "node:timers/promises";
import { BreakwaterError, type Database } from "@breakwater/runtime/internal";
import { setLocalLockTimeout } from "../db/locks.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteTable } from "../db/quote.ts";
import type { TransformSpec } from "../operations/types.ts";
import { markStepDone } from "./journal.ts";
import { waitForReplicas } from "./replica-lag.ts";
import { withStepLockRetries, type ExecutionContext, type StepResult } from "./step.ts";

const integerKey = /^(smallint|integer|bigint)$/;

/** One batch: the table it updates, the rows it covers (SQL + parameters), and the cursor after it. */
interface Window {
  upper: string[];
  /** table rows the window spans (for progress) */
  rows: number;
  /** the quoted table the batch's UPDATE targets (a partition, for block ranges of a partitioned table) */
  target: string;
  range: { sql: string; params: unknown[] };
}

/** How one batch window is found: by key arithmetic (integer keys), by reading the next keys, or by block ranges. */
interface Windowing {
  /** rows the transform will cover from `cursor` on (for progress and ETA) */
  remaining(db: Database, cursor: string[] | null): Promise<number>;
  /** the window after `cursor`; null when done */
  next(db: Database, cursor: string[] | null, size: number): Promise<Window | null>;
}

interface PhysicalPart {
  /** quoted, as regclass prints it */
  name: string;
  blocks: number;
  perBlock: number;
}

/** The table itself, or for a partitioned table (which has no blocks of its own) every leaf partition, in name order. */
async function physicalParts(db: Database, table: string): Promise<{ partitioned: boolean; parts: PhysicalPart[] }> {
  const { rows } = await db.query<{ name: string; blocks: number; per_block: number; partitioned: boolean }>(
    `SELECT c.oid::regclass::text AS name, (pg_relation_size(c.oid) / current_setting('block_size')::int)::int8 AS blocks,
            coalesce(nullif(c.reltuples, -1) / nullif(c.relpages, 0), 50)::float8 AS per_block,
            (SELECT relkind = 'p' FROM pg_class WHERE oid = $1::regclass) AS partitioned
       FROM pg_class c
      -- pg_partition_tree() returns no row for a table that is not partitioned
      WHERE c.oid IN (SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf UNION ALL SELECT $1::regclass WHERE NOT EXISTS (SELECT FROM pg_partition_tree($1::regclass)))
        AND c.relkind <> 'p'
      ORDER BY c.relname, c.oid`,
    [table],
  );
  return { partitioned: rows[0]?.partitioned ?? false, parts: rows.map((r) => ({ name: r.name, blocks: Number(r.blocks), perBlock: Math.max(1, r.per_block) })) };
}

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
  const keys = transform.key;
  const keyColumns = keys.map((k) => quoteIdent(k.name)).join(", ");
  const tuple = (sqls: string[]) => (sqls.length === 1 ? sqls[0]! : `(${sqls.join(", ")})`);
  const params = (offset: number) => keys.map((k, i) => `$${offset + i}::${k.type}`);
  const keyTuple = tuple(keys.map((k) => quoteIdent(k.name)));
  const windowFilter = transform.windowOverAllRows ? null : transform.where;
  const conditions = (...extra: (string | null | false)[]) => [...extra.filter((e): e is string => typeof e === "string"), "true"].join(" AND ");
  const keyRange = (cursor: string[] | null, upper: string[]) => ({
    sql: conditions(cursor !== null && `${keyTuple} > ${tuple(params(1))}`, `${keyTuple} <= ${tuple(params(cursor === null ? 1 : 1 + keys.length))}`),
    params: [...(cursor ?? []), ...upper],
  });

  let windowing: Windowing;
  if (transform.idempotent && transform.where) {
    // Physical order: block ranges read by a TID Range Scan (PostgreSQL ≥ 14), as fast as a
    // sequential scan. Rows an update moves into a later block are seen again but no longer
    // match the WHERE, so each row is still written once; rows written by the application meanwhile
    // are kept right by the operation's trigger. A partitioned table has no blocks of its own: its
    // leaf partitions are walked one after the other, the cursor naming the partition.
    const { partitioned, parts } = await physicalParts(db, table);
    const position = (cursor: string[] | null) => {
      if (!cursor) return { part: 0, block: 0 };
      if (!partitioned) return { part: 0, block: Number(cursor[0]) };
      const part = parts.findIndex((p) => p.name === cursor[0]);
      if (part < 0)
        throw new BreakwaterError("BW_SQL_FAILED", `Partition ${cursor[0]} of ${displayTable(transform.table)}, where the transform stopped, is gone.`, {
          hint: "Partitions must not change during a run; roll the run back.",
        });
      return { part, block: Number(cursor[1]) };
    };
    windowing = {
      remaining: async (_db, cursor) => {
        const at = position(cursor);
        return Math.round(parts.reduce((sum, p, i) => sum + (i < at.part ? 0 : (p.blocks - (i === at.part ? at.block : 0)) * p.perBlock), 0));
      },
      next: async (_tx, cursor, size) => {
        let { part, block } = position(cursor);
        while (part < parts.length && block >= parts[part]!.blocks) {
          part += 1;
          block = 0;
        }
        const current = parts[part];
        if (!current) return null;
        const to = Math.min(current.blocks, block + Math.max(1, Math.round(size / current.perBlock)));
        return {
          upper: partitioned ? [current.name, String(to)] : [String(to)],
          rows: Math.round((to - block) * current.perBlock),
          target: current.name,
          range: { sql: `ctid >= ('(' || $1 || ',0)')::tid AND ctid < ('(' || $2 || ',0)')::tid`, params: [String(block), String(to)] },
        };
      },
    };
  } else if (keys.length === 1 && integerKey.test(keys[0]!.type) && !windowFilter) {
    const key = quoteIdent(keys[0]!.name);
    // min/max read the index ends; the row count comes from the statistics when there are any.
    const bounds = await db.one<{ lo: string | null; hi: string | null; n: number }>(
      `SELECT min(${key})::text AS lo, max(${key})::text AS hi,
              coalesce((SELECT nullif(reltuples, -1)::int8 FROM pg_class WHERE oid = $1::regclass), (SELECT count(*) FROM ${table}))::int8 AS n FROM ${table}`,
      [table],
    );
    let hi = bounds.hi === null ? null : BigInt(bounds.hi);
    const lo = bounds.lo === null ? 0n : BigInt(bounds.lo) - 1n;
    // Rows per key, so a key range of `size` rows can be sized on sparse keys too.
    const density = hi === null ? 1 : Math.min(1, bounds.n / Math.max(1, Number(hi - lo)));
    windowing = {
      remaining: async (_db, cursor) => {
        if (hi === null) return 0;
        const from = cursor ? BigInt(cursor[0]!) : lo;
        return Math.max(0, Math.round(Number(hi - from) * density));
      },
      next: async (tx, cursor, size) => {
        const from = cursor ? BigInt(cursor[0]!) : lo;
        if (hi === null || from >= hi) {
          if (transform.newRowsCovered) return null;
          // Rows added beyond the end while the transform ran are covered too.
          const latest = await tx.one<{ hi: string | null }>(`SELECT max(${key})::text AS hi FROM ${table}`);
          if (latest.hi === null || BigInt(latest.hi) <= from) return null;
          hi = BigInt(latest.hi);
        }
        const width = BigInt(Math.max(1, Math.round(size / Math.max(density, 1e-6))));
        const upper = [(from + width < hi ? from + width : hi).toString()];
        return { upper, rows: Math.max(1, Math.round(Number(BigInt(upper[0]!) - from) * density)), target: table, range: keyRange(cursor, upper) };
      },
    };
  } else {
    const single = keys.length === 1 && /^(smallint|integer|bigint|text|character varying.*|numeric.*|date|timestamp.*)$/.test(keys[0]!.type);
    // The last key when the transform started, when rows inserted later need no batch.
    const last =
      transform.newRowsCovered ?
        ((
          await db.query<Record<string, string>>(
            `SELECT ${keys.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(", ")} FROM ${table} ORDER BY ${keys.map((k) => `${quoteIdent(k.name)} DESC`).join(", ")} LIMIT 1`,
          )
        ).rows[0] ?? null)
      : null;
    const ceiling = last === null ? null : `${keyTuple} <= ${tuple(keys.map((k, i) => `${quoteLiteral(last[`k${i}`]!)}::${k.type}`))}`;
    const source = (hasCursor: boolean) =>
      `SELECT ${keyColumns} FROM ${table} WHERE ${conditions(hasCursor && `${keyTuple} > ${tuple(params(2))}`, windowFilter && `(${windowFilter})`, ceiling)} ORDER BY ${keyColumns} LIMIT $1`;
    windowing = {
      remaining: async (tx, cursor) =>
        (
          await tx.one<{ n: number }>(
            `SELECT count(*)::int8 AS n FROM ${table} WHERE ${conditions(cursor !== null && `${keyTuple} > ${tuple(params(1))}`, windowFilter && `(${windowFilter})`, ceiling)}`,
            cursor ?? [],
          )
        ).n,
      next: async (tx, cursor, size) => {
        const sql =
          single ?
            `SELECT count(*)::int8 AS window_size, max(${keyColumns})::text AS k0 FROM (${source(cursor !== null)}) AS w`
          : `SELECT window_size, ${keys.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(", ")}
               FROM (SELECT *, count(*) OVER () AS window_size FROM (${source(cursor !== null)}) AS w) AS x
              ORDER BY ${keys.map((k) => `${quoteIdent(k.name)} DESC`).join(", ")} LIMIT 1`;
        const row = (await tx.query<Record<string, string | null> & { window_size: number }>(sql, [size, ...(cursor ?? [])])).rows[0];
        if (!row || Number(row.window_size) === 0) return null;
        const upper = keys.map((_, i) => row[`k${i}`]!);
        return { upper, rows: Number(row.window_size), target: table, range: keyRange(cursor, upper) };
      },
    };
  }

  const updateSql = (window: Window) => `UPDATE ${window.target} SET ${transform.set} WHERE ${conditions(window.range.sql, transform.where && `(${transform.where})`)}`;

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
  let size = Math.max(1, Math.min(ctx.batch.size, 1000));
  const started = performance.now();
  const scannedAtStart = scanned;
  for (;;) {
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
    // Keep each batch well under maxMs: shrink quickly when slow, grow gently when fast.
    if (batchMs > ctx.batch.maxMs / 2) size = Math.max(1, Math.floor((size * ctx.batch.maxMs) / 2 / Math.max(batchMs, 1)));
    else if (batchMs < ctx.batch.maxMs / 4) size = Math.min(ctx.batch.size, Math.ceil(size * 2));
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
    if (ctx.batch.pauseMs > 0) await sleep(ctx.batch.pauseMs);
    else if (ctx.restRatio > 0) await sleep(batchMs * ctx.restRatio);
    await paceBatches(ctx, batchMs);
    await waitWhilePaused(ctx, transform.label);
    await waitForReplicas(ctx, transform.label, () => waitWhilePaused(ctx, transform.label));
  }
  const data = { scanned, batches, longestBatchMs, rowBound };
  await markStepDone(db, ctx.runId, seq, { lockMode: "ROW EXCLUSIVE", lockHoldMs: longestBatchMs, retries: retriesTotal, data });
  return { rows, lockMode: "ROW EXCLUSIVE", lockHoldMs: longestBatchMs, retries: retriesTotal, data };
}

/** throttle.maxBatchRate: a batch starts at most every 1/rate seconds (its own time included). */
async function paceBatches(ctx: ExecutionContext, batchMs: number): Promise<void> {
  if (ctx.maxBatchRate === null) return;
  const rest = 1000 / ctx.maxBatchRate - batchMs - ctx.batch.pauseMs;
  if (rest > 0) await sleep(rest);
}

/** How often a paused transform looks whether `breakwater continue` was given. */
const pausePollMs = 250;

/**
 * `breakwater pause <run>` sets the run's paused_at: the transform stops between two batches (no
 * transaction open, no lock held) and looks again every pausePollMs until it is cleared.
 */
async function waitWhilePaused(ctx: ExecutionContext, label: string): Promise<void> {
  const pausedAt = async () => (await ctx.db.one<{ paused_at: Date | null }>("SELECT paused_at FROM breakwater.runs WHERE id = $1", [ctx.runId])).paused_at;
  const since = await pausedAt();
  if (since === null) return;
  const started = performance.now();
  ctx.emit({ type: "paused", runId: ctx.runId, label, since: since.toISOString() });
  while ((await pausedAt()) !== null) await sleep(pausePollMs);
  ctx.emit({ type: "continued", runId: ctx.runId, label, pausedMs: Math.round(performance.now() - started) });
}
