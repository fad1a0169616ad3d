// lock_timeout with bounded retries: a migration that cannot get its lock quickly gives up and
// tries again later, so application queries never queue behind a waiting ALTER.
import { setTimeout as sleep } from "node:timers/promises";
import { BreakwaterError, type Database, sqlErrorInfo } from "@breakwater/runtime/internal";
import { quoteTable, type TableRef } from "./quote.ts";

export interface LockPolicy {
  /** lock_timeout for each attempt, in ms. */
  lockTimeoutMs: number;
  /** attempts after the first one. */
  retries: number;
  /** first backoff, doubled on each retry (with jitter), capped at maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const defaultLockPolicy: LockPolicy = { lockTimeoutMs: 2000, retries: 10, backoffMs: 250, maxBackoffMs: 5000 };

export interface Blocker {
  pid: number;
  applicationName: string;
  state: string;
  transactionSeconds: number | null;
  query: string;
}

export interface LockRetryInfo {
  attempt: number;
  waitMs: number;
  blockers: Blocker[];
}

/** SQLSTATE 55P03 lock_not_available: lock_timeout expired (or NOWAIT). */
export function isLockTimeout(error: unknown): boolean {
  return sqlErrorInfo(error).sqlstate === "55P03";
}

export async function setLocalLockTimeout(db: Database, ms: number): Promise<void> {
  // SET cannot take a bound parameter; set_config can.
  await db.query("SELECT set_config('lock_timeout', $1, true)", [`${Math.max(1, Math.round(ms))}ms`]);
}

/** Sessions holding a granted lock on any of the tables (other than ours). */
export async function findBlockers(db: Database, tables: TableRef[]): Promise<Blocker[]> {
  if (tables.length === 0) return [];
  const { rows } = await db.query<{ pid: number; application_name: string; state: string; xact_seconds: number | null; query: string }>(
    `SELECT DISTINCT a.pid, a.application_name, coalesce(a.state, '') AS state,
            extract(epoch FROM now() - a.xact_start)::float8 AS xact_seconds, left(a.query, 200) AS query
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.granted AND l.pid <> pg_backend_pid()
        AND l.relation = ANY (SELECT to_regclass(t)::oid FROM unnest($1::text[]) AS t)`,
    [tables.map(quoteTable)],
  );
  return rows.map((r) => ({ pid: r.pid, applicationName: r.application_name, state: r.state, transactionSeconds: r.xact_seconds, query: r.query }));
}

export function describeBlockers(blockers: Blocker[]): string {
  if (blockers.length === 0) return "no blocking session found any more";
  return blockers
    .map(
      (b) =>
        `pid ${b.pid}${b.applicationName ? ` (${b.applicationName})` : ""}, ${b.state}${b.transactionSeconds !== null ? `, transaction open ${b.transactionSeconds.toFixed(1)} s` : ""}`,
    )
    .join("; ");
}

/**
 * Runs `attempt` (which must set its own lock_timeout inside its transaction) until it succeeds,
 * retrying on 55P03 with exponential backoff. After the last retry it fails with BW_LOCK_TIMEOUT
 * naming the sessions that held the lock.
 */
export async function withLockRetries<T>(
  db: Database,
  policy: LockPolicy,
  what: string,
  tables: TableRef[],
  attempt: () => Promise<T>,
  onRetry: (info: LockRetryInfo) => void = () => undefined,
): Promise<{ value: T; retries: number }> {
  for (let n = 0; ; n++) {
    try {
      return { value: await attempt(), retries: n };
    } catch (error) {
      if (!isLockTimeout(error)) throw error;
      const blockers = await findBlockers(db, tables).catch(() => []);
      if (n >= policy.retries) {
        throw new BreakwaterError("BW_LOCK_TIMEOUT", `Could not get the lock for "${what}" after ${n + 1} attempts of ${policy.lockTimeoutMs} ms: ${describeBlockers(blockers)}.`, {
          hint: "A long transaction holds the table. Let it finish (or end it), then run `breakwater resume`; or raise lock.timeoutMs or lock.retries in breakwater.config.ts.",
          details: { blockers },
        });
      }
      const base = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** n);
      const waitMs = Math.round(base / 2 + Math.random() * (base / 2));
      onRetry({ attempt: n + 1, waitMs, blockers });
      await sleep(waitMs);
    }
  }
}
