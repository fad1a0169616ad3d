// The typed events the runner emits. The core never prints: the CLI renders these
// (TTY progress, plain lines, or JSON lines with --json).
import type { LockRetryInfo } from "../db/locks.ts";

export type Phase = "preflight" | "expand" | "maintenance_on" | "snapshot" | "transform" | "verify" | "contract" | "final_checks" | "maintenance_off" | "report" | "rollback";

export interface CheckResult {
  name: string;
  ok: boolean;
  expected: number | boolean | string;
  actual: number | boolean | string | null;
  phase: "verify" | "contract" | "final";
}

export type RunnerEvent =
  | { type: "run"; runId: string; planId: string; resumed: boolean }
  | { type: "step-start"; runId: string; seq: number; phase: Phase; label: string }
  | { type: "step-done"; runId: string; seq: number; phase: Phase; label: string; durationMs: number; rows: number; skipped: boolean; lockHoldMs: number | null; lockMode: string | null }
  | { type: "progress"; runId: string; label: string; rows: number; scanned: number; total: number; rowsPerSecond: number; etaSeconds: number | null; batchSize: number; lastBatchMs: number }
  | { type: "lock-retry"; runId: string; label: string; info: LockRetryInfo }
  | { type: "check"; runId: string; result: CheckResult }
  | { type: "maintenance"; runId: string; enabled: boolean; /** the store's location: a file path or breakwater.maintenance on host/db */ file: string }
  | { type: "rollback-start"; runId: string; reason: string }
  | { type: "warning"; runId: string; message: string };

export type EventSink = (event: RunnerEvent) => void;
