// The runner's connection: one per database at a time (session advisory lock), reconnected within
// a bounded budget when it is lost (server restart, pg_terminate_backend, network), and able to
// tell a runner that died on this host (its backend still finishing a statement) from a live one.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { BreakwaterError, Database, describeUrl } from "@breakwater/runtime/internal";
import { takeOverFence } from "../maintenance/write-fence.ts";
import { RUNNER_LOCK_KEY, describeLockHolder, holderDescription, lockHolder } from "./journal.ts";

/** How long a lost connection is retried before the run stops (resumable), and how long to wait for a dead runner's backend. */
export interface SessionPolicy {
  reconnectTimeoutMs: number;
}

type Notice = (message: string) => void;

/**
 * Whether the runner process `pid` is still alive on this host. A pid that exists but belongs to
 * a process started after the runner's connection (`connectedAt`) was reused: the runner is gone.
 */
function runnerAlive(pid: number, connectedAt: Date): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  const started = processStart(pid);
  return started === null || started.getTime() <= connectedAt.getTime() + 1000;
}

/** When a process started, from /proc (Linux); null where that cannot be read. */
function processStart(pid: number): Date | null {
  try {
    // Field 22 of /proc/<pid>/stat, after the parenthesised command name: clock ticks since boot.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(boot)) return null;
    return new Date((boot + ticks / 100) * 1000);
  } catch {
    return null;
  }
}

export class RunnerSession {
  db: Database;
  readonly url: string;
  private applicationName: string;

  private constructor(db: Database, url: string, applicationName: string) {
    this.db = db;
    this.url = url;
    this.applicationName = applicationName;
  }

  /**
   * Connects and takes the runner lock. A lock held by a runner that died on this host (its
   * backend still running the statement it was killed in) is taken back by ending that backend;
   * any other holder gets BW_LOCKED naming it.
   */
  static async open(url: string, command: string, policy: SessionPolicy, notice: Notice): Promise<RunnerSession> {
    const applicationName = `breakwater ${command} (${holderDescription()})`;
    const db = await connect(url, applicationName);
    try {
      await takeRunnerLock(db, url, policy, notice, null);
    } catch (error) {
      await db.close();
      throw error;
    }
    return new RunnerSession(db, url, applicationName);
  }

  async setApplicationName(name: string): Promise<void> {
    this.applicationName = name.slice(0, 63);
    await this.db.query("SELECT set_config('application_name', $1, false)", [this.applicationName]);
  }

  /**
   * After the connection was lost: connects again (backing off) within the budget, takes the
   * runner lock back — ending the old backend if it is still there — and takes over the run's
   * write fence. Past the budget: BW_CONNECTION_FAILED with the resume hint.
   */
  async reconnect(runId: string, cause: string, policy: SessionPolicy, notice: Notice): Promise<void> {
    const started = Date.now();
    const oldPid = this.db.backendPid;
    await this.db.close();
    notice(`Lost the database connection ${cause}; reconnecting for up to ${Math.round(policy.reconnectTimeoutMs / 1000)} s…`);
    let delay = 200;
    let last = cause;
    for (;;) {
      const left = policy.reconnectTimeoutMs - (Date.now() - started);
      if (left <= 0) {
        throw new BreakwaterError(
          "BW_CONNECTION_FAILED",
          `Lost the database connection at ${describeUrl(this.url)} and could not get it back within ${Math.round(policy.reconnectTimeoutMs / 1000)} s: ${last}`,
          {
            hint: `Nothing committed is lost: run \`breakwater resume ${runId}\` when the database is reachable again. Maintenance mode and the write fence stay on meanwhile.`,
          },
        );
      }
      let db: Database | undefined;
      try {
        db = await connect(this.url, this.applicationName, Math.min(left, 5000));
        await takeRunnerLock(db, this.url, { reconnectTimeoutMs: left }, notice, oldPid);
        await takeOverFence(db, runId);
        this.db = db;
        notice(`Reconnected after ${((Date.now() - started) / 1000).toFixed(1)} s; continuing from the journal.`);
        return;
      } catch (error) {
        await db?.close();
        if (error instanceof BreakwaterError && error.code === "BW_LOCKED") throw error;
        last = error instanceof Error ? error.message : String(error);
        await sleep(Math.min(delay, Math.max(0, policy.reconnectTimeoutMs - (Date.now() - started))));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

async function connect(url: string, applicationName: string, connectTimeoutMs = 10_000): Promise<Database> {
  const db = await Database.connect(url, { applicationName, connectTimeoutMs });
  // PostgreSQL ≥ 14 notices a vanished client during a long statement (a killed runner) and ends
  // the statement instead of finishing it and keeping the runner lock meanwhile.
  await db.query("SELECT set_config('client_connection_check_interval', '1s', false) WHERE current_setting('server_version_num')::int >= 140000");
  return db;
}

/**
 * The session advisory lock. When it is held: by our own previous backend (`previousPid`, after a
 * lost connection) or by a runner process that is gone from this host, that backend is ended and
 * the lock awaited; otherwise BW_LOCKED.
 */
async function takeRunnerLock(db: Database, url: string, policy: SessionPolicy, notice: Notice, previousPid: number | null): Promise<void> {
  const started = Date.now();
  let ended: number | null = null;
  for (;;) {
    if (await db.tryAdvisoryLock(RUNNER_LOCK_KEY)) return;
    const holder = await lockHolder(db);
    if (holder === null) continue; // released between the two queries
    const ours = holder.pid === previousPid;
    const deadRunner = !ours && holder.host === hostname() && holder.runnerPid !== null && !runnerAlive(holder.runnerPid, holder.connectedAt);
    if (!ours && !deadRunner) {
      throw new BreakwaterError("BW_LOCKED", `Another breakwater runner is working on ${describeUrl(url)}: ${await describeLockHolder(db)}.`, {
        hint: "Only one runner may work on a database at a time. Wait for it (see `breakwater status`); if its process died on another host, PostgreSQL releases the lock when its connection closes (or end that session: SELECT pg_terminate_backend(<pid>)).",
      });
    }
    if (ended !== holder.pid) {
      notice(
        ours ?
          `The previous connection (backend ${holder.pid}) still holds the runner lock; ending it.`
        : `The runner that held the lock (pid ${holder.runnerPid} on ${holder.host}) is gone, but its database session (backend ${holder.pid}) still holds the runner lock; ending it.`,
      );
      const terminated = await db.one<{ ok: boolean }>("SELECT pg_terminate_backend($1) AS ok", [holder.pid]).catch(() => ({ ok: false }));
      if (!terminated.ok) {
        throw new BreakwaterError("BW_LOCKED", `The runner lock is held by the session of a runner that is gone (backend ${holder.pid}), and this role may not end it.`, {
          hint: `Ask an administrator to run SELECT pg_terminate_backend(${holder.pid}), or wait for its statement to finish; then run the command again.`,
        });
      }
      ended = holder.pid;
    }
    if (Date.now() - started > policy.reconnectTimeoutMs) {
      throw new BreakwaterError(
        "BW_LOCKED",
        `Backend ${holder.pid} of a runner that is gone still holds the runner lock after ${Math.round(policy.reconnectTimeoutMs / 1000)} s.`,
        {
          hint: `Check it with SELECT * FROM pg_stat_activity WHERE pid = ${holder.pid}; run the command again once it has ended.`,
        },
      );
    }
    await sleep(100);
  }
}
