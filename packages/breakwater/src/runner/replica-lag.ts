// throttle.maxReplicaLagMs: between two transform batches the runner measures how far behind each
// standby streaming from this primary replays, and waits while one is over the limit, so that a
// transform never leaves the standbys (and whatever reads from them) behind.
import { setTimeout as sleep } from "node:timers/promises";
import type { Database } from "@breakwater/runtime/internal";
import { quoteQualified } from "../db/quote.ts";
import type { ExecutionContext } from "./step.ts";

const heartbeatTable = quoteQualified("breakwater", "heartbeat");

/** While throttled, the runner measures again (and writes a heartbeat) this often. */
const throttledLookEveryMs = 250;
/** When the last look saw no standby, pg_stat_replication is read at most this often. */
const idleLookEveryMs = 1000;
/** A throttled transform reports the lag it waits on this often. */
const reportEveryMs = 1000;

/** Where the primary's WAL stood at a moment (performance.now()): the clock a standby's replay position is read on. */
interface WalSample {
  lsn: bigint;
  at: number;
}

/** What one run's transforms learn about the standbys, kept from batch to batch. */
export interface ReplicaLagState {
  maxLagMs: number;
  /** oldest first; a heartbeat is written after each, so a standby that replays it moves past the sample */
  samples: WalSample[];
  /** when the last look saw no standby (null: it saw one, or no look yet) */
  idleSince: number | null;
  heartbeatTableReady: boolean;
  /** the role cannot read the standbys' replay positions: warned once, never throttles */
  blind: boolean;
}

export function replicaLagState(maxLagMs: number): ReplicaLagState {
  return { maxLagMs, samples: [], idleSince: null, heartbeatTableReady: false, blind: false };
}

interface Standby {
  pid: number;
  /** application_name (the standby's cluster_name unless its primary_conninfo sets one) and address */
  name: string;
  /** null until the standby has reported a replay position */
  lagMs: number | null;
  lagBytes: number | null;
}

/**
 * Waits while a standby replays more than maxLagMs behind. The lag is read from this primary
 * alone, no connection to a standby: each look records where the WAL stands (then writes a heartbeat
 * row after it); a standby's replay_lsn in pg_stat_replication, placed between the two samples
 * around it, tells when the WAL it has replayed was written. While waiting, heartbeats keep coming,
 * so the lag grows while replay stands still and falls once it moves. `holdWhilePaused` lets
 * `breakwater pause` hold the transform meanwhile.
 */
export async function waitForReplicas(ctx: ExecutionContext, label: string, holdWhilePaused: () => Promise<void>): Promise<void> {
  const state = ctx.replicaLag;
  if (state.blind || (state.idleSince !== null && performance.now() - state.idleSince < idleLookEveryMs)) return;
  let standbys = await measureStandbys(ctx);
  let over = standbys.filter((s) => s.lagMs !== null && s.lagMs > state.maxLagMs);
  if (over.length === 0) return;
  const started = performance.now();
  const waitingOn = new Map<number, string>();
  let reported = -Infinity;
  while (over.length > 0) {
    for (const s of over) waitingOn.set(s.pid, s.name);
    if (performance.now() - reported >= reportEveryMs) {
      const worst = over.reduce((a, b) => (b.lagMs! > a.lagMs! ? b : a));
      ctx.emit({
        type: "throttled",
        runId: ctx.runId,
        label,
        reason: "replica-lag",
        standby: worst.name,
        lagMs: Math.round(worst.lagMs!),
        lagBytes: worst.lagBytes,
        maxLagMs: state.maxLagMs,
        // 0 marks the start of the wait (the renderer prints it as a line of its own)
        waitedMs: reported === -Infinity ? 0 : Math.round(performance.now() - started),
      });
      reported = performance.now();
    }
    await sleep(throttledLookEveryMs);
    await holdWhilePaused();
    standbys = await measureStandbys(ctx);
    const connected = new Set(standbys.map((s) => s.pid));
    for (const [pid, name] of waitingOn) {
      if (connected.has(pid)) continue;
      waitingOn.delete(pid);
      ctx.emit({ type: "warning", runId: ctx.runId, message: `standby ${name} disconnected while "${label}" waited for it to replay; no longer waiting for it` });
    }
    over = standbys.filter((s) => s.lagMs !== null && s.lagMs > state.maxLagMs);
  }
  ctx.emit({ type: "unthrottled", runId: ctx.runId, label, reason: "replica-lag", waitedMs: Math.round(performance.now() - started) });
}

/** The physical standbys streaming from this primary and their lag; a heartbeat is written when there is one. */
async function measureStandbys(ctx: ExecutionContext): Promise<Standby[]> {
  const state = ctx.replicaLag;
  const at = performance.now();
  // pg_stat_replication also lists logical walsenders (subscriptions, change data capture), which
  // are connected to a database and replay no WAL of a standby; and pg_basebackup's ('backup').
  // Without superuser or pg_read_all_stats, every column but pid is NULL (doc: pg_stat_replication).
  const { rows } = await ctx.db.query<{ pid: number; name: string; state: string | null; replay: string | null; lag_bytes: number | null; written: string }>(
    `SELECT r.pid, concat_ws(' at ', coalesce(nullif(r.application_name, ''), 'pid ' || r.pid), host(r.client_addr)) AS name, r.state,
            pg_wal_lsn_diff(r.replay_lsn, '0/0')::text AS replay, pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 AS lag_bytes,
            pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::text AS written
       FROM pg_stat_replication r JOIN pg_stat_activity a USING (pid)
      WHERE a.datid IS NULL AND r.state IS DISTINCT FROM 'backup'
      ORDER BY r.pid`,
  );
  const now = performance.now();
  if (rows.length === 0) {
    state.idleSince = now;
    state.samples = [];
    return [];
  }
  state.idleSince = null;
  if (rows.every((r) => r.state === null)) {
    state.blind = true;
    ctx.emit({
      type: "warning",
      runId: ctx.runId,
      message: `${rows.length} standby(s) stream from this database, but this role cannot see how far they replay (pg_stat_replication needs pg_read_all_stats): throttle.maxReplicaLagMs is not applied`,
    });
    return [];
  }
  state.samples.push({ lsn: BigInt(rows[0]!.written), at });
  // Samples older than the limit (with a margin) are no longer needed: a standby behind every
  // sample kept is, at least, as far behind as the oldest of them, and that is over the limit.
  const keepMs = 2 * state.maxLagMs + 10_000;
  while (state.samples.length > 2 && now - state.samples[1]!.at > keepMs) state.samples.shift();
  await writeHeartbeat(ctx.db, ctx.runId, state);
  return rows.map((r) => ({
    pid: r.pid,
    name: r.name,
    lagMs: r.replay === null ? null : replayLagMs(state.samples, BigInt(r.replay), now),
    lagBytes: r.lag_bytes === null ? null : Math.max(0, r.lag_bytes),
  }));
}

/**
 * How long ago the WAL a standby has replayed up to was written: between the newest sample at or
 * before `replay` and the next one, in proportion to the bytes (WAL is written about evenly
 * between two looks, a batch apart); behind every sample, at least as long ago as the oldest.
 */
function replayLagMs(samples: WalSample[], replay: bigint, now: number): number {
  let i = samples.length - 1;
  while (i >= 0 && samples[i]!.lsn > replay) i -= 1;
  if (i < 0) return now - samples[0]!.at;
  const before = samples[i]!;
  const after = samples[i + 1];
  if (!after) return now - before.at;
  const share = Number(replay - before.lsn) / Number(after.lsn - before.lsn);
  return Math.max(0, now - (before.at + share * (after.at - before.at)));
}

/** One row, rewritten at each look: on a standby, `now() - at` is its lag too (while a transform runs). */
async function writeHeartbeat(db: Database, runId: string, state: ReplicaLagState): Promise<void> {
  if (!state.heartbeatTableReady) {
    await db.query(`CREATE SCHEMA IF NOT EXISTS breakwater;
      CREATE TABLE IF NOT EXISTS ${heartbeatTable} (id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), at timestamptz NOT NULL, run_id text NOT NULL)`);
    state.heartbeatTableReady = true;
  }
  await db.query(`INSERT INTO ${heartbeatTable} (id, at, run_id) VALUES (1, clock_timestamp(), $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at, run_id = excluded.run_id`, [
    runId,
  ]);
}
