// Executing one journaled step: DDL actions under lock_timeout with retries (the lock taken
// explicitly and its hold timed), snapshots, checks, and keyset-batched transforms whose cursor
// is committed in the same transaction as each batch, so a crash never redoes or loses a batch.
import { columnType } from "../db/catalog.ts";
import type { Database } from "../db/database.ts";
import { setLocalLockTimeout, withLockRetries, type LockPolicy } from "../db/locks.ts";
import { quoteIdent, quoteTable } from "../db/quote.ts";
import { BreakwaterError } from "../errors.ts";
import type { BatchPolicy } from "../config/config.ts";
import type { Action, CheckSpec, SnapshotSpec, TransformSpec } from "../operations/types.ts";
import type { CheckResult, EventSink } from "./events.ts";
import { markStepDone } from "./journal.ts";

export interface StepResult {
  rows: number;
  lockMode: string | null;
  lockHoldMs: number | null;
  retries: number;
  data: Record<string, unknown> | null;
  skipped?: boolean;
}

type Measures = Record<string, number | string | boolean | null>;

export interface ExecutionContext {
  db: Database;
  runId: string;
  lock: LockPolicy;
  batch: BatchPolicy;
  emit: EventSink;
  measures: Measures;
}

/** A failed check, carrying every result so the report can show the numbers. */
export class CheckFailure extends BreakwaterError {
  readonly results: CheckResult[];
  constructor(results: CheckResult[]) {
    const failed = results.filter((r) => !r.ok);
    super("BW_CHECK_FAILED", `Check failed: ${failed.map((r) => `${r.name} (expected ${String(r.expected)}, got ${String(r.actual)})`).join("; ")}`, {
      hint: "The data was restored from the snapshot; see the report for every check and its numbers.",
    });
    this.results = results;
  }
}

const now = () => performance.now();

function normalise(value: unknown): number | boolean | string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return Number(value);
  const text = String(value);
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
}

export async function scalar(db: Database, sql: string): Promise<number | boolean | string | null> {
  const result = await db.query(sql);
  const row = result.rows[0];
  if (!row) return null;
  return normalise(Object.values(row)[0]);
}

export async function evaluateChecks(db: Database, checks: CheckSpec[], measures: Measures, phase: CheckResult["phase"]): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    let expected: number | boolean | string;
    if ("equals" in check.expect) expected = check.expect.equals;
    else {
      let sum = 0;
      for (const name of check.expect.equalsMeasures) {
        const value = measures[name];
        if (typeof value !== "number") throw new BreakwaterError("BW_INTERNAL", `measure ${name} missing for check ${check.name}`);
        sum += value;
      }
      expected = sum;
    }
    let actual: number | boolean | string | null;
    try {
      actual = await scalar(db, check.sql);
    } catch (error) {
      throw new BreakwaterError("BW_CHECK_FAILED", `Check "${check.name}" could not run: ${(error as Error).message}`, { hint: "Fix the check's SQL; the data was restored." });
    }
    const ok = actual !== null && (typeof expected === "number" ? Number(actual) === expected : String(actual) === String(expected));
    results.push({ name: check.name, ok, expected, actual, phase });
  }
  return results;
}

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
    const { value: ms, retries } = await withLockRetries(db, ctx.lock, action.label, tables, async () => {
      for (const sql of action.outsideTransaction!.cleanupBeforeRetry) await db.query(sql);
      await db.query("SELECT set_config('lock_timeout', $1, false)", [`${ctx.lock.lockTimeoutMs}ms`]);
      const start = now();
      try {
        for (const sql of action.statements) await db.query(sql);
      } finally {
        await db.query("SELECT set_config('lock_timeout', '0', false)");
      }
      return now() - start;
    }, (info) => ctx.emit({ type: "lock-retry", runId: ctx.runId, label: action.label, info }));
    await markStepDone(db, ctx.runId, seq, { rows: 0, lockMode: "SHARE UPDATE EXCLUSIVE", lockHoldMs: ms, retries });
    return { rows: 0, lockMode: "SHARE UPDATE EXCLUSIVE", lockHoldMs: ms, retries, data: null };
  }
  let checkResults: CheckResult[] = [];
  const { value, retries } = await withLockRetries(db, ctx.lock, action.label, tables, async () => {
    let lockedAt: number | null = null;
    const start = now();
    let rows = 0;
    await db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, ctx.lock.lockTimeoutMs);
      const lock = lockStatement(action);
      if (lock) {
        await tx.query(lock);
        lockedAt = now();
      }
      for (const sql of action.statements) rows += (await tx.query(sql)).rowCount;
      if (action.checks && action.checks.length > 0) {
        checkResults = await evaluateChecks(tx, action.checks, ctx.measures, "contract");
        if (checkResults.some((r) => !r.ok)) throw new CheckFailure(checkResults);
      }
      await markStepDone(tx, ctx.runId, seq, { rows, lockMode: action.lock?.mode ?? null, retries: 0, data: checkResults.length ? { checks: checkResults } : null });
    });
    const end = now();
    return { rows, holdMs: lockedAt === null ? null : end - lockedAt, durationMs: end - start };
  }, (info) => ctx.emit({ type: "lock-retry", runId: ctx.runId, label: action.label, info }));
  // The hold time is only known after COMMIT; recording it is not part of the atomic step.
  await db.query("UPDATE breakwater.steps SET lock_hold_ms = $3, retries = $4 WHERE run_id = $1 AND seq = $2", [ctx.runId, seq, value.holdMs, retries]);
  for (const result of checkResults) ctx.emit({ type: "check", runId: ctx.runId, result });
  return { rows: value.rows, lockMode: action.lock?.mode ?? null, lockHoldMs: value.holdMs, retries, data: checkResults.length ? { checks: checkResults } : null };
}

/** Copies exactly the rows and columns a transform will change into the breakwater schema. */
export async function executeSnapshot(ctx: ExecutionContext, seq: number, snapshot: SnapshotSpec): Promise<StepResult> {
  const { db } = ctx;
  const valueColumns = snapshot.columns.filter((c) => !snapshot.key.some((k) => k.name === c));
  const selectList = [
    ...snapshot.key.map((k) => quoteIdent(k.name)),
    ...valueColumns.map((c) => (snapshot.asText ? `${quoteIdent(c)}::text AS ${quoteIdent(c)}` : quoteIdent(c))),
  ].join(", ");
  const { value, retries } = await withLockRetries(db, ctx.lock, "snapshot", [snapshot.table], async () => {
    let rows = 0;
    const start = now();
    await db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, ctx.lock.lockTimeoutMs);
      await tx.query(`DROP TABLE IF EXISTS ${quoteTable(snapshot.into)}`);
      rows = (
        await tx.query(
          `CREATE TABLE ${quoteTable(snapshot.into)} AS SELECT ${selectList} FROM ${quoteTable(snapshot.table)}${snapshot.where ? ` WHERE ${snapshot.where}` : ""}`,
        )
      ).rowCount;
      await tx.query(`ALTER TABLE ${quoteTable(snapshot.into)} ADD PRIMARY KEY (${snapshot.key.map((k) => quoteIdent(k.name)).join(", ")})`);
      await markStepDone(tx, ctx.runId, seq, { rows, lockMode: "ACCESS SHARE", data: { table: `${snapshot.into.schema}.${snapshot.into.name}` } });
    });
    return { rows, ms: now() - start };
  }, (info) => ctx.emit({ type: "lock-retry", runId: ctx.runId, label: "snapshot", info }));
  return { rows: value.rows, lockMode: "ACCESS SHARE", lockHoldMs: value.ms, retries, data: null };
}

/** Puts the snapshot's values back into the table (rollback before the contract). */
export async function restoreSnapshot(ctx: ExecutionContext, snapshot: SnapshotSpec): Promise<number> {
  const { db } = ctx;
  const exists = await scalar(db, `SELECT to_regclass('${quoteTable(snapshot.into).replaceAll("'", "''")}') IS NOT NULL`);
  if (exists !== true) return 0;
  const sets: string[] = [];
  for (const c of snapshot.columns.filter((c) => !snapshot.key.some((k) => k.name === c))) {
    const type = snapshot.asText ? await columnType(db, snapshot.table, c) : null;
    sets.push(`${quoteIdent(c)} = s.${quoteIdent(c)}${type ? `::${type}` : ""}`);
  }
  const match = snapshot.key.map((k) => `t.${quoteIdent(k.name)} = s.${quoteIdent(k.name)}`).join(" AND ");
  const { value } = await withLockRetries(db, ctx.lock, "restore snapshot", [snapshot.table], async () =>
    db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, ctx.lock.lockTimeoutMs);
      return (await tx.query(`UPDATE ${quoteTable(snapshot.table)} AS t SET ${sets.join(", ")} FROM ${quoteTable(snapshot.into)} AS s WHERE ${match}`)).rowCount;
    }),
  (info) => ctx.emit({ type: "lock-retry", runId: ctx.runId, label: "restore snapshot", info }));
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The transform: keyset batches `key > cursor AND key <= upper` over the rows matching the
 * transform's WHERE, never OFFSET. Each batch is one
 * transaction that also advances the cursor in the journal. Batch size adapts so a batch stays
 * under batch.maxMs, and never exceeds batch.size rows.
 */
export async function executeTransform(ctx: ExecutionContext, seq: number, transform: TransformSpec, startCursor: string[] | null, startRows: number, startData: Record<string, unknown> | null): Promise<StepResult> {
  const { db } = ctx;
  const table = quoteTable(transform.table);
  const keys = transform.key;
  const keyColumns = keys.map((k) => quoteIdent(k.name)).join(", ");
  const tuple = (sqls: string[]) => (sqls.length === 1 ? sqls[0]! : `(${sqls.join(", ")})`);
  const params = (offset: number) => keys.map((k, i) => `$${offset + i}::${k.type}`);
  const keyTuple = tuple(keys.map((k) => quoteIdent(k.name)));
  const upperSql = (hasCursor: boolean) =>
    `WITH window_rows AS (SELECT ${keyColumns} FROM ${table} WHERE ${[...(hasCursor ? [`${keyTuple} > ${tuple(params(2))}`] : []), ...(transform.where ? [`(${transform.where})`] : []), "true"].join(" AND ")} ORDER BY ${keyColumns} LIMIT $1)
     SELECT (SELECT count(*) FROM window_rows)::int8 AS window_size, ${keys.map((k) => `${quoteIdent(k.name)}::text AS ${quoteIdent(`k_${k.name}`)}`).join(", ")}
       FROM window_rows ORDER BY ${keys.map((k) => `${quoteIdent(k.name)} DESC`).join(", ")} LIMIT 1`;
  const updateSql = (hasCursor: boolean) => {
    const lowerParams = params(1);
    const upperParams = params(hasCursor ? 1 + keys.length : 1);
    const conditions = [
      ...(hasCursor ? [`${keyTuple} > ${tuple(lowerParams)}`] : []),
      `${keyTuple} <= ${tuple(upperParams)}`,
      ...(transform.where ? [`(${transform.where})`] : []),
    ];
    return `UPDATE ${table} SET ${transform.set} WHERE ${conditions.join(" AND ")}`;
  };

  let cursor = startCursor;
  let rows = startRows;
  let scanned = Number(startData?.scanned ?? 0);
  let batches = Number(startData?.batches ?? 0);
  let longestBatchMs = Number(startData?.longestBatchMs ?? 0);
  let retriesTotal = 0;
  const remaining = [...(cursor ? [`${keyTuple} > ${tuple(params(1))}`] : []), ...(transform.where ? [`(${transform.where})`] : []), "true"].join(" AND ");
  const totalRow = await db.one<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${table} WHERE ${remaining}`, cursor ?? []);
  const total = scanned + totalRow.n;
  let size = Math.max(1, Math.min(ctx.batch.size, 1000));
  const started = now();
  const scannedAtStart = scanned;
  for (;;) {
    let batchMs = 0;
    let done = false;
    const { retries } = await withLockRetries(db, ctx.lock, transform.label, [transform.table], async () => {
      const batchStart = now();
      await db.transaction(async (tx) => {
        await setLocalLockTimeout(tx, ctx.lock.lockTimeoutMs);
        const upper = await tx.query<Record<string, string> & { window_size: number }>(upperSql(cursor !== null), [size, ...(cursor ?? [])]);
        const upperRow = upper.rows[0];
        if (!upperRow) {
          done = true;
          return;
        }
        const upperKey = keys.map((k) => upperRow[`k_${k.name}`]!);
        const changed = (await tx.query(updateSql(cursor !== null), [...(cursor ?? []), ...upperKey])).rowCount;
        const newScanned = scanned + Number(upperRow.window_size);
        const elapsed = now() - batchStart;
        const newLongest = Math.max(longestBatchMs, elapsed);
        await tx.query(
          `UPDATE breakwater.steps SET cursor = $3, rows = rows + $4, data = $5 WHERE run_id = $1 AND seq = $2`,
          [ctx.runId, seq, JSON.stringify(upperKey), changed, JSON.stringify({ scanned: newScanned, batches: batches + 1, longestBatchMs: newLongest })],
        );
        // Only after COMMIT do these become the state (a rollback of this batch leaves them as they were).
        cursor = upperKey;
        rows += changed;
        scanned = newScanned;
        batches += 1;
        longestBatchMs = newLongest;
      });
      batchMs = now() - batchStart;
    }, (info) => ctx.emit({ type: "lock-retry", runId: ctx.runId, label: transform.label, info }));
    retriesTotal += retries;
    if (done) break;
    longestBatchMs = Math.max(longestBatchMs, batchMs);
    // Keep each batch well under maxMs: shrink quickly when slow, grow gently when fast.
    if (batchMs > ctx.batch.maxMs / 2) size = Math.max(1, Math.floor((size * ctx.batch.maxMs) / 2 / Math.max(batchMs, 1)));
    else if (batchMs < ctx.batch.maxMs / 4) size = Math.min(ctx.batch.size, Math.ceil(size * 2));
    const seconds = (now() - started) / 1000;
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
  }
  const data = { scanned, batches, longestBatchMs };
  await markStepDone(db, ctx.runId, seq, { lockMode: "ROW EXCLUSIVE", lockHoldMs: longestBatchMs, retries: retriesTotal, data });
  return { rows, lockMode: "ROW EXCLUSIVE", lockHoldMs: longestBatchMs, retries: retriesTotal, data };
}
