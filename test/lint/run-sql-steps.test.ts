// `breakwater run` lints a plan's sql steps before it changes anything: an error finding refuses
// the plan at preflight (exit 2), unless the step's SQL ignores it with a reason or --allow names
// its rule — as deploy does with migration files.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";

const indexStep = (id: string, prefix = "") =>
  planSource(`{ id: ${JSON.stringify(id)}, steps: [sql(${JSON.stringify(`${prefix}CREATE INDEX "Item_name_idx" ON "Item" ("name")`)}, { down: 'DROP INDEX "Item_name_idx"' })] }`);

const indexExists = async (t: TestDatabase) => (await t.db.one<{ ok: boolean }>(`SELECT to_regclass('"Item_name_idx"') IS NOT NULL AS ok`)).ok;

describe("breakwater run lints the plan's sql steps", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE "Item" (id int PRIMARY KEY, name text); INSERT INTO "Item" SELECT i, 'n' || i FROM generate_series(1, 100) AS i`);
  });
  after(() => t.drop());

  it("refuses a CREATE INDEX without CONCURRENTLY at preflight, with the finding and its fix; runs it with --allow", async () => {
    const dir = await tempProject({ "plan.ts": indexStep("lint_index") });
    const refused = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /plan\.ts \(steps\.0\):1:1 error index-not-concurrent: /);
    assert.match(refused.stderr, /fix: CREATE INDEX CONCURRENTLY/);
    assert.match(refused.stderr, /--allow index-not-concurrent/);
    assert.equal(await indexExists(t), false, "nothing ran");
    const allowed = await runCli(["run", "plan.ts", "--allow", "index-not-concurrent"], { cwd: dir, databaseUrl: t.url });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(await indexExists(t), true);
    await t.db.query(`DROP INDEX "Item_name_idx"`);
  });

  it("runs the step when its SQL ignores the finding with a reason", async () => {
    const dir = await tempProject({ "plan.ts": indexStep("lint_index_ignored", "-- breakwater-ignore index-not-concurrent: Item holds 100 rows\n") });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await indexExists(t), true);
    await t.db.query(`DROP INDEX "Item_name_idx"`);
  });
});
