import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Database } from "@breakwater/runtime/internal";
import { attempt, createTestDatabase, planSource, runCli, spawnCli, tempProject, transformingRun, waitFor, type TestDatabase } from "../harness.ts";

const insertFrom = (db: Database) => attempt(db, `INSERT INTO "Item" (id) VALUES ((SELECT max(id) + 1 FROM "Item"))`);

const slow = `export default { batch: { size: 300, pauseMs: 20 } };\n`;

async function fenceTriggers(t: TestDatabase): Promise<number> {
  return (await t.db.query(`SELECT 1 FROM pg_trigger WHERE tgname = 'breakwater_write_fence'`)).rowCount;
}

describe("the write fence", () => {
  let t: TestDatabase;
  let app: Database;
  before(async () => {
    t = await createTestDatabase();
    app = await t.connect();
    await t.db.query(`CREATE TABLE "Item" (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)`);
    await t.db.query(`INSERT INTO "Item" (id) SELECT generate_series(1, 15000)`);
  });
  after(async () => t.drop());

  it("refuses writes from other sessions during the transform, and is gone after success", async () => {
    const dir = await tempProject({ "breakwater.config.ts": slow, "plan.ts": planSource(`{ id: "fenced_ok", steps: [backfill({ table: "Item", set: { v: "v + 1" } })] }`) });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    const runId = await waitFor(() => transformingRun(t));
    const refused = await insertFrom(app);
    assert.equal(refused?.code, "BW001");
    assert.match(refused!.message, new RegExp(`writes to public\\.("Item"|Item) are paused while breakwater run ${runId} migrates it`));
    assert.equal(await exited, 0);
    assert.equal(await fenceTriggers(t), 0);
    assert.equal(await insertFrom(app), null, "writes work again");
  });

  it("is gone after a rollback", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": slow,
      "plan.ts": planSource(`{ id: "fenced_rollback", steps: [backfill({ table: "Item", set: { v: "v + 1" } })], checks: [{ name: "fails", sql: "SELECT 1", expect: 2 }] }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    await waitFor(() => transformingRun(t));
    assert.equal((await insertFrom(app))?.code, "BW001");
    assert.equal(await exited, 3);
    assert.equal(await fenceTriggers(t), 0);
    assert.equal(await insertFrom(app), null);
  });

  it("survives kill -9 (still refusing writes) and is gone after resume", async () => {
    const dir = await tempProject({ "breakwater.config.ts": slow, "plan.ts": planSource(`{ id: "fenced_killed", steps: [backfill({ table: "Item", set: { v: "v + 1" } })] }`) });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    await waitFor(() => transformingRun(t));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    assert.equal((await insertFrom(app))?.code, "BW001", "still fenced while the run is interrupted");
    const off = await runCli(["maintenance", "off"], { cwd: dir, databaseUrl: t.url });
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /The write fence of run \S+ still refuses writes to "?Item"? .*breakwater resume \S+` completes it/s);
    assert.equal((await insertFrom(app))?.code, "BW001", "maintenance off does not lower the fence of an unfinished run");
    // The dead runner's backend pid may be given to the next session: a pid alone must not let it through.
    await t.db.query("UPDATE breakwater.fences SET pid = $1", [app.backendPid]);
    assert.equal((await insertFrom(app))?.code, "BW001", "a session with the dead runner's pid is still refused");
    const resumed = await runCli(["resume"], { cwd: dir, databaseUrl: t.url });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(await fenceTriggers(t), 0);
    assert.equal(await insertFrom(app), null);
  });
});
