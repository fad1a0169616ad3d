// One journaled step's execution: what it is given and what it reports. actions.ts, snapshot.ts
// and transform.ts execute the three kinds of step, each marking its step done in the journal.
import type { Database } from "@breakwater/runtime/internal";
import { withLockRetries, type LockPolicy } from "../db/locks.ts";
import type { TableRef } from "../db/quote.ts";
import type { BatchPolicy } from "../config/config.ts";
import type { Measures } from "./checks.ts";
import type { EventSink } from "./events.ts";
import type { ReplicaLagState } from "./replica-lag.ts";

export interface StepResult {
  rows: number;
  lockMode: string | null;
  lockHoldMs: number | null;
  retries: number;
  data: Record<string, unknown> | null;
  skipped?: boolean;
}

export interface ExecutionContext {
  db: Database;
  runId: string;
  lock: LockPolicy;
  batch: BatchPolicy;
  /** at most this many transform batches per second; null: no limit */
  maxBatchRate: number | null;
  /**
   * With the application working beside the transform (online plans), the runner rests this many
   * times as long as each batch took, unless the plan or config sets batch.pauseMs: the
   * application keeps most of the database's time.
   */
  restRatio: number;
  /** throttle.maxReplicaLagMs and what the transforms have measured of the standbys so far */
  replicaLag: ReplicaLagState;
  /** throttle.pauseFile (absolute): while it exists, batches hold; null: none */
  pauseFile: string | null;
  emit: EventSink;
  measures: Measures;
}

/** withLockRetries on the step's connection and lock policy, each retry emitted as a lock-retry event. */
export function withStepLockRetries<T>(ctx: ExecutionContext, label: string, tables: TableRef[], attempt: () => Promise<T>): Promise<{ value: T; retries: number }> {
  return withLockRetries(ctx.db, ctx.lock, label, tables, attempt, (info) => ctx.emit({ type: "lock-retry", runId: ctx.runId, label, info }));
}
