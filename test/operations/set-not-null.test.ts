// setNotNull in maintenance mode and online: the column Prisma's migration makes required, its NULL
// rows filled in batches while the application writes; rollback before the contract and after
// completion sets back to NULL exactly the rows the fill wrote and nobody changed since.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setNotNull, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { defaultLockPolicy } from "../../packages/breakwater/src/db/locks.ts";
import { cleanup } from "../../packages/breakwater/src/runner/cleanup.ts";
import { type TestDatabase, waitFor } from "../harness.ts";
import { checksum, createSchema, failingCheck, keptTables, prismaReference, runner, shape, users, writer } from "./schema-fixtures.ts";

const prismaSql = `UPDATE "User" SET "name" = 'unknown' WHERE "name" IS NULL;
ALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL;`;

const step = setNotNull({ table: "User", column: "name", fill: "'unknown'" });

/** Rows the writers below never touch. */
const untouched = `id <= ${users} AND id % 50 <> 0`;
const nullRows = Math.floor(users / 3);

for (const online of [false, true]) {
  const mode = online ? "online" : "in maintenance mode";
  const plan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({ id, steps: [step], ...(online ? { online: true } : {}), ...extra });
  /**
   * Online, the application inserts users, renames some (every 50th, NULL ones among them) and
   * changes the email of rows whose name is NULL until the fill reaches them, never writing a NULL.
   */
  const writers = async (t: TestDatabase) =>
    online ?
      [
        writer(await t.connect(), (n) => `INSERT INTO "User" (email, name) VALUES ('w${n}@example.com', 'w${n}')`),
        writer(await t.connect(), (n) => `UPDATE "User" SET name = 'w${n}' WHERE id = ${50 * (1 + (n % 99))}`),
        writer(await t.connect(), (n) => `UPDATE "User" SET email = 'w${n}@example.com' WHERE id = ${150 * (1 + (n % 33))}`),
      ]
    : [];

  describe(`setNotNull ${mode}`, () => {
    let reference: { shape: string; sums: Record<string, string> };
    before(async () => {
      reference = await prismaReference(prismaSql, { users: [`"User"`, untouched], posts: [`"Post"`, "true"] });
    });

    it("fills the NULL rows and sets NOT NULL as Prisma's migration does, without a NULL write refused to the application", async () => {
      const t = await createSchema();
      try {
        const r = await runner(t);
        const running = await writers(t);
        const outcome = await r.run(plan(`not_null_${online}`));
        const results = await Promise.all(running.map((w) => w.stop()));
        assert.equal(outcome.state, "completed");
        for (const result of results) {
          assert.deepEqual(result.errors, [], "no write failed");
          assert.ok(result.writes > 5, `the client kept writing during the run (${result.writes} writes)`);
        }
        assert.equal(await shape(t.db), reference.shape, "the schema Prisma's own migration builds");
        assert.equal(await checksum(t.db, `"User"`, untouched), reference.sums.users);
        assert.equal(await checksum(t.db, `"Post"`), reference.sums.posts);
        const left = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE name IS NULL`);
        assert.equal(left.n, 0);
        assert.equal(
          r.events.some((e) => e.type === "maintenance"),
          !online,
        );
        // Online, rows the application named before the fill reached them are not filled.
        if (online) assert.ok(outcome.log.totalRowsChanged <= nullRows && outcome.log.totalRowsChanged > nullRows - 100);
        else assert.equal(outcome.log.totalRowsChanged, nullRows);
        const swap = r.events.find((e) => e.type === "step-done" && e.label.startsWith("SET NOT NULL"));
        assert.ok(swap && swap.type === "step-done" && swap.lockMode === "ACCESS EXCLUSIVE" && (swap.lockHoldMs ?? 0) < 1000, "SET NOT NULL holds its lock briefly");
        assert.equal((await keptTables(t.db)).length, 1, "the keys of the filled rows are kept for a rollback after completion");
        const functions = await t.db.query(`SELECT proname FROM pg_proc WHERE pronamespace = 'breakwater'::regnamespace AND proname LIKE 'bw\\_%'`);
        assert.equal(functions.rowCount, 0, "the triggers' function is gone");
        await assert.rejects(t.db.query(`INSERT INTO "User" (email) VALUES ('x@example.com')`), (e: { code?: string }) => e.code === "23502");
      } finally {
        await t.drop();
      }
    });

    it("puts the NULLs back when the run is rolled back before its contract", async () => {
      const t = await createSchema();
      try {
        const original = { shape: await shape(t.db), users: await checksum(t.db, `"User"`, untouched), posts: await checksum(t.db, `"Post"`) };
        const r = await runner(t);
        const running = await writers(t);
        const failure = await r.fail(plan(`not_null_check_${online}`, { checks: [failingCheck] }));
        const results = await Promise.all(running.map((w) => w.stop()));
        for (const result of results) assert.deepEqual(result.errors, []);
        assert.equal(failure.code, "BW_CHECK_FAILED");
        assert.equal(failure.outcome?.state, "rolled_back");
        assert.equal(await shape(t.db), original.shape);
        assert.equal(await checksum(t.db, `"User"`, untouched), original.users);
        assert.equal(await checksum(t.db, `"Post"`), original.posts);
        const unknown = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE name = 'unknown'`);
        assert.equal(unknown.n, 0);
        assert.deepEqual(await keptTables(t.db), []);
      } finally {
        await t.drop();
      }
    });

    it("after completion, puts back the NULLs the fill wrote and keeps what the application changed since", async () => {
      const t = await createSchema();
      try {
        const original = { shape: await shape(t.db), users: await checksum(t.db, `"User"`, "id NOT IN (3, 9)") };
        const r = await runner(t);
        const outcome = await r.run(plan(`not_null_rollback_${online}`));
        assert.equal(outcome.state, "completed");
        // The application changes two filled rows: one to its own value, one to the fill's very value.
        await t.db.query(`UPDATE "User" SET name = 'changed' WHERE id = 3`);
        await t.db.query(`UPDATE "User" SET name = 'unknown', email = 'e9@example.com' WHERE id = 9`);
        const rolledBack = await r.rollback(outcome.runId);
        assert.equal(rolledBack.state, "rolled_back");
        assert.equal(await shape(t.db), original.shape, "nullable again, no check left");
        assert.equal(await checksum(t.db, `"User"`, "id NOT IN (3, 9)"), original.users, "every other row as before the run");
        const changed = await t.db.query<{ id: number; name: string | null }>(`SELECT id, name FROM "User" WHERE id IN (3, 9) ORDER BY id`);
        assert.deepEqual(changed.rows, [
          { id: 3, name: "changed" },
          { id: 9, name: null },
        ]);
        assert.deepEqual(await keptTables(t.db), []);
      } finally {
        await t.drop();
      }
    });
  });
}

describe("setNotNull with other fills, a late NULL, and bad inputs", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createSchema();
  });
  after(async () => t.drop());

  it("refuses NULL rows without `fill`, naming their count, before changing anything", async () => {
    const r = await runner(t);
    const before = await shape(t.db);
    const failure = await r.fail({ id: "no_fill", online: true, steps: [setNotNull({ table: "User", column: "name" })] });
    assert.equal(failure.code, "BW_PREFLIGHT_FAILED");
    assert.match(
      failure.message,
      new RegExp(`^${nullRows} rows of User hold NULL in name: it cannot become NOT NULL\\. List them with: SELECT \\* FROM "public"\\."User" WHERE "name" IS NULL`),
    );
    assert.match(failure.hint ?? "", /Give `fill`/);
    assert.equal(await shape(t.db), before);
  });

  it("refuses unknown tables and columns, a fill that is not one valid expression, and a table without a primary key", async () => {
    const r = await runner(t);
    const refused = async (id: string, input: Parameters<typeof setNotNull>[0], code: string, message: RegExp) => {
      const failure = await r.fail({ id, steps: [setNotNull(input)] });
      assert.equal(failure.code, code, failure.message);
      assert.match(failure.message, message);
    };
    await refused("no_table", { table: "Users", column: "name", fill: "'x'" }, "BW_PREFLIGHT_FAILED", /Table Users does not exist/);
    await refused("no_column", { table: "User", column: "nickname", fill: "'x'" }, "BW_PREFLIGHT_FAILED", /Table User has no column nickname/);
    await refused(
      "bad_fill",
      { table: "User", column: "name", fill: "nope()" },
      "BW_PREFLIGHT_FAILED",
      /`fill` of User\.name is not a valid value of its type \(text\): function nope\(\) does not exist/,
    );
    await refused("two_statements", { table: "User", column: "name", fill: `'x'; DROP TABLE "User"` }, "BW_PLAN_INVALID", /`fill` must be one SQL expression/);
    await t.db.query(`CREATE TABLE "Log" (line text)`);
    await refused("no_key", { table: "Log", column: "line", fill: "''" }, "BW_PREFLIGHT_FAILED", /Log has no primary key/);
    const already = await r.run({ id: "already", steps: [setNotNull({ table: "User", column: "email" })] });
    assert.ok(already.log.changes.some((c) => /User\.email is NOT NULL already: nothing to do/.test(c)));
    assert.equal(await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE name IS NULL`).then((r) => r.n), nullRows);
  });

  it("fills with now() (one timestamp for every row) and an enum value, and a rollback after completion puts the NULLs back", async () => {
    await t.db.query(`
      CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
      ALTER TABLE "User" ADD COLUMN "seenAt" timestamptz, ADD COLUMN role "Role";
      UPDATE "User" SET "seenAt" = '2024-06-01', role = 'ADMIN' WHERE id % 2 = 0;`);
    const original = { shape: await shape(t.db), users: await checksum(t.db, `"User"`) };
    const r = await runner(t);
    const outcome = await r.run({
      id: "now_and_enum",
      steps: [setNotNull({ table: "User", column: "seenAt", fill: "now()" }), setNotNull({ table: "User", column: "role", fill: "'USER'" })],
    });
    assert.equal(outcome.state, "completed");
    const filled = await t.db.one<{ stamps: number; users: number }>(
      `SELECT count(DISTINCT "seenAt") FILTER (WHERE id % 2 = 1)::int AS stamps, count(*) FILTER (WHERE role = 'USER')::int AS users FROM "User"`,
    );
    assert.deepEqual(filled, { stamps: 1, users: users / 2 });
    await r.rollback(outcome.runId);
    assert.equal(await shape(t.db), original.shape);
    assert.equal(await checksum(t.db, `"User"`), original.users);
  });

  it("refuses a rollback after `breakwater cleanup` removed the list of the filled rows, changing nothing", async () => {
    await t.db.query(`ALTER TABLE "User" ADD COLUMN nickname text`);
    const r = await runner(t);
    const outcome = await r.run({ id: "cleaned", online: true, steps: [setNotNull({ table: "User", column: "nickname", fill: "'anonymous'" })] });
    assert.equal(outcome.state, "completed");
    const result = await cleanup(t.url, { olderThanSeconds: 0, dryRun: false, reconnectTimeoutMs: 1000, lock: defaultLockPolicy });
    assert.equal(result.runs.find((run) => run.id === outcome.runId)?.tables.length, 1);
    const before = { shape: await shape(t.db), users: await checksum(t.db, `"User"`) };
    await assert.rejects(
      r.rollback(outcome.runId),
      /snapshots and what it set aside were removed by `breakwater cleanup` on .*: what it changed can no longer be put back from them\. Nothing was changed\./,
    );
    assert.equal(await shape(t.db), before.shape);
    assert.equal(await checksum(t.db, `"User"`), before.users);
    await t.db.query(`ALTER TABLE "User" DROP COLUMN nickname`);
  });

  it("fails the validation on a NULL written before the triggers refused it, with the count, and leaves nothing (23514)", async () => {
    await t.db.query(`ALTER TABLE "User" DROP COLUMN "seenAt", DROP COLUMN role; UPDATE "User" SET name = coalesce(name, 'x')`);
    const original = await shape(t.db);
    const r = await runner(t);
    // A transaction writing a NULL is open during preflight (which does not see it); creating the
    // triggers waits for it, and it commits before they exist.
    const app = await t.connect();
    await app.query("BEGIN");
    await app.query(`INSERT INTO "User" (email) VALUES ('late@example.com')`);
    const running = r.fail({ id: "late_null", online: true, steps: [setNotNull({ table: "User", column: "name" })] });
    await waitFor(async () => (await t.db.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'LOCK TABLE "public"."User"%' AND wait_event_type = 'Lock'`)).rows.length > 0);
    await app.query("COMMIT");
    const failure = await running;
    assert.equal(failure.outcome?.state, "rolled_back");
    assert.match(
      failure.message,
      /1 rows of User hold NULL in name, so it cannot become NOT NULL \(give `fill` for them\)\. List them with: SELECT \* FROM "public"\."User" WHERE "name" IS NULL.*SQLSTATE 23514/s,
    );
    assert.equal(await shape(t.db), original, "no check and no trigger is left");
  });
});
