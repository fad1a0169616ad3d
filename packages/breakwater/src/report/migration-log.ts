// The migration-log entry a team keeps by hand, built from the journal: name, applied at,
// duration, write outage, rows changed, checks with their numbers, rollback, lock holds.
import type { OperationPlan } from "../operations/types.ts";
import type { CheckResult } from "../runner/events.ts";
import type { RunRow, StepRow } from "../runner/journal.ts";
import { keepsMaintenance, usesMaintenance } from "../runner/program.ts";

export interface MigrationLog {
  /** maintenance stays on after the run (keepMaintenance, or new enum values the serving application cannot read): the outage goes on until `maintenance off` */
  maintenanceKept: boolean;
  /** the maintenance mode of the run: read-only (writes refused) or full (every request refused) */
  maintenanceMode: "read-only" | "full" | null;
  /** why the run used full maintenance and keeps it, when it was not the configuration's choice */
  maintenanceReason: string | null;
  /** an online plan: the application read and wrote throughout */
  online: boolean;
  /** false when no step needed writers stopped: the run never turned maintenance mode on (nor online) */
  usedMaintenance: boolean;
  name: string;
  description: string | null;
  runId: string;
  status: "successful" | "rolled back" | "failed" | "in progress";
  appliedAt: string;
  finishedAt: string | null;
  durationSeconds: number;
  /** maintenance window: writes refused by the application */
  writeOutageSeconds: number | null;
  rowsChanged: { label: string; rows: number }[];
  totalRowsChanged: number;
  rowsRewritten: number;
  checks: CheckResult[];
  rollback: { needed: boolean; restored: boolean; reason: string | null };
  locks: { step: string; mode: string; longestHoldMs: number }[];
  longestAccessExclusiveMs: number;
  longestBatchMs: number | null;
  /** the pg_dump taken before the transform, when the plan asked for one */
  backup: { path: string; sizeBytes: number; sha256: string } | null;
  changes: string[];
  notes: string[];
  /** snapshot tables the run took (none where the original data is never written) */
  snapshots: number;
  issues: string | null;
  hint: string | null;
}

const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1000);

export function buildMigrationLog(run: RunRow, steps: StepRow[], plans: OperationPlan[]): MigrationLog {
  const end = run.finished_at ?? new Date();
  const measures = run.measures ?? {};
  const rowsChanged = plans.flatMap((p) => p.changes.map((c) => ({ label: c.label, rows: Number(measures[c.measure] ?? 0) })));
  const transforms = steps.filter((s) => s.phase === "transform");
  const maintenanceOn = steps.find((s) => s.phase === "maintenance_on" && s.state === "done" && s.data?.store !== undefined);
  const locks = steps
    .filter((s) => s.lock_mode && s.lock_hold_ms !== null && s.state === "done")
    .map((s) => ({ step: s.label, mode: s.lock_mode!, longestHoldMs: Math.round(s.lock_hold_ms! * 10) / 10 }));
  const status =
    run.state === "completed" ? "successful"
    : run.state === "rolled_back" ? "rolled back"
    : run.state === "failed" ? "failed"
    : "in progress";
  const rolledBack = run.state === "rolled_back";
  return {
    maintenanceKept: run.state === "completed" && keepsMaintenance(run.plan) && run.maintenance_off_at === null,
    maintenanceMode: (maintenanceOn?.data?.mode as MigrationLog["maintenanceMode"] | undefined) ?? null,
    maintenanceReason: (maintenanceOn?.data?.reason as string | null | undefined) ?? null,
    online: run.plan.online === true,
    usedMaintenance: usesMaintenance(run.plan, plans),
    name: run.plan_id,
    description: run.plan.description ?? null,
    runId: run.id,
    status,
    appliedAt: run.started_at.toISOString(),
    finishedAt: run.finished_at ? run.finished_at.toISOString() : null,
    durationSeconds: Math.round(seconds(run.started_at, end) * 100) / 100,
    writeOutageSeconds: run.maintenance_on_at ? Math.round(seconds(run.maintenance_on_at, run.maintenance_off_at ?? end) * 100) / 100 : null,
    rowsChanged: rolledBack ? rowsChanged.map((r) => ({ ...r, rows: 0 })) : rowsChanged,
    totalRowsChanged: rolledBack ? 0 : rowsChanged.reduce((sum, r) => sum + r.rows, 0),
    rowsRewritten: transforms.reduce((sum, s) => sum + Number(s.rows), 0),
    checks: run.checks ?? [],
    rollback: { needed: rolledBack || steps.some((s) => s.phase === "rollback"), restored: rolledBack, reason: rolledBack ? (run.error?.message ?? "requested") : null },
    locks,
    longestAccessExclusiveMs: Math.round(Math.max(0, ...locks.filter((l) => l.mode === "ACCESS EXCLUSIVE").map((l) => l.longestHoldMs)) * 10) / 10,
    longestBatchMs: transforms.length ? Math.round(Math.max(...transforms.map((s) => Number(s.data?.longestBatchMs ?? 0))) * 10) / 10 : null,
    backup: (steps.find((s) => s.label === "full backup with pg_dump" && s.state === "done")?.data as MigrationLog["backup"] | undefined) ?? null,
    changes: plans.flatMap((p) => p.summary),
    notes: plans.flatMap((p) => p.notes),
    snapshots: plans.reduce((n, p) => n + p.snapshots.length, 0),
    issues: run.error?.message ?? null,
    hint: run.error?.hint ?? null,
  };
}

const number = (n: number) => n.toLocaleString("en-US");
const cell = (v: unknown) => String(v).replaceAll("|", "\\|");

/**
 * The log as Markdown. `symbols: false` (for output that is not a terminal) says pass and fail in
 * words instead of ✅ and ❌; the file written beside the project keeps the symbols.
 */
export function renderMarkdown(log: MigrationLog, options: { symbols?: boolean } = {}): string {
  const symbol = (mark: string) => (options.symbols === false ? "" : `${mark} `);
  const date = log.appliedAt.slice(0, 10);
  const applied = `${log.appliedAt.slice(0, 19).replace("T", " ")} UTC`;
  const status =
    log.status === "successful" ? `${symbol("✅")}Successful`
    : log.status === "rolled back" ? `${symbol("↩️")}Rolled back — data restored`
    : log.status === "failed" ? `${symbol("❌")}Failed`
    : `${symbol("⏳")}In progress`;
  const full = log.maintenanceMode === "full";
  const refused = full ? "of refused requests" : "of refused writes";
  const outage =
    log.writeOutageSeconds === null ?
      log.online ? "None (online: no maintenance mode, no write fence)"
      : log.usedMaintenance ? "None"
      : "None (no step needs writers stopped: no maintenance mode, no write fence)"
    : log.maintenanceKept ?
      `${log.writeOutageSeconds} s ${refused} so far (${full ? "full maintenance mode; reads refused too" : "maintenance mode; reads served"}) — maintenance stays on until \`breakwater maintenance off\`, after ${log.maintenanceReason ? "the application that reads the new values is deployed" : "the contract migration"}`
    : `${log.writeOutageSeconds} s ${refused} (${full ? "full maintenance mode); reads refused too" : "maintenance mode); reads served"}`;
  const rollback =
    log.rollback.restored ? `Needed — data and schema restored (${log.rollback.reason})`
    : log.rollback.needed ? "Started, not finished"
    : "Not needed";
  const lines = [
    "## Migration Log",
    "",
    `### ${date}: ${log.name}`,
    "",
    `**Migration**: ${log.name} (run ${log.runId})`,
    ...(log.description ? [`**Description**: ${log.description}`] : []),
    `**Applied**: ${applied}`,
    `**Duration**: ${log.durationSeconds} seconds`,
    `**Downtime**: ${outage}`,
    ...(log.maintenanceReason ? [`**Why full maintenance**: ${log.maintenanceReason}.`] : []),
    `**Rollback**: ${rollback}`,
    `**Rows changed**: ${number(log.totalRowsChanged)}${log.rowsChanged.length ? ` (${log.rowsChanged.map((r) => `${r.label}: ${number(r.rows)}`).join("; ")})` : ""}`,
    `**Rows rewritten by transforms**: ${number(log.rowsRewritten)}${log.longestBatchMs !== null ? `; longest batch ${log.longestBatchMs} ms` : ""}`,
    `**Longest ACCESS EXCLUSIVE lock**: ${log.longestAccessExclusiveMs} ms`,
    `**Backup**: ${
      log.backup ?
        `${log.backup.path} (${(log.backup.sizeBytes / 1024 / 1024).toFixed(1)} MB, sha256 ${log.backup.sha256.slice(0, 16)}…); rollback uses the targeted snapshot, \`breakwater restore\` this file`
      : log.snapshots > 0 ? 'targeted snapshot only (plan backup: "snapshot")'
      : "no snapshot: no step needs one for its rollback"
    }`,
    "",
    "**Changes**:",
    "",
    ...log.changes.map((c) => `- ${c}`),
    "",
    "**Checks**:",
    "",
    "| Check | Expected | Actual | Result |",
    "| --- | --- | --- | --- |",
    ...log.checks.map(
      (c) =>
        `| ${cell(c.name)} | ${cell(c.expected)} | ${c.atLeast ? "at least " : ""}${cell(c.actual)}${c.example === undefined ? "" : ` (first: ${cell(c.example)})`} | ${
          options.symbols === false ?
            c.ok ?
              "pass"
            : "FAIL"
          : c.ok ? "✅"
          : "❌"
        } |`,
    ),
    "",
    "**Locks** (strongest lock of each step, longest hold):",
    "",
    "| Step | Lock | Held (ms) |",
    "| --- | --- | --- |",
    ...log.locks.map((l) => `| ${cell(l.step)} | ${l.mode} | ${l.longestHoldMs} |`),
    "",
    ...(log.notes.length ? ["**Notes**:", "", ...log.notes.map((n) => `- ${n}`), ""] : []),
    `**Issues**: ${log.issues ?? "None"}`,
    ...(log.hint && log.status !== "successful" ? [`**Next**: ${log.hint}`] : []),
    `**Status**: ${status}`,
    "",
  ];
  return lines.join("\n");
}
