// The plan model: what `defineMigration` accepts, its validation, and loading a plan file.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { importUserModule } from "../config/user-module.ts";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { operationFor, operations } from "../operations/registry.ts";
import type { StepInputs, UserCheck } from "@breakwater/runtime";

export type { MigrationInput, StepInput, UserCheck } from "@breakwater/runtime";

export interface ValidatedStep {
  op: keyof StepInputs;
  input: Record<string, unknown>;
}

export interface Plan {
  id: string;
  description: string | null;
  steps: ValidatedStep[];
  checks: UserCheck[];
  batch: { size?: number | undefined; maxMs?: number | undefined; pauseMs?: number | undefined };
  backup: "snapshot" | "full" | "both" | null;
  keepMaintenance: boolean;
  online: boolean;
}

const planSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "use letters, digits, _ . - (at most 100), e.g. 2025-11-25_role_employee"),
    description: z.string().optional(),
    steps: z.array(z.object({ op: z.string() }).passthrough()),
    checks: z.array(z.object({ name: z.string().min(1), sql: z.string().min(1), expect: z.union([z.number(), z.boolean(), z.string()]) }).strict()).default([]),
    batch: z
      .object({
        size: z.number().int().min(1).max(1_000_000).optional(),
        maxMs: z.number().int().min(10).max(60_000).optional(),
        pauseMs: z.number().int().min(0).max(60_000).optional(),
      })
      .strict()
      .default({}),
    backup: z.enum(["snapshot", "full", "both"]).optional(),
    keepMaintenance: z.boolean().optional(),
    online: z.boolean().optional(),
  })
  .strict()
  // A plan of checks alone verifies the data under maintenance (e.g. before a type change).
  .refine((p) => p.steps.length > 0 || p.checks.length > 0, { path: ["steps"], message: "a plan needs at least one step, or at least one check" });

function formatIssues(error: z.ZodError, prefix: string): string {
  return error.issues.map((i) => `${prefix}${i.path.length ? i.path.join(".") : "(plan)"}: ${i.message}`).join("; ");
}

/** Validates a plan object; every problem is reported before anything touches the database. */
export function validatePlan(value: unknown, source = "plan"): Plan {
  const parsed = planSchema.safeParse(value);
  if (!parsed.success) {
    throw new BreakwaterError("BW_PLAN_INVALID", `Invalid ${source}: ${formatIssues(parsed.error, "")}`, { hint: "See the README section “Plans” for the format." });
  }
  const steps: ValidatedStep[] = parsed.data.steps.map((step, index) => {
    const operation = operationFor(step.op);
    if (!operation) {
      throw new BreakwaterError(
        "BW_PLAN_INVALID",
        `Invalid ${source}: steps.${index}.op: unknown operation ${JSON.stringify(step.op)} (known: ${Object.keys(operations).join(", ")})`,
      );
    }
    const result = operation.schema.safeParse(step);
    if (!result.success) throw new BreakwaterError("BW_PLAN_INVALID", `Invalid ${source}: ${formatIssues(result.error, `steps.${index}.`)}`);
    return { op: operation.kind, input: result.data as Record<string, unknown> };
  });
  if (parsed.data.online === true) refuseOffline(parsed.data, steps, source);
  return {
    id: parsed.data.id,
    description: parsed.data.description ?? null,
    steps,
    checks: parsed.data.checks,
    batch: parsed.data.batch,
    backup: parsed.data.backup ?? null,
    keepMaintenance: parsed.data.keepMaintenance ?? false,
    online: parsed.data.online ?? false,
  };
}

/**
 * An online plan runs with the application writing throughout: every step must support it, and
 * nothing may depend on writers being stopped.
 */
function refuseOffline(plan: z.output<typeof planSchema>, steps: ValidatedStep[], source: string): void {
  const problems: string[] = [];
  if (plan.keepMaintenance === true) problems.push("keepMaintenance: an online plan never turns maintenance mode on");
  plan.checks.forEach((check, i) => {
    if (check.expect === "before") {
      problems.push(`checks.${i}: expect "before" compares with a count measured before the transform, which the application changes meanwhile; give the value it must have`);
    }
  });
  steps.forEach((step, i) => {
    const operation = operationFor(step.op)!;
    const refusal = operation.onlineRefusal ? operation.onlineRefusal(step.input) : `${step.op} does not run online`;
    if (refusal !== null) problems.push(`steps.${i} (${step.op}): ${refusal}`);
  });
  if (problems.length > 0) {
    throw new BreakwaterError("BW_PLAN_INVALID", `Invalid ${source}: online: true, but ${problems.join("; ")}`, {
      hint: "Change those steps, or run the plan in maintenance mode (without `online: true`).",
    });
  }
}

export interface LoadedPlan {
  plan: Plan;
  path: string;
  sha256: string;
}

/** Imports a plan file (TypeScript or JavaScript) and validates its default export. */
export async function loadPlan(file: string, cwd = process.cwd()): Promise<LoadedPlan> {
  const absolute = path.resolve(cwd, file);
  let source: string;
  try {
    source = await readFile(absolute, "utf8");
  } catch {
    throw new BreakwaterError("BW_PLAN_NOT_FOUND", `Plan file not found: ${file}`, { hint: "Give the path of a .ts or .js file exporting defineMigration({ … })." });
  }
  const module = await importUserModule(absolute, { code: "BW_PLAN_INVALID", what: `plan ${file}`, hint: "Fix the syntax or imports of the plan file.", cwd });
  const exported = module.default ?? module.migration;
  if (exported === undefined)
    throw new BreakwaterError("BW_PLAN_INVALID", `Plan ${file} has no default export.`, { hint: "Write `export default defineMigration({ id, steps })`." });
  return { plan: validatePlan(exported, `plan ${file}`), path: absolute, sha256: createHash("sha256").update(source).digest("hex") };
}
