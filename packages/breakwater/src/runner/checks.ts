// Checks: a value check is one scalar query, compared with a constant or with the sum of measures
// taken before the transform; a row check counts the rows a predicate finds wrong. In the verify
// phase a row check is read in keyset batches, each a short read-only query, so verifying a table
// of millions of rows under live load is never one long statement.
import { BreakwaterError, isConnectionLoss, type Database } from "@breakwater/runtime/internal";
import { quoteIdent, quoteLiteral, quoteTable } from "../db/quote.ts";
import type { CheckSpec, RowCheck, ValueCheck } from "../operations/types.ts";
import type { CheckResult } from "./events.ts";
import { betweenBatches, firstBatchSize, holdWhilePaused, nextBatchSize } from "./pacing.ts";
import type { ExecutionContext } from "./step.ts";
import { allOf, keyWindows } from "./windows.ts";

export type Measures = Record<string, number | string | boolean | null>;

function describeResult(r: CheckResult): string {
  const got = r.atLeast ? `at least ${String(r.actual)}` : String(r.actual);
  return `${r.name} (expected ${String(r.expected)}, got ${got}${r.example === undefined ? "" : `; first: ${r.example}`})`;
}

/** A failed check, carrying every result so the report can show the numbers. */
export class CheckFailure extends BreakwaterError {
  readonly results: CheckResult[];
  constructor(results: CheckResult[]) {
    const failed = results.filter((r) => !r.ok);
    super("BW_CHECK_FAILED", `Check failed: ${failed.map(describeResult).join("; ")}`, {
      hint: "The run was rolled back: data and schema are as they were before it. The report lists every check with its numbers.",
    });
    this.results = results;
  }
}

export function isRowCheck(check: CheckSpec): check is RowCheck {
  return "differs" in check;
}

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

/**
 * The rows of `check.table` within `range` (all of them without one) for which the check's
 * predicate holds: how many, and the first one in key order, described. No row when there is none.
 */
function wrongRowsQuery(check: RowCheck, range: string | null): string {
  const describe = check.describe ?? check.key.map((k) => `${quoteLiteral(`${k.name} = `)} || ${quoteIdent(k.name)}::text`).join(` || ', ' || `);
  // The window function counts every matching row before LIMIT keeps the first.
  return `SELECT count(*) OVER ()::int8 AS n, (${describe})::text AS example FROM ${quoteTable(check.table)}
           WHERE ${allOf(range, `(${check.differs})`)} ORDER BY ${check.key.map((k) => quoteIdent(k.name)).join(", ")} LIMIT 1`;
}

function checkCouldNotRun(check: CheckSpec, error: unknown): BreakwaterError {
  return new BreakwaterError("BW_CHECK_FAILED", `Check "${check.name}" could not run: ${(error as Error).message}`, { hint: "Fix the check's SQL; the data was restored." });
}

function valueResult(check: ValueCheck, actual: number | boolean | string | null, measures: Measures, phase: CheckResult["phase"]): CheckResult {
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
  const ok = actual !== null && (typeof expected === "number" ? Number(actual) === expected : String(actual) === String(expected));
  return { name: check.name, ok, expected, actual, phase };
}

/** Every check as one query each (a row check over its whole table), on `db`: inside a transaction, as the caller chose. */
export async function evaluateChecks(db: Database, checks: CheckSpec[], measures: Measures, phase: CheckResult["phase"]): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    try {
      if (isRowCheck(check)) {
        const wrong = (await db.query<{ n: string; example: string | null }>(wrongRowsQuery(check, null))).rows[0];
        const n = wrong ? Number(wrong.n) : 0;
        results.push({ name: check.name, ok: n === 0, expected: 0, actual: n, phase, ...(wrong ? { example: wrong.example ?? "" } : {}) });
      } else {
        results.push(valueResult(check, await scalar(db, check.sql), measures, phase));
      }
    } catch (error) {
      if (error instanceof BreakwaterError || isConnectionLoss(error)) throw error;
      throw checkCouldNotRun(check, error);
    }
  }
  return results;
}

/**
 * The verify phase: the value checks in one read-only transaction (their numbers agree with each
 * other), each row check in keyset batches; results in the order the checks are given, and how
 * many batches each row check took. `batched: false` (the write fence is up: nothing else writes)
 * reads each row check in one query instead, in that same transaction: the shortest time under
 * maintenance mode.
 */
export async function verifyChecks(
  ctx: ExecutionContext,
  checks: CheckSpec[],
  options: { batched: boolean },
): Promise<{ results: CheckResult[]; batches: Record<string, number> }> {
  if (!options.batched) return { results: await ctx.db.readOnly((tx) => evaluateChecks(tx, checks, ctx.measures, "verify")), batches: {} };
  const values = checks.filter((c): c is ValueCheck => !isRowCheck(c));
  const valueResults = await ctx.db.readOnly((tx) => evaluateChecks(tx, values, ctx.measures, "verify"));
  const results: CheckResult[] = [];
  const batches: Record<string, number> = {};
  for (const check of checks) {
    if (!isRowCheck(check)) {
      results.push(valueResults[values.indexOf(check)]!);
      continue;
    }
    const verified = await verifyRows(ctx, check);
    results.push(verified.result);
    batches[check.name] = verified.batches;
  }
  return { results, batches };
}

/**
 * One row check in keyset batches over the table's key, up to the last key it had when the check
 * started (rows inserted later were written through the operation's trigger, which keeps them
 * right). Each batch is a read-only transaction of two short queries: the window's end, then the
 * wrong rows within it. Stops at the first batch that finds any: the result counts that batch's
 * wrong rows and names the first. Between batches: the rest, pace and pause of a transform.
 */
async function verifyRows(ctx: ExecutionContext, check: RowCheck): Promise<{ result: CheckResult; batches: number }> {
  const label = `verify: ${check.name}`;
  try {
    const windowing = await keyWindows(ctx.db, { table: check.table, key: check.key, filter: null, newRowsCovered: true });
    // For progress only: the statistics' row count when there are any, so that nothing scans the table at once.
    const estimate = await ctx.db.one<{ n: number | null }>("SELECT nullif(reltuples, -1)::int8 AS n FROM pg_class WHERE oid = $1::regclass", [quoteTable(check.table)]);
    const total = estimate.n === null ? await windowing.remaining(ctx.db, null) : Number(estimate.n);
    let cursor: string[] | null = null;
    let scanned = 0;
    let batches = 0;
    let size = firstBatchSize(ctx);
    const started = performance.now();
    for (;;) {
      await holdWhilePaused(ctx, label);
      const batchStart = performance.now();
      const batch = await ctx.db.readOnly(async (tx) => {
        const window = await windowing.next(tx, cursor, size);
        if (!window) return null;
        const wrong = (await tx.query<{ n: string; example: string | null }>(wrongRowsQuery(check, window.range.sql), window.range.params)).rows[0];
        return { window, wrong };
      });
      if (!batch) break;
      const batchMs = performance.now() - batchStart;
      batches += 1;
      cursor = batch.window.upper;
      scanned += batch.window.rows;
      if (batch.wrong) {
        const result: CheckResult = { name: check.name, ok: false, expected: 0, actual: Number(batch.wrong.n), phase: "verify", example: batch.wrong.example ?? "", atLeast: true };
        return { result, batches };
      }
      size = nextBatchSize(ctx, size, batchMs);
      const rate = scanned / Math.max((performance.now() - started) / 1000, 1e-3);
      ctx.emit({
        type: "progress",
        runId: ctx.runId,
        label,
        rows: scanned,
        scanned,
        total: Math.max(total, scanned),
        rowsPerSecond: rate,
        etaSeconds: Math.max(0, (total - scanned) / rate),
        batchSize: size,
        lastBatchMs: batchMs,
      });
      await betweenBatches(ctx, label, batchMs, { wrote: false });
    }
    return { result: { name: check.name, ok: true, expected: 0, actual: 0, phase: "verify" }, batches };
  } catch (error) {
    if (error instanceof BreakwaterError || isConnectionLoss(error)) throw error;
    throw checkCouldNotRun(check, error);
  }
}
