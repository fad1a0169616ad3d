import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createUsers } from "../../packages/breakwater/src/demo/users.ts";
import { createTestDatabase, enumLabels, planSource, runCli, spawnCli, tempProject, waitFor, type TestDatabase } from "../harness.ts";

// Small, slow batches so the transform is surely running when the runner is killed.
const slowConfig = `export default { batch: { size: 500, pauseMs: 15 } };\n`;

async function transformProgress(t: TestDatabase): Promise<{ run_id: string; rows: number } | undefined> {
  const exists = await t.db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.steps') IS NOT NULL AS ok");
  if (!exists.ok) return undefined;
  const { rows } = await t.db.query<{ run_id: string; rows: number }>(
    `SELECT run_id, rows::int AS rows FROM breakwater.steps WHERE phase = 'transform' AND cursor IS NOT NULL AND coalesce((data->>'scanned')::int, 0) > 3000 LIMIT 1`,
  );
  return rows[0];
}

describe("kill -9 of the runner during the transform, then resume", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE "Counter" (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0)`);
    await t.db.query(`INSERT INTO "Counter" (id) SELECT generate_series(1, 30000)`);
  });
  after(async () => t.drop());

  it("finishes the backfill with every row changed exactly once", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": slowConfig,
      "plan.ts": planSource(`{ id: "count_once", steps: [backfill({ table: "Counter", set: { hits: "hits + 1" } })] }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    const progress = await waitFor(() => transformProgress(t));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    const mid = await t.db.one<{ once: number; more: number }>(
      `SELECT count(*) FILTER (WHERE hits = 1)::int AS once, count(*) FILTER (WHERE hits > 1)::int AS more FROM "Counter"`,
    );
    assert.ok(mid.once >= progress.rows && mid.once < 30000, `killed mid-transform (${mid.once} rows done)`);
    assert.equal(mid.more, 0);
    const state = await t.db.one<{ state: string }>("SELECT state FROM breakwater.runs WHERE id = $1", [progress.run_id]);
    assert.equal(state.state, "running");
    assert.ok(existsSync(path.join(dir, "maintenance", "enabled.lock")), "maintenance stays on after the crash");

    const resumed = await runCli(["resume"], { cwd: dir, databaseUrl: t.url });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /Resuming count_once/);
    const final = await t.db.one<{ once: number; other: number }>(
      `SELECT count(*) FILTER (WHERE hits = 1)::int AS once, count(*) FILTER (WHERE hits <> 1)::int AS other FROM "Counter"`,
    );
    assert.deepEqual(final, { once: 30000, other: 0 });
    const run = await t.db.one<{ state: string }>("SELECT state FROM breakwater.runs WHERE id = $1", [progress.run_id]);
    assert.equal(run.state, "completed");
    const step = await t.db.one<{ rows: number }>(`SELECT rows::int AS rows FROM breakwater.steps WHERE run_id = $1 AND phase = 'transform'`, [progress.run_id]);
    assert.equal(step.rows, 30000, "the journal counts each row once");
    assert.equal(existsSync(path.join(dir, "maintenance", "enabled.lock")), false);
  });
});

describe("kill -9 during the enum rename's transform, then resume", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await createUsers(t.db, 20000);
  });
  after(async () => t.drop());

  it("ends in the seeds' target state", async () => {
    const users = await t.db.one<{ user: number; admin: number }>(
      `SELECT count(*) FILTER (WHERE role = 'USER')::int AS user, count(*) FILTER (WHERE role = 'ADMIN')::int AS admin FROM "User"`,
    );
    const dir = await tempProject({
      "breakwater.config.ts": slowConfig,
      "plan.ts": planSource(`{ id: "rename_killed", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "shadow" })] }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    await waitFor(() => transformProgress(t));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    const status = await runCli(["status", "--json"], { cwd: dir, databaseUrl: t.url });
    assert.equal(status.code, 0);
    const runs = JSON.parse(status.stdout);
    assert.equal(runs[0].state, "running");
    assert.equal(runs[0].steps.find((s: { phase: string }) => s.phase === "transform").state, "running");

    const resumed = await runCli(["resume", runs[0].id], { cwd: dir, databaseUrl: t.url });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
    const after = await t.db.one<{ employee: number; admin: number; other: number }>(
      `SELECT count(*) FILTER (WHERE role = 'EMPLOYEE')::int AS employee, count(*) FILTER (WHERE role = 'ADMIN')::int AS admin, count(*) FILTER (WHERE role NOT IN ('EMPLOYEE', 'ADMIN'))::int AS other FROM "User"`,
    );
    assert.deepEqual(after, { employee: users.user, admin: users.admin, other: 0 });
    assert.match(resumed.stdout, /\*\*Status\*\*: Successful/);
  });
});

describe("resume of a run whose journal lists other steps", () => {
  it("refuses before changing anything, naming the step that differs", async () => {
    const t = await createTestDatabase();
    try {
      await t.db.query(`CREATE TABLE "Item" (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO "Item" (id) SELECT generate_series(1, 100)`);
      // A step failing with an error that is not about the data leaves the run resumable.
      const dir = await tempProject({
        "plan.ts": planSource(
          `{ id: "stops", steps: [backfill({ table: "Item", set: { n: "n + 1" } }), sql("DO $$ BEGIN RAISE EXCEPTION 'stop here' USING ERRCODE = 'P0001'; END $$", { phase: "contract" })] }`,
        ),
      });
      const first = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
      assert.equal(first.code, 8, first.stderr);
      const { id } = await t.db.one<{ id: string }>("SELECT id FROM breakwater.runs");
      // As a version of breakwater that ordered the steps otherwise would have journaled them.
      await t.db.query("UPDATE breakwater.steps SET label = 'an older step' WHERE run_id = $1 AND seq = 2", [id]);
      const sum = async () => (await t.db.one<{ s: number }>(`SELECT sum(n)::int AS s FROM "Item"`)).s;
      const before = await sum();
      const resumed = await runCli(["resume", id], { cwd: dir, databaseUrl: t.url });
      assert.equal(resumed.code, 2, resumed.stderr);
      assert.match(
        resumed.stderr,
        new RegExp(
          `Run ${id} was started by a version of breakwater whose steps differ from this one's \\(step 2 is "an older step" in the journal, ".*" here\\)\\. Nothing was changed\\.`,
        ),
      );
      assert.equal(await sum(), before);
      assert.equal((await t.db.one<{ state: string }>("SELECT state FROM breakwater.runs WHERE id = $1", [id])).state, "failed");
    } finally {
      await t.drop();
    }
  });
});
