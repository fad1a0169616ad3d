// The plan gate: a contract migration written by `breakwater plan` is applied only after a
// completed run of its plan. `breakwater plan` writes the gate file beside its migration.sql (and,
// with --guard, a guard at the top of it); `breakwater deploy` reads the file and waits for the run.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { BreakwaterError, type Database } from "@breakwater/runtime/internal";
import { quoteLiteral } from "../db/quote.ts";

/** Written by `breakwater plan` next to a final (contract) migration.sql; Prisma ignores it. */
export const GATE_FILE = "breakwater.json";

/**
 * The gate file's text: the plan whose run must complete first. `appliedByPlan`: the plan's
 * operations make this migration's changes themselves (an online plan), so deploy records it as
 * applied, as `migrate resolve --applied` does, instead of running it.
 */
export function gateFileText(planId: string, appliedByPlan = false): string {
  const note =
    appliedByPlan ?
      "The plan makes this migration's changes itself: once a run of it has completed, breakwater deploy records this migration as applied without running it. Prisma ignores this file."
    : "breakwater deploy applies this migration only after a completed run of this plan; Prisma ignores this file.";
  return `${JSON.stringify({ requiresPlan: planId, ...(appliedByPlan ? { appliedByPlan: true } : {}), note }, null, 2)}\n`;
}

export interface Gate {
  requiresPlan: string;
  appliedByPlan: boolean;
}

/** The plan a gate file names (null without the file). */
export async function readGate(file: string): Promise<Gate | null> {
  if (!existsSync(file)) return null;
  try {
    const value = JSON.parse(await readFile(file, "utf8")) as { requiresPlan?: unknown; appliedByPlan?: unknown };
    return typeof value.requiresPlan === "string" ? { requiresPlan: value.requiresPlan, appliedByPlan: value.appliedByPlan === true } : null;
  } catch (error) {
    throw new BreakwaterError("BW_CONFIG_INVALID", `${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Whether a run of this plan completed (the contract migration may follow). */
export async function planCompleted(db: Database, planId: string): Promise<boolean> {
  const exists = (await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.runs') IS NOT NULL AS ok")).ok;
  if (!exists) return false;
  return (await db.one<{ ok: boolean }>("SELECT EXISTS (SELECT 1 FROM breakwater.runs WHERE plan_id = $1 AND state = 'completed') AS ok", [planId])).ok;
}

/**
 * The head of a migration an online plan applies: where breakwater has run, `prisma migrate deploy`
 * fails on it (before the plan: it would drop what the plan moves; after: the plan made its changes
 * already) and says what to do; on a fresh database (Prisma's shadow database) the SQL below runs as
 * Prisma wrote it. `strict` (--guard) also fails where breakwater has never run.
 */
export function appliedByPlanGuardSql(planId: string, planFolder: string, migration: string, strict: boolean): string {
  const before = quoteLiteral(
    `breakwater: plan ${planId} makes this migration's changes: run it first (breakwater run ${planFolder}/…), then breakwater deploy records ${migration} as applied`,
  );
  const after = quoteLiteral(
    `breakwater: plan ${planId} has made this migration's changes already: record it with breakwater deploy, or prisma migrate resolve --applied ${migration}`,
  );
  const done = `EXISTS (SELECT 1 FROM breakwater.runs WHERE plan_id = ${quoteLiteral(planId)} AND state = 'completed')`;
  return [
    `-- breakwater: plan ${planId} makes these changes while the application writes; breakwater deploy records this migration as applied once the plan has completed, without running it.`,
    "DO $$",
    "BEGIN",
    `  IF to_regclass('breakwater.runs') IS NULL THEN${strict ? ` RAISE EXCEPTION ${before};` : " RETURN;"} END IF;`,
    `  IF ${done} THEN RAISE EXCEPTION ${after}; END IF;`,
    `  RAISE EXCEPTION ${before};`,
    "END",
    "$$;",
    "",
    "",
  ].join("\n");
}

/**
 * A DO block that fails the contract migration (and with it the whole file, one transaction)
 * unless the plan's run has completed: a guard for pipelines that still run `prisma migrate deploy`.
 */
export function guardSql(planId: string, planFolder: string): string {
  const message = quoteLiteral(`breakwater: run plan ${planId} first (breakwater run ${planFolder}/…); this contract migration would lose data before it`);
  return [
    `-- breakwater guard: refuses to run before plan ${planId} has completed (breakwater deploy waits for it by itself).`,
    "DO $$",
    "BEGIN",
    `  IF to_regclass('breakwater.runs') IS NULL THEN RAISE EXCEPTION ${message}; END IF;`,
    `  IF NOT EXISTS (SELECT 1 FROM breakwater.runs WHERE plan_id = ${quoteLiteral(planId)} AND state = 'completed') THEN RAISE EXCEPTION ${message}; END IF;`,
    "END",
    "$$;",
    "",
    "",
  ].join("\n");
}
