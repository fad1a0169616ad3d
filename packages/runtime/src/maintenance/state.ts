// The maintenance state every store keeps and every adapter reads.

export type MaintenanceMode = "full" | "read-only";

export interface MaintenanceState {
  enabled: boolean;
  /** full: every request gets the maintenance response; read-only: only POST/PUT/PATCH/DELETE */
  mode: MaintenanceMode;
  reason: string | null;
  since: string | null;
  /** seconds, sent as Retry-After */
  retryAfter: number | null;
  /** ISO time after which maintenance ends by itself */
  until: string | null;
  runId: string | null;
}

export const maintenanceOff: MaintenanceState = { enabled: false, mode: "full", reason: null, since: null, retryAfter: null, until: null, runId: null };

export interface MaintenanceChange {
  mode?: MaintenanceMode;
  reason?: string | null;
  retryAfter?: number | null;
  until?: string | null;
  runId?: string | null;
}

/** On, and not past `until`. */
export function isActive(state: MaintenanceState, now = Date.now()): boolean {
  if (!state.enabled) return false;
  if (state.until) {
    const until = Date.parse(state.until);
    if (Number.isFinite(until) && now >= until) return false;
  }
  return true;
}

/** A state from stored JSON; missing or unreadable fields fall back to "on, full". */
export function stateFromJson(value: unknown, enabled: boolean): MaintenanceState {
  const v = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const text = (x: unknown) => (typeof x === "string" && x.length > 0 ? x : null);
  const retry = typeof v.retryAfter === "number" && Number.isFinite(v.retryAfter) && v.retryAfter >= 0 ? Math.round(v.retryAfter) : null;
  return {
    enabled,
    mode: v.mode === "read-only" || v.readOnly === true ? "read-only" : "full",
    reason: text(v.reason),
    since: text(v.since),
    retryAfter: retry,
    until: text(v.until),
    runId: text(v.runId),
  };
}

export function stateToJson(state: MaintenanceState): Record<string, unknown> {
  return { mode: state.mode, reason: state.reason, since: state.since, retryAfter: state.retryAfter, until: state.until, runId: state.runId };
}

export function applyChange(change: MaintenanceChange, now = new Date()): MaintenanceState {
  return {
    enabled: true,
    mode: change.mode ?? "full",
    reason: change.reason ?? null,
    since: now.toISOString(),
    retryAfter: change.retryAfter ?? null,
    until: change.until ?? null,
    runId: change.runId ?? null,
  };
}

/** What request paths see: the last known state, or the error that keeps it unknown. */
export type Observed = { state: MaintenanceState; error: null } | { state: null; error: Error };

export interface MaintenanceWatcher {
  /** resolves once the first state is known (or the first read failed) */
  ready: Promise<void>;
  current(): Observed;
  onChange(listener: (observed: Observed) => void): void;
  close(): Promise<void>;
}

export interface MaintenanceStore {
  readonly kind: "file" | "postgres";
  /** where it lives, for messages (never with credentials) */
  readonly location: string;
  read(): Promise<MaintenanceState>;
  /** turns maintenance on (or updates it); true when it was off before */
  enable(change: MaintenanceChange): Promise<boolean>;
  disable(): Promise<void>;
  /** a cached view kept current by the store's change signal, for per-request checks */
  watch(): MaintenanceWatcher;
}
