import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { after, before, describe, it } from "node:test";
import { RUNNER_LOCK_KEY } from "../../packages/breakwater/src/runner/journal.ts";
import { createTestDatabase, planSource, runCli, spawnCli, tableChecksum, tempProject, waitFor, type TestDatabase } from "../harness.ts";

// A runner killed while PostgreSQL runs one of its long statements leaves a backend that keeps the
// runner lock until the statement ends. resume/rollback must not be refused meanwhile.
describe("a runner killed during a long rollback statement", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE "Slow" (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)`);
    await t.db.query(`INSERT INTO "Slow" (id) SELECT generate_series(1, 2500)`);
    // Updates of the table become slow (2 ms a row) once the flag is set: the rollback's restore
    // from the snapshot, one statement, then takes about 5 s.
    await t.db.query(`CREATE TABLE slow_flag (on_ boolean NOT NULL)`);
    await t.db.query(`INSERT INTO slow_flag VALUES (false)`);
    await t.db.query(
      `CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF (SELECT on_ FROM slow_flag) THEN PERFORM pg_sleep(0.002); END IF; RETURN NEW; END $$`,
    );
    await t.db.query(`CREATE TRIGGER slow_update BEFORE UPDATE ON "Slow" FOR EACH ROW EXECUTE FUNCTION slow_update()`);
  });
  after(async () => t.drop());

  it("resumes the rollback at once instead of being refused by the orphaned backend", async () => {
    const before = await tableChecksum(t.db, `"Slow"`, "id");
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "slow_back", steps: [backfill({ table: "Slow", set: { v: "v + 7" } })] }`) });
    assert.equal((await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url })).code, 0);
    const runId = (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs WHERE plan_id = 'slow_back'`)).id;
    await t.db.query(`UPDATE slow_flag SET on_ = true`);

    const child = spawnCli(["rollback", runId], { cwd: dir, databaseUrl: t.url });
    const backend = await waitFor(async () => {
      const { rows } = await t.db.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'breakwater rollback %' AND query LIKE 'UPDATE "public"."Slow"%' AND state = 'active'`,
      );
      return rows[0]?.pid;
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));

    const started = Date.now();
    const resumed = await runCli(["resume", runId], { cwd: dir, databaseUrl: t.url });
    const tookMs = Date.now() - started;
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(tookMs < 30_000, `not held up by the orphaned statement (${tookMs} ms)`);
    const gone = await t.db.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [backend]);
    assert.equal(gone.rowCount, 0, "the orphaned backend has ended");
    await t.db.query(`UPDATE slow_flag SET on_ = false`);
    assert.equal(await tableChecksum(t.db, `"Slow"`, "id"), before, "the rollback restored every row");
    const run = await t.db.one<{ state: string }>(`SELECT state FROM breakwater.runs WHERE id = $1`, [runId]);
    assert.equal(run.state, "rolled_back");
  });

  it("still refuses while a live runner holds the lock", async () => {
    await t.db.query(`UPDATE slow_flag SET on_ = false`);
    const dir = await tempProject({
      "breakwater.config.ts": `export default { batch: { size: 100, pauseMs: 50 } };\n`,
      "plan.ts": planSource(`{ id: "busy", steps: [backfill({ table: "Slow", set: { v: "v + 1" } })] }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    await waitFor(
      async () =>
        (await t.db.query(`SELECT 1 FROM breakwater.steps s JOIN breakwater.runs r ON r.id = s.run_id WHERE r.plan_id = 'busy' AND s.phase = 'transform' AND s.cursor IS NOT NULL`))
          .rowCount > 0,
    );
    const second = await runCli(["resume"], { cwd: dir, databaseUrl: t.url });
    assert.equal(second.code, 4, second.stderr);
    assert.match(second.stderr, /Another breakwater runner is working on .*breakwater run \S+ \(pid \d+ on /);
    assert.equal(await exited, 0);
  });

  it("ends the idle session of a runner that is gone from this host and takes the lock", async () => {
    // A runner process that has exited: its pid, gone, in the application_name breakwater sets.
    const exitedPid = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ["-e", "0"]);
      child.on("exit", () => resolve(child.pid!));
    });
    const orphan = await t.connect();
    await orphan.query("SELECT set_config('application_name', $1, false)", [`breakwater run 20990101000000-dead (pid ${exitedPid} on ${hostname()})`]);
    await orphan.query(`SELECT pg_advisory_lock(${RUNNER_LOCK_KEY.toString()})`);
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "after_orphan", steps: [backfill({ table: "Slow", set: { v: "v" } })] }`) });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `The runner that held the lock \\(pid ${exitedPid} on .+\\) is gone, but its database session \\(backend ${orphan.backendPid}\\) still holds the runner lock; ending it`,
      ),
    );
    await assert.rejects(orphan.query("SELECT 1"), "the orphaned session was ended");
  });

  it("leaves the lock to a session whose runner process is alive", async () => {
    const holder = await t.connect();
    await holder.query("SELECT set_config('application_name', $1, false)", [`breakwater run 20990101000000-live (pid ${process.pid} on ${hostname()})`]);
    await holder.query(`SELECT pg_advisory_lock(${RUNNER_LOCK_KEY.toString()})`);
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "while_alive", steps: [backfill({ table: "Slow", set: { v: "v" } })] }`) });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 4, result.stderr);
    assert.equal((await holder.one<{ n: number }>("SELECT 1 AS n")).n, 1, "the live runner's session was left alone");
    await holder.query(`SELECT pg_advisory_unlock(${RUNNER_LOCK_KEY.toString()})`);
  });
});
