import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { fileStore, isBreakwaterError } from "@breakwater/runtime/internal";
import { validatePlan } from "../../packages/breakwater/src/plan/plan.ts";
import { resumeRun, runPlan } from "../../packages/breakwater/src/runner/runner.ts";
import type { BreakwaterEvent } from "../../packages/breakwater/src/runner/events.ts";
import { backfill } from "@breakwater/runtime";
import { startRelay } from "../fixtures/tcp-relay.ts";
import { createTestDatabase, planSource, runCli, spawnCli, tempProject, waitFor, type TestDatabase } from "../harness.ts";

const slow = `export default { batch: { size: 300, pauseMs: 15 } };\n`;

async function transforming(t: TestDatabase, planId: string): Promise<{ run_id: string; scanned: number } | undefined> {
  const ok = await t.db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.steps') IS NOT NULL AS ok");
  if (!ok.ok) return undefined;
  const { rows } = await t.db.query<{ run_id: string; scanned: number }>(
    `SELECT s.run_id, coalesce((s.data->>'scanned')::int, 0) AS scanned FROM breakwater.steps s JOIN breakwater.runs r ON r.id = s.run_id
      WHERE r.plan_id = $1 AND s.phase = 'transform' AND s.state = 'running' AND s.cursor IS NOT NULL AND coalesce((s.data->>'scanned')::int, 0) > 2000`,
    [planId],
  );
  return rows[0];
}

async function counts(t: TestDatabase, table: string): Promise<{ once: number; other: number }> {
  return await t.db.one<{ once: number; other: number }>(`SELECT count(*) FILTER (WHERE hits = 1)::int AS once, count(*) FILTER (WHERE hits <> 1)::int AS other FROM "${table}"`);
}

describe("a run that loses its database connection", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    for (const table of ["Terminated", "Cut"]) {
      await t.db.query(`CREATE TABLE "${table}" (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0)`);
      await t.db.query(`INSERT INTO "${table}" (id) SELECT generate_series(1, 15000)`);
    }
  });
  after(async () => t.drop());

  it("reconnects after pg_terminate_backend and finishes, each row changed exactly once", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": slow,
      "plan.ts": planSource(`{ id: "terminated", steps: [backfill({ table: "Terminated", set: { hits: "hits + 1" } })] }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => void (stderr += c.toString()));
    const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    const progress = await waitFor(() => transforming(t, "terminated"));
    const ended = await t.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'breakwater run ${progress.run_id}%'`);
    assert.equal(ended.rowCount, 1, "the runner's connection was ended");
    assert.equal(await exited, 0, stderr);
    assert.match(
      stderr,
      /Lost the database connection during "backfill Terminated": (terminating connection due to administrator command|Client has encountered a connection error and is not queryable); reconnecting for up to 60 s/,
    );
    assert.match(stderr, /Reconnected after \d+\.\d s; continuing from the journal/);
    assert.deepEqual(await counts(t, "Terminated"), { once: 15000, other: 0 });
    const run = await t.db.one<{ state: string; rows: number }>(
      `SELECT r.state, s.rows::int AS rows FROM breakwater.runs r JOIN breakwater.steps s ON s.run_id = r.id AND s.phase = 'transform' WHERE r.id = $1`,
      [progress.run_id],
    );
    assert.deepEqual(run, { state: "completed", rows: 15000 }, "the journal counts each row once");
    assert.equal((await t.db.query(`SELECT 1 FROM pg_trigger WHERE tgname = 'breakwater_write_fence'`)).rowCount, 0, "the fence is down");
  });

  it("stops with BW_CONNECTION_FAILED and the resume hint when the database stays away longer than the budget; resume finishes", async () => {
    const relay = await startRelay(t.url);
    try {
      const dir = await tempProject();
      const config = resolveConfig({ maintenance: { file: path.join(dir, "maintenance", "enabled.lock") }, batch: { size: 300, pauseMs: 15 } }, dir, null, {});
      const events: BreakwaterEvent[] = [];
      const plan = validatePlan({ id: "cut", steps: [backfill({ table: "Cut", set: { hits: "hits + 1" } })] });
      const running = runPlan(
        { plan, path: path.join(dir, "plan.ts"), sha256: "" },
        { config, databaseUrl: relay.url, store: fileStore({ path: config.maintenanceFile }), emit: (e) => events.push(e), reconnectTimeoutMs: 1500 },
      );
      const settled = running.then(
        () => null,
        (error: unknown) => error,
      );
      const progress = await waitFor(() => transforming(t, "cut"));
      const cutAt = Date.now();
      relay.cut();
      const error = await settled;
      const tookMs = Date.now() - cutAt;
      assert.ok(isBreakwaterError(error, "BW_CONNECTION_FAILED"), String(error));
      assert.match(error.message, /could not get it back within 2 s/);
      assert.match(error.hint ?? "", new RegExp(`breakwater resume ${progress.run_id}`));
      assert.ok(tookMs < 10_000, `gave up within the budget (${tookMs} ms)`);
      assert.ok(events.some((e) => e.type === "warning" && /Lost the database connection/.test(e.message)));
      const mid = await counts(t, "Cut");
      assert.ok(mid.once > 0 && mid.once < 15000, `stopped mid-transform (${mid.once} rows)`);
      assert.equal((await t.db.query(`SELECT 1 FROM pg_trigger WHERE tgname = 'breakwater_write_fence'`)).rowCount, 1, "the fence stays up meanwhile");

      relay.resume();
      const outcome = await resumeRun(undefined, { config, databaseUrl: relay.url, store: fileStore({ path: config.maintenanceFile }) });
      assert.equal(outcome.state, "completed");
      assert.deepEqual(await counts(t, "Cut"), { once: 15000, other: 0 });
    } finally {
      await relay.close();
    }
  });

  it("exits 6 from the command line once reconnect.timeoutMs has passed, and says what to resume", async () => {
    await t.db.query(`UPDATE "Cut" SET hits = 0`);
    const relay = await startRelay(t.url);
    try {
      const dir = await tempProject({
        "breakwater.config.ts": `export default { batch: { size: 300, pauseMs: 15 }, reconnect: { timeoutMs: 1000 } };\n`,
        "plan.ts": planSource(`{ id: "cut_cli", steps: [backfill({ table: "Cut", set: { hits: "hits + 1" } })] }`),
      });
      const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: relay.url });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => void (stderr += c.toString()));
      const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
      const progress = await waitFor(() => transforming(t, "cut_cli"));
      relay.cut();
      assert.equal(await exited, 6, stderr);
      assert.match(stderr, /could not get it back within 1 s/);
      assert.match(stderr, new RegExp(`hint: Nothing committed is lost: run \`breakwater resume ${progress.run_id}\``));
      relay.resume();
      const resumed = await runCli(["resume"], { cwd: dir, databaseUrl: relay.url });
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(await counts(t, "Cut"), { once: 15000, other: 0 });
    } finally {
      await relay.close();
    }
  });

  it("reconnects when the connection is lost during preflight, and runs the plan once", async () => {
    await t.db.query(`CREATE TABLE "Early" (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0); INSERT INTO "Early" (id) SELECT generate_series(1, 3000)`);
    const blocker = await t.connect();
    // Preflight's EXPLAIN of the backfill waits behind this lock: the runner is surely in preflight.
    await blocker.query("BEGIN");
    await blocker.query(`LOCK TABLE "Early" IN ACCESS EXCLUSIVE MODE`);
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "early", steps: [backfill({ table: "Early", set: { hits: "hits + 1" } })] }`) });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => void (stderr += c.toString()));
    const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    const pid = await waitFor(
      async () => (await t.db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'breakwater run %' AND wait_event_type = 'Lock'`)).rows[0]?.pid,
    );
    await t.db.query("SELECT pg_terminate_backend($1)", [pid]);
    await blocker.query("ROLLBACK");
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /Lost the database connection during "preflight"/);
    assert.deepEqual(await counts(t, "Early"), { once: 3000, other: 0 });
    const runs = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM breakwater.runs WHERE plan_id = 'early'`);
    assert.equal(runs.n, 1, "one run recorded");
  });

  it("resumes a run whose steps were never journaled (a runner that died between the two) without changing any row twice", async () => {
    await t.db.query(`CREATE TABLE "Hole" (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0); INSERT INTO "Hole" (id) SELECT generate_series(1, 15000)`);
    const dir = await tempProject({ "breakwater.config.ts": slow, "plan.ts": planSource(`{ id: "hole", steps: [backfill({ table: "Hole", set: { hits: "hits + 1" } })] }`) });
    assert.equal((await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url })).code, 0);
    // The state a runner leaves when it dies after recording its run but before its steps.
    await t.db.query(`UPDATE "Hole" SET hits = 0`);
    await t.db.query(
      `INSERT INTO breakwater.runs (id, plan_id, plan_path, plan_sha256, plan, facts, state, phase, holder)
       SELECT '20990101000000-h0le', 'hole_again', plan_path, plan_sha256, plan, facts, 'running', 'preflight', holder FROM breakwater.runs WHERE plan_id = 'hole'`,
    );
    const child = spawnCli(["resume", "20990101000000-h0le"], { cwd: dir, databaseUrl: t.url });
    await waitFor(() => transforming(t, "hole_again"));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    const resumed = await runCli(["resume", "20990101000000-h0le"], { cwd: dir, databaseUrl: t.url });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(await counts(t, "Hole"), { once: 15000, other: 0 });
  });

  it("exits 6 from the command line when it cannot connect at all", async () => {
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "nowhere", steps: [backfill({ table: "Cut", set: { hits: "hits" } })] }`) });
    const unreachable = new URL(t.url);
    unreachable.port = "1";
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: unreachable.toString() });
    assert.equal(result.code, 6, result.stderr);
    assert.match(result.stderr, /Cannot connect to PostgreSQL at [^ ]+:1\//);
  });
});
