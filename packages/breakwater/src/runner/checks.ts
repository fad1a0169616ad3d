// Checks: one scalar query each, compared with a constant or with the sum of measures taken
// before the transform.
import { BreakwaterError, type Database } from "@breakwater/runtime/internal";
import type { CheckSpec } from "../operations/types.ts";
import type { CheckResult } from "./events.ts";

export type Measures = Record<string, number | string | boolean | null>;

/** A failed check, carrying every result so the report can show the numbers. */
export class CheckFailure extends BreakwaterError {
  readonly results: CheckResult[];
  constructor(results: CheckResult[]) {
    const failed = results.filter((r) => !r.ok);
    super("BW_CHECK_FAILED", `Check failed: ${failed.map((r) => `${r.name} (expected ${String(r.expected)}, got ${String(r.actual)})`).join("; ")}`, {
      hint: "The run was rolled back: data and schema are as they were before it. The report lists every check with its numbers.",
    });
    this.results = results;
  }
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
