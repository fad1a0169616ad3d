import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, planSource, runCli, tableChecksum, tempProject, type TestDatabase } from "../harness.ts";

// SQL written in a plan (backfill `set`/`where`, check `sql`, `sql()` steps) is parsed with
// PostgreSQL's grammar before it runs: one expression, one SELECT, or statements without
// transaction control. Text after a `;` must never run, not even at preflight.
describe("SQL fragments in a plan", () => {
  let t: TestDatabase;
  let checksum: string;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE "Item" (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)`);
    await t.db.query(`INSERT INTO "Item" (id) SELECT generate_series(1, 3000)`);
    await t.db.query(`CREATE TABLE victim (id int PRIMARY KEY)`);
    await t.db.query(`INSERT INTO victim VALUES (1), (2), (3)`);
    // Wrongly declared IMMUTABLE: the planner runs it while planning (EXPLAIN included), and a
    // sequence advances even when the transaction is rolled back.
    await t.db.query(`CREATE SEQUENCE planned_seq`);
    await t.db.query(`CREATE FUNCTION sneaky() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM nextval('planned_seq'); RETURN true; END $$`);
    await t.db.query(`CREATE FUNCTION bump() RETURNS int LANGUAGE plpgsql AS $$ BEGIN UPDATE victim SET id = id + 100; RETURN 1; END $$`);
    checksum = await tableChecksum(t.db, `"Item"`, "id");
  });
  after(async () => t.drop());

  async function victimRows(): Promise<number> {
    const row = await t.db.one<{ n: number | null }>(`SELECT CASE WHEN to_regclass('victim') IS NULL THEN NULL ELSE (SELECT count(*)::int FROM victim WHERE id < 100) END AS n`);
    return row.n ?? -1;
  }

  const refused: [string, string, RegExp][] = [
    [
      "a `where` with a second statement",
      `{ id: "w1", steps: [backfill({ table: "Item", set: { v: "v + 1" }, where: "true; DROP TABLE victim; --" })] }`,
      /backfill of Item: `where` must be one SQL expression/,
    ],
    [
      "a `where` that commits",
      `{ id: "w2", steps: [backfill({ table: "Item", set: { v: "v + 1" }, where: "true; DROP TABLE victim; COMMIT; SELECT nope" })] }`,
      /`where` must be one SQL expression/,
    ],
    [
      "a `set` expression with a second statement",
      `{ id: "s1", steps: [backfill({ table: "Item", set: { v: "1; DROP TABLE victim" } })] }`,
      /backfill of Item: `set\.v` must be one SQL expression/,
    ],
    [
      "a `set` expression that closes its parenthesis",
      `{ id: "s2", steps: [backfill({ table: "Item", set: { v: "1) FROM victim WHERE (true" } })] }`,
      /`set\.v` must be one SQL expression/,
    ],
    [
      "a check with a second statement",
      `{ id: "c1", steps: [backfill({ table: "Item", set: { v: "v + 1" } })], checks: [{ name: "sneaky", sql: "SELECT 1; DROP TABLE victim", expect: 1 }] }`,
      /check "sneaky": `sql` must be one SELECT/,
    ],
    [
      "a check that writes",
      `{ id: "c2", steps: [backfill({ table: "Item", set: { v: "v + 1" } })], checks: [{ name: "writer", sql: "UPDATE victim SET id = id + 100 RETURNING 1", expect: 1 }] }`,
      /check "writer": `sql` must be one SELECT/,
    ],
    [
      "a check with a writing CTE",
      `{ id: "c3", steps: [backfill({ table: "Item", set: { v: "v + 1" } })], checks: [{ name: "cte", sql: "WITH d AS (DELETE FROM victim RETURNING 1) SELECT count(*) FROM d", expect: 3 }] }`,
      /check "cte": `sql` must be one SELECT that changes nothing/,
    ],
    [
      "a check that creates a table",
      `{ id: "c4", steps: [backfill({ table: "Item", set: { v: "v + 1" } })], checks: [{ name: "into", sql: "SELECT * INTO copied FROM victim", expect: 3 }] }`,
      /check "into": `sql` must be one SELECT that changes nothing/,
    ],
    ["a sql() step with its own COMMIT", `{ id: "q1", steps: [sql("BEGIN; DROP TABLE victim; COMMIT;")] }`, /sql step: transaction control \(BEGIN\) is not allowed/],
    [
      "a sql() down with ROLLBACK",
      `{ id: "q2", steps: [sql("SELECT 1", { down: "ROLLBACK; DROP TABLE victim" })] }`,
      /sql step \(down\): transaction control \(ROLLBACK\) is not allowed/,
    ],
    [
      "a backfill that rewrites its own batching key",
      `{ id: "k1", steps: [backfill({ table: "Item", set: { id: "id + 100000" } })] }`,
      /backfill of Item sets id, the key its batches walk/,
    ],
  ];

  for (const [name, plan, message] of refused) {
    it(`refuses ${name} before anything runs`, async () => {
      const dir = await tempProject({ "plan.ts": planSource(plan) });
      // --no-lint: these are the plan's own refusals (the linter would stop DROP TABLE first).
      const result = await runCli(["run", "plan.ts", "--no-lint"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(await victimRows(), 3, "the victim table is untouched");
      assert.equal(await tableChecksum(t.db, `"Item"`, "id"), checksum);
      assert.equal((await t.db.one<{ n: number }>("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'copied'")).n, 0);
      const journal = await t.db.one<{ ok: boolean }>("SELECT to_regnamespace('breakwater') IS NULL AS ok");
      assert.ok(journal.ok, "not even the journal was created");
    });
  }

  it("never commits anything at preflight (a function that writes while it is planned)", async () => {
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "p1", steps: [backfill({ table: "Item", set: { v: "v + 1" }, where: "sneaky()" })] }`) });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /cannot execute nextval\(\) in a read-only transaction/);
    assert.equal((await t.db.one<{ called: boolean }>("SELECT is_called AS called FROM planned_seq")).called, false, "preflight changed nothing");
    assert.equal(await tableChecksum(t.db, `"Item"`, "id"), checksum);
  });

  it("runs checks in a read-only transaction: a check that writes through a function fails and the run is rolled back", async () => {
    const dir = await tempProject({
      "plan.ts": planSource(`{ id: "ro_check", steps: [backfill({ table: "Item", set: { v: "v + 1" } })], checks: [{ name: "bumps", sql: "SELECT bump()", expect: 1 }] }`),
    });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /Check "bumps" could not run: cannot execute UPDATE in a read-only transaction/);
    assert.equal(await victimRows(), 3, "the check changed nothing");
    assert.equal(await tableChecksum(t.db, `"Item"`, "id"), checksum, "the backfill was rolled back");
  });

  it("keeps a comment at the end of an expression inside it (the batch's WHERE still applies)", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": `export default { batch: { size: 200 } };\n`,
      "plan.ts": planSource(`{ id: "commented", steps: [backfill({ table: "Item", set: { v: "v + 1 -- add one" }, where: "id % 2 = 0 -- even ids" })] }`),
    });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    const counts = await t.db.one<{ one: number; zero: number; other: number }>(
      `SELECT count(*) FILTER (WHERE v = 1 AND id % 2 = 0)::int AS one, count(*) FILTER (WHERE v = 0 AND id % 2 = 1)::int AS zero, count(*) FILTER (WHERE v NOT IN (0, 1))::int AS other FROM "Item"`,
    );
    assert.deepEqual(counts, { one: 1500, zero: 1500, other: 0 }, "every even row changed exactly once");
    const run = await runCli(["rollback", (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs WHERE plan_id = 'commented'`)).id], { cwd: dir, databaseUrl: t.url });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await tableChecksum(t.db, `"Item"`, "id"), checksum);
  });

  it("stops a transform that changes more rows than the table held (a trigger moving the key ahead of the batches)", async () => {
    await t.db.query(`CREATE TABLE "Mover" (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)`);
    await t.db.query(`INSERT INTO "Mover" (id) SELECT generate_series(1, 500)`);
    await t.db.query(`CREATE FUNCTION move_ahead() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.id := NEW.id + 1000; RETURN NEW; END $$`);
    await t.db.query(`CREATE TRIGGER move_ahead BEFORE UPDATE ON "Mover" FOR EACH ROW EXECUTE FUNCTION move_ahead()`);
    const dir = await tempProject({
      "breakwater.config.ts": `export default { batch: { size: 100 } };\n`,
      "plan.ts": planSource(`{ id: "runaway", steps: [backfill({ table: "Mover", set: { v: "v + 1" } })] }`),
    });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 8, result.stderr);
    assert.match(result.stderr, /The transform of Mover changed \d+ rows, more than the 500 rows the table holds/);
    const most = await t.db.one<{ v: number }>(`SELECT max(v)::int AS v FROM "Mover"`);
    assert.ok(most.v <= 2, `no row was rewritten again and again (max v = ${most.v})`);
    await t.db.query(`DROP TABLE "Mover"`);
  });
});
