// The run as an ordered list of journaled steps, derived purely from the plan and the facts
// gathered at preflight, so `resume` rebuilds exactly the same list.
import { operations } from "../operations/registry.ts";
import type { Action, OperationPlan, PlanContext, SnapshotSpec, TransformSpec } from "../operations/types.ts";
import type { Plan } from "../plan/plan.ts";
import type { Phase } from "./events.ts";

export type ProgramStep =
  | { seq: number; phase: "preflight"; opIndex: null; label: string; kind: "preflight" }
  | { seq: number; phase: "expand" | "contract"; opIndex: number; label: string; kind: "action"; action: Action }
  | { seq: number; phase: "maintenance_on" | "maintenance_off" | "verify" | "final_checks" | "report"; opIndex: null; label: string; kind: "marker" }
  | { seq: number; phase: "snapshot"; opIndex: number; label: string; kind: "snapshot"; snapshot: SnapshotSpec }
  | { seq: number; phase: "snapshot"; opIndex: null; label: string; kind: "measure" }
  | { seq: number; phase: "preflight"; opIndex: null; label: string; kind: "backup" }
  | { seq: number; phase: "maintenance_on"; opIndex: null; label: string; kind: "fence" }
  | { seq: number; phase: "contract"; opIndex: number; label: string; kind: "old-form"; watch: { sequence: string; what: string } }
  | { seq: number; phase: "transform"; opIndex: number; label: string; kind: "transform"; transform: TransformSpec };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface Program {
  plans: OperationPlan[];
  steps: ProgramStep[];
  /** the run turns maintenance mode on and raises the write fence (see usesMaintenance) */
  maintenance: boolean;
}

export function planContext(runId: string, opIndex: number, shadowThresholdRows: number, online: boolean): PlanContext {
  const short = runId.replace(/[^a-z0-9]/gi, "").toLowerCase();
  return {
    runId,
    opIndex,
    snapshotTable: (n) => ({ schema: "breakwater", name: `snap_${short}_${opIndex}_${n}` }),
    objectName: (suffix) => `bw_${short}_${opIndex}_${suffix}`,
    shadowThresholdRows,
    online,
  };
}

/**
 * Why the run must hold full maintenance (every request refused, reads included) until
 * `breakwater maintenance off`, or null: it writes enum values an application built before them
 * cannot read, and the plan does not say the serving application reads them.
 */
export function newValuesUnreadable(plan: Plan): string | null {
  if (plan.online) return null;
  const steps = plan.steps.filter((s) => s.op === "renameEnumValue" && s.input.appReadsNewValues !== true);
  if (steps.length === 0) return null;
  const values = steps.map((s) => `${String(s.input.enum)}.${String(s.input.to)}`).join(", ");
  return `the run writes ${values}, which an application built before ${steps.length > 1 ? "those values" : "that value"} existed cannot read (Prisma fails with P2023 "Value not found in enum"), and the plan does not say \`appReadsNewValues: true\``;
}

/** Maintenance stays on after a successful run: asked by the plan, or needed by newValuesUnreadable. */
export function keepsMaintenance(plan: Plan): boolean {
  return plan.keepMaintenance === true || newValuesUnreadable(plan) !== null;
}

/**
 * Whether a run of the plan turns maintenance mode on and raises the write fence: never online;
 * otherwise unless every step says it needs no writer stopped (createIndex, addForeignKey, a
 * catalog-only addColumn). A plan with checks of its own keeps maintenance (its checks verify the
 * data with the writers stopped, a plan of checks alone included), as does keepMaintenance.
 */
export function usesMaintenance(plan: Plan, plans: OperationPlan[]): boolean {
  if (plan.online) return false;
  if (plan.keepMaintenance || plan.checks.length > 0 || plans.length === 0) return true;
  return plans.some((p) => p.needsMaintenance !== false);
}

export function buildProgram(runId: string, plan: Plan, facts: unknown[], shadowThresholdRows: number, fullBackup = false): Program {
  const plans = plan.steps.map((step, i) => operations[step.op]!.plan(step.input, facts[i], planContext(runId, i, shadowThresholdRows, plan.online)));
  const maintenance = usesMaintenance(plan, plans);
  const steps: ProgramStep[] = [];
  const push = (step: DistributiveOmit<ProgramStep, "seq">) => steps.push({ ...step, seq: steps.length + 1 } as ProgramStep);
  push({ phase: "preflight", opIndex: null, label: "inspect the schema and validate every step", kind: "preflight" });
  // A full backup is the state before the run: taken before expand changes anything.
  if (fullBackup) push({ phase: "preflight", opIndex: null, label: "full backup with pg_dump", kind: "backup" });
  plans.forEach((p, i) => p.expand.forEach((action) => push({ phase: "expand", opIndex: i, label: action.label, kind: "action", action })));
  // With the application writing (online, or before maintenance mode), an UPDATE can move a row to
  // a block the physical (ctid) batches have already passed, and such a row would be missed:
  // batches follow the key instead.
  const transformStep = (i: number, transform: TransformSpec) =>
    push({
      phase: "transform",
      opIndex: i,
      label: transform.label,
      kind: "transform",
      transform: plan.online || transform.beforeMaintenance ? { ...transform, idempotent: false, newRowsCovered: true } : transform,
    });
  // What the operations' triggers keep right needs no fence: done before maintenance mode, which
  // then covers only what needs it.
  plans.forEach((p, i) => p.transforms.filter((t) => t.beforeMaintenance).forEach((transform) => transformStep(i, transform)));
  plans.forEach((p, i) => (p.prepare ?? []).forEach((action) => push({ phase: "expand", opIndex: i, label: action.label, kind: "action", action })));
  // Online, or when no step needs writers stopped, the application keeps writing: no maintenance
  // mode and no write fence.
  if (maintenance) {
    push({ phase: "maintenance_on", opIndex: null, label: "maintenance mode on", kind: "marker" });
    push({ phase: "maintenance_on", opIndex: null, label: "raise the write fence on the tables the run changes", kind: "fence" });
  }
  plans.forEach((p, i) =>
    p.snapshots.forEach((snapshot) =>
      push({
        phase: "snapshot",
        opIndex: i,
        label: `snapshot ${snapshot.columns.join(", ")} of ${snapshot.table.name} into ${snapshot.into.schema}.${snapshot.into.name}`,
        kind: "snapshot",
        snapshot,
      }),
    ),
  );
  push({ phase: "snapshot", opIndex: null, label: "measure the counts the checks compare with", kind: "measure" });
  plans.forEach((p, i) => p.transforms.filter((t) => !t.beforeMaintenance).forEach((transform) => transformStep(i, transform)));
  push({ phase: "verify", opIndex: null, label: "verify the invariants and the plan's checks", kind: "marker" });
  plans.forEach((p, i) =>
    p.contract.forEach((action) => {
      // The commit point removes the old form: first, the application must have stopped writing it.
      if (action.commitPoint && p.oldFormWrites) {
        push({ phase: "contract", opIndex: i, label: `wait until the application no longer writes ${p.oldFormWrites.what}`, kind: "old-form", watch: p.oldFormWrites });
      }
      push({ phase: "contract", opIndex: i, label: action.label, kind: "action", action });
    }),
  );
  push({ phase: "final_checks", opIndex: null, label: "check the final state", kind: "marker" });
  if (maintenance) {
    push({
      phase: "maintenance_off",
      opIndex: null,
      label: keepsMaintenance(plan) ? `lower the write fence; maintenance stays on (${plan.keepMaintenance ? "keepMaintenance" : "new enum values"})` : "maintenance mode off",
      kind: "marker",
    });
  }
  push({ phase: "report", opIndex: null, label: "write the migration log", kind: "marker" });
  return { plans, steps, maintenance };
}

export const phaseOrder: Phase[] = ["preflight", "expand", "maintenance_on", "snapshot", "transform", "verify", "contract", "final_checks", "maintenance_off", "report"];
