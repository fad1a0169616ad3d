// The one error type of breakwater: a stable code, a one-line message and a hint for the user.
// The CLI maps codes to exit codes (see cli/exit-codes.ts); nothing in breakwater throws strings.

export type ErrorCode =
  | "BW_CONFIG_INVALID"
  | "BW_PLAN_INVALID"
  | "BW_PLAN_NOT_FOUND"
  | "BW_PLAN_CHANGED"
  | "BW_PREFLIGHT_FAILED"
  | "BW_LOCKED"
  | "BW_LOCK_TIMEOUT"
  | "BW_CHECK_FAILED"
  | "BW_RUN_NOT_FOUND"
  | "BW_NOTHING_TO_RESUME"
  | "BW_RUN_NOT_RUNNING"
  | "BW_ROLLBACK_CONFLICT"
  | "BW_CONNECTION_FAILED"
  | "BW_TRANSACTION_POOLER"
  | "BW_SQL_FAILED"
  | "BW_TRANSFORM_UNBOUNDED"
  | "BW_EMBEDDED_FAILED"
  | "BW_BACKUP_TOOL"
  | "BW_BACKUP_FAILED"
  | "BW_BACKUP_INVALID"
  | "BW_RESTORE_FAILED"
  | "BW_CONFIRMATION_NEEDED"
  | "BW_SCHEMA_INVALID"
  | "BW_RENAME_UNCONFIRMED"
  | "BW_UNSUPPORTED_CHANGE"
  | "BW_OLD_FORM_WRITTEN"
  | "BW_STOPPED_BEFORE_CONTRACT"
  /** breakwater lint: a path that does not exist, or a file that is not UTF-8 */
  | "BW_LINT_INPUT"
  /** deploy / run: a file or sql step has error findings that are neither ignored in the file nor --allow'ed */
  | "BW_LINT_REFUSED"
  // Prisma's own codes, for what breakwater does in Prisma's place
  | "P1002"
  | "P3005"
  | "P3008"
  | "P3009"
  | "P3011"
  | "P3012"
  | "P3015"
  | "P3017"
  | "P3018"
  | "P3019"
  | "BW_INTERNAL";

export class BreakwaterError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BreakwaterError";
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details };
  }
}

export function isBreakwaterError(error: unknown, code?: ErrorCode): error is BreakwaterError {
  return error instanceof BreakwaterError && (code === undefined || error.code === code);
}

/** Removes the password of any postgres:// URL inside a text, so secrets never reach output. */
export function redactSecrets(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, "$1***@");
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return redactSecrets(error.message);
  return redactSecrets(String(error));
}

export interface SqlErrorInfo {
  sqlstate: string | undefined;
  message: string;
}

export function sqlErrorInfo(error: unknown): SqlErrorInfo {
  const e = error as { code?: unknown; message?: unknown };
  return {
    sqlstate: typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined,
    message: redactSecrets(String(e?.message ?? error)),
  };
}

/**
 * The connection is gone (or going): the server ended it (57P01 administrator command or fast
 * shutdown, 57P02 crash, 57P03 starting up or shutting down), a connection exception (08…), or
 * the socket closed under the client. Nothing about the statement itself is known to be wrong.
 */
export function isConnectionLoss(error: unknown): boolean {
  const { sqlstate, message } = sqlErrorInfo(error);
  if (sqlstate !== undefined) return /^(57P0[123]|08...)$/.test(sqlstate);
  return /Connection terminated|connection error|not queryable|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket hang up|Client was closed|terminating connection/i.test(message);
}
