// Error codes → process exit codes, stable for scripts (documented in the README).
import type { ErrorCode } from "@breakwater/runtime/internal";

export const exitCodes: Partial<Record<ErrorCode, number>> = {
  BW_CONFIG_INVALID: 2,
  BW_PLAN_INVALID: 2,
  BW_PLAN_NOT_FOUND: 2,
  BW_PLAN_CHANGED: 2,
  BW_PREFLIGHT_FAILED: 2,
  BW_CHECK_FAILED: 3,
  BW_LOCKED: 4,
  BW_LOCK_TIMEOUT: 5,
  BW_CONNECTION_FAILED: 6,
  // databaseUrl goes through a transaction pooler and no directUrl reaches PostgreSQL: a config problem
  BW_TRANSACTION_POOLER: 2,
  BW_ROLLBACK_CONFLICT: 7,
  BW_SQL_FAILED: 8,
  BW_TRANSFORM_UNBOUNDED: 8,
  BW_RUN_NOT_FOUND: 9,
  BW_NOTHING_TO_RESUME: 9,
  BW_RUN_NOT_RUNNING: 9,
  BW_EMBEDDED_FAILED: 10,
  BW_BACKUP_TOOL: 11,
  BW_BACKUP_FAILED: 12,
  BW_BACKUP_INVALID: 13,
  BW_RESTORE_FAILED: 14,
  BW_CONFIRMATION_NEEDED: 15,
  BW_SCHEMA_INVALID: 2,
  BW_RENAME_UNCONFIRMED: 15,
  BW_UNSUPPORTED_CHANGE: 19,
  BW_OLD_FORM_WRITTEN: 20,
  BW_STOPPED_BEFORE_CONTRACT: 21,
  BW_LINT_INPUT: 2,
  BW_LINT_REFUSED: 22,
  P1002: 16,
  P3005: 17,
  P3008: 17,
  P3009: 17,
  P3011: 17,
  P3012: 17,
  P3015: 17,
  P3017: 17,
  P3018: 18,
  P3019: 17,
};

export function exitCodeFor(code: ErrorCode): number {
  return exitCodes[code] ?? 1;
}
