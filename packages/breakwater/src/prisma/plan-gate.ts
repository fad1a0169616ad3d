// The plan gate: a contract migration written by `breakwater plan` is applied only after a
// completed run of its plan. `breakwater plan` writes the gate file beside its migration.sql (and,
// with --guard, a guard at the top of it); `breakwater deploy` reads the file and waits for the run.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { BreakwaterError, type Database } from "@breakwater/runtime/internal";
import { quoteLiteral } from "../db/quote.ts";

/** Written by `breakwater plan` next to a final (contract) migration.sql; Prisma ignores it. */
export const GATE_FILE = "breakwater.json";

/** The gate file's text: the plan whose run must complete first. */
export function gateFileText(planId: string): string {
  return `${JSON.stringify({ requiresPlan: planId, note: "breakwater deploy applies this migration only after a completed run of this plan; Prisma ignores this file." }, null, 2)}\n`;
}

/** The plan a gate file names (null without the file). */
export async function readGate(file: string): Promise<string | null> {
  if (!existsSync(file)) return null;
  try {
    const value = JSON.parse(await readFile(file, "utf8")) as { requiresPlan?: unknown };
    return typeof value.requiresPlan === "string" ? value.requiresPlan : null;
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
