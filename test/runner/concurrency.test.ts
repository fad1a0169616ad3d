import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, planSource, runCli, spawnCli, tempProject, waitFor, type TestDatabase } from "../harness.ts";

describe("one runner per database", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE "Item" (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)`);
    await t.db.query(`INSERT INTO "Item" (id) SELECT generate_series(1, 20000)`);
  });
  after(async () => t.drop());

  it("refuses a second concurrent run and names the one holding the lock", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": `export default { batch: { size: 200, pauseMs: 20 } };\n`,
      "plan.ts": planSource(`{ id: "slow_one", steps: [backfill({ table: "Item", set: { v: "v + 1" } })] }`),
      "other.ts": planSource(`{ id: "second_one", steps: [backfill({ table: "Item", set: { v: "v + 100" } })] }`),
    });
    const first = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    const exited = new Promise<number>((resolve) => first.on("exit", (code) => resolve(code ?? -1)));
    const runId = await waitFor(async () => {
      const ok = await t.db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.runs') IS NOT NULL AS ok");
      if (!ok.ok) return undefined;
      return (await t.db.query<{ id: string }>(`SELECT id FROM breakwater.runs WHERE state = 'running'`)).rows[0]?.id;
    });
    const second = await runCli(["run", "other.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(second.code, 4, second.stderr);
    assert.match(second.stderr, /Another breakwater runner is working on/);
    assert.match(second.stderr, new RegExp(`breakwater run ${runId}`));
    assert.match(second.stderr, /\[BW_LOCKED\]/);
    assert.equal(await exited, 0);
    const values = await t.db.one<{ max: number; min: number }>(`SELECT max(v) AS max, min(v) AS min FROM "Item"`);
    assert.deepEqual(values, { max: 1, min: 1 }, "the refused plan changed nothing");
    const runs = await t.db.query(`SELECT plan_id FROM breakwater.runs`);
    assert.deepEqual(runs.rows, [{ plan_id: "slow_one" }]);
  });
});
