// The verify phase reads an operation's per-row invariant (`new IS NOT DISTINCT FROM f(old)`) in
// keyset batches, each a short read-only query, instead of one statement over the whole table;
// it stops at the first batch with a wrong row and reports how many it found there and which row.
import assert from "node:assert/strict";
import { unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { changeColumnType } from "@breakwater/runtime";
import { fileStore } from "@breakwater/runtime/internal";
import { resolveConfig, type BreakwaterConfigInput } from "../../packages/breakwater/src/config/config.ts";
import { validatePlan, type MigrationInput } from "../../packages/breakwater/src/plan/plan.ts";
import type { BreakwaterEvent } from "../../packages/breakwater/src/runner/events.ts";
import { rollbackRunById, RunFailure, runPlan, type RunOutcome } from "../../packages/breakwater/src/runner/runner.ts";
import { createTestDatabase, tempProject, waitFor, type TestDatabase } from "../harness.ts";

const rows = 6000;
const invariant = "every row of items holds amount converted";

describe("per-row verification in batches", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE items (id int PRIMARY KEY, amount int NOT NULL);
      INSERT INTO items SELECT i, i % 1000 FROM generate_series(1, ${rows}) i;
      ANALYZE items;`);
  });
  after(() => t.drop());

  const plan = (id: string): MigrationInput => ({ id, online: true, steps: [changeColumnType({ table: "items", column: "amount", type: "bigint" })], batch: { size: 500 } });

  /** Starts a run of `input`; its events are collected as they come. */
  const start = async (input: MigrationInput, config: BreakwaterConfigInput = {}) => {
    const dir = await tempProject();
    const events: BreakwaterEvent[] = [];
    const options = { config: resolveConfig(config, dir, null, {}), databaseUrl: t.url, emit: (e: BreakwaterEvent) => events.push(e) };
    const store = fileStore({ path: options.config.maintenanceFile });
    const outcome: Promise<RunOutcome> = runPlan({ plan: validatePlan(input), path: path.join(dir, "plan.ts"), sha256: "" }, { ...options, store });
    return { events, outcome, rollback: (runId: string) => rollbackRunById(runId, { ...options, store }) };
  };
  /** Progress events of the per-row verification. */
  const verifyBatches = (events: BreakwaterEvent[]) => events.filter((e) => e.type === "progress" && e.label.startsWith(`verify: ${invariant}`)).length;

  it("verifies every row in several short batches and records how many", async () => {
    const run = await start(plan("verify_batches"));
    const outcome = await run.outcome;
    assert.equal(outcome.state, "completed");
    assert.ok(verifyBatches(run.events) >= rows / 500 - 1, `${verifyBatches(run.events)} verification batches`);
    const verify = await t.db.one<{ data: { batches: Record<string, number> } }>("SELECT data FROM breakwater.steps WHERE run_id = $1 AND phase = 'verify'", [outcome.runId]);
    const batches = Object.entries(verify.data.batches).find(([name]) => name.startsWith(invariant))?.[1];
    assert.ok(batches !== undefined && batches >= rows / 500, `${batches} batches in the journal`);
    const result = outcome.log.checks.find((c) => c.name.startsWith(invariant));
    assert.deepEqual([result?.ok, result?.expected, result?.actual], [true, 0, 0]);
    // Rolled back, so that the next test starts from the int column again.
    assert.equal((await run.rollback(outcome.runId)).state, "rolled_back");
    assert.equal(
      (await t.db.one<{ type: string }>("SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'amount'")).type,
      "integer",
    );
  });

  it("finds a row the trigger did not keep right, names it, and rolls the run back", async () => {
    const flag = path.join(await tempProject(), "hold.flag");
    await writeFile(flag, "");
    const run = await start(plan("verify_wrong_row"), { throttle: { pauseFile: flag } });
    const running = run.outcome.then(
      () => null,
      (error: unknown) => error,
    );
    // The fill holds before its first batch, its end (the last key) already fixed.
    await waitFor(
      async () => (await t.db.query("SELECT 1 FROM breakwater.runs WHERE plan_id = 'verify_wrong_row' AND pause_file IS NOT NULL").catch(() => ({ rowCount: 0 }))).rowCount > 0,
    );
    // A write the operation's trigger does not see (session_replication_role = replica skips
    // ordinary triggers): its new column stays NULL, beyond the end of the fill.
    const app = await t.connect();
    await app.query("SET session_replication_role = replica");
    await app.query(`INSERT INTO items (id, amount) VALUES (${rows + 1}, 7)`);
    await app.query("RESET session_replication_role");
    await unlink(flag);

    const failure = await running;
    assert.ok(failure instanceof RunFailure, String(failure));
    assert.equal(failure.code, "BW_CHECK_FAILED");
    assert.equal(failure.outcome.state, "rolled_back");
    assert.match(failure.message, new RegExp(`${invariant} \\([^)]*\\) \\(expected 0, got at least 1; first: id = ${rows + 1}\\)`));
    const result = failure.outcome.log.checks.find((c) => c.name.startsWith(invariant));
    assert.deepEqual([result?.ok, result?.actual, result?.atLeast, result?.example], [false, 1, true, `id = ${rows + 1}`]);
    // Read up to the wrong row batch by batch (a progress event after each clean batch), never in one statement.
    assert.ok(verifyBatches(run.events) >= rows / 500 - 1, `${verifyBatches(run.events)} clean batches before the wrong row`);
    assert.equal(
      (await t.db.one<{ type: string }>("SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'amount'")).type,
      "integer",
    );
    assert.equal((await t.db.one<{ n: number }>("SELECT count(*)::int AS n FROM items")).n, rows + 1, "the application's row stays");
  });
});
