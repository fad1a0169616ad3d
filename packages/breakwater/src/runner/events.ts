// The one typed event union of the core: runs, backups (and verify, restore) and deploys emit
// these; the core never prints. The CLI's renderer draws them as a live line on a terminal, plain
// lines off one (CI, pipes), JSON lines with --json. Events carry no URL, so no secret.
import type { LockRetryInfo } from "../db/locks.ts";

export type Phase = "preflight" | "expand" | "maintenance_on" | "snapshot" | "transform" | "verify" | "contract" | "final_checks" | "maintenance_off" | "report" | "rollback";

export interface CheckResult {
  name: string;
  ok: boolean;
  expected: number | boolean | string;
  actual: number | boolean | string | null;
  phase: "verify" | "contract" | "final";
  /** a row check that failed: its first wrong row (the key, or what the check describes) */
  example?: string;
  /** a row check read in batches stops at the first batch with a wrong row: `actual` counts that batch's, not the table's */
  atLeast?: boolean;
}

/** What the runner emits during `run`, `resume` and `rollback`. */
export type RunnerEvent =
  | { type: "run"; runId: string; planId: string; resumed: boolean }
  | { type: "step-start"; runId: string; seq: number; phase: Phase; label: string }
  | {
      type: "step-done";
      runId: string;
      seq: number;
      phase: Phase;
      label: string;
      durationMs: number;
      rows: number;
      skipped: boolean;
      lockHoldMs: number | null;
      lockMode: string | null;
    }
  | {
      type: "progress";
      runId: string;
      label: string;
      rows: number;
      scanned: number;
      total: number;
      rowsPerSecond: number;
      etaSeconds: number | null;
      batchSize: number;
      lastBatchMs: number;
    }
  /**
   * the transform (or the verification) stopped between batches: `breakwater pause` (reason
   * "pause", until `breakwater continue`) or the file throttle.pauseFile exists (reason "flag-file",
   * until it is removed); emitted again when the reason changes
   */
  | { type: "paused"; runId: string; label: string; since: string; reason: "pause" | "flag-file"; file?: string }
  | { type: "continued"; runId: string; label: string; pausedMs: number }
  /**
   * the transform waits between batches: a standby replays `lagMs` behind (the worst one, of
   * those over throttle.maxReplicaLagMs). Emitted when the wait starts (waitedMs 0), then every second.
   */
  | { type: "throttled"; runId: string; label: string; reason: "replica-lag"; standby: string; lagMs: number; lagBytes: number | null; maxLagMs: number; waitedMs: number }
  | { type: "unthrottled"; runId: string; label: string; reason: "replica-lag"; waitedMs: number }
  | { type: "lock-retry"; runId: string; label: string; info: LockRetryInfo }
  | { type: "check"; runId: string; result: CheckResult }
  | { type: "maintenance"; runId: string; enabled: boolean; /** the store's location: a file path or breakwater.maintenance on host/db */ file: string }
  | { type: "rollback-start"; runId: string; reason: string }
  | { type: "warning"; runId: string; message: string };

/** Which command a backup step belongs to. */
export type BackupOperation = "backup" | "verify" | "restore";

/**
 * The steps of `backup`, `backup verify` and `restore`: dump (pg_dump, rows counted meanwhile),
 * checksum, list (pg_restore --list), fence (writes refused), bad-state (the current state dumped
 * first), restore (pg_restore), count (row counts against the manifest), unfence (writes allowed).
 */
export type BackupStep = "dump" | "checksum" | "list" | "fence" | "bad-state" | "restore" | "count" | "unfence";

/** What `backup`, `backup verify` and `restore` emit (and a run or a deploy taking a full backup). */
export type BackupEvent =
  /** a step begins; `message` says what it does */
  | { type: "backup-step"; operation: BackupOperation; step: BackupStep; message: string }
  /** the step ended; `message` says what it did, `ok` is false when it found a problem (a checksum or row counts that differ) */
  | { type: "backup-step-done"; operation: BackupOperation; step: BackupStep; message: string; durationMs: number; ok: boolean }
  /** pg_dump or pg_restore at work: bytes written (dump; null for a restore), tables done of the total (null when unknown) */
  | { type: "backup-progress"; phase: "dump" | "restore"; bytes: number | null; elapsedMs: number; tablesDone: number | null; tablesTotal: number | null };

/** What `deploy` and `boot` emit for each migration folder. */
export type MigrationEvent =
  | { type: "migration-start"; name: string }
  | { type: "migration-done"; name: string; durationMs: number }
  /** something to know about a file: a full backup taken first, lock retries, the enum split (55P04) */
  | { type: "migration-note"; name: string; message: string }
  | { type: "migration-waiting"; name: string; planId: string }
  | { type: "boot-note"; message: string };

export type BreakwaterEvent = RunnerEvent | BackupEvent | MigrationEvent;

export type EventSink = (event: BreakwaterEvent) => void;
