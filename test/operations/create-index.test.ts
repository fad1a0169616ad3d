// createIndex in maintenance mode and online: the index Prisma's migration builds, built
// CONCURRENTLY while the application writes; a failed build (duplicates, an earlier killed build)
// leaves no INVALID index; rollback before the contract and after completion drops it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { backfill, createIndex, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { prismaName } from "../../packages/breakwater/src/operations/prisma-names.ts";
import { attempt, type TestDatabase, waitFor } from "../harness.ts";
import { checksum, createSchema, failingCheck, prismaReference, runner, shape, users, writer } from "./schema-fixtures.ts";

const prismaSql = `CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE INDEX "Post_authorId_idx" ON "Post"("authorId");`;

const steps = [createIndex({ table: "User", columns: ["email"], unique: true }), createIndex({ table: "Post", columns: ["authorId"] })];

const untouched = `id <= ${users} AND id % 50 <> 0`;

for (const online of [false, true]) {
  const mode = online ? "online" : "in maintenance mode";
  const plan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({ id, steps, ...(online ? { online: true } : {}), ...extra });

  describe(`createIndex ${mode}`, () => {
    let reference: { shape: string; sums: Record<string, string> };
    before(async () => {
      reference = await prismaReference(prismaSql, { users: [`"User"`, untouched], posts: [`"Post"`, "true"] });
    });

    it("builds the indexes Prisma's migration builds and changes no row", async () => {
      const t = await createSchema();
      try {
        const r = await runner(t);
        // Online, the application inserts and updates throughout; in maintenance mode it is stopped.
        const writers =
          online ?
            [
              writer(await t.connect(), (n) => `INSERT INTO "User" (email, name) VALUES ('w${n}@example.com', 'w${n}')`),
              writer(await t.connect(), (n) => `UPDATE "User" SET name = 'w${n}' WHERE id = ${50 * (1 + (n % 99))}`),
            ]
          : [];
        const outcome = await r.run(plan(`create_index_${online}`));
        const results = await Promise.all(writers.map((w) => w.stop()));
        assert.equal(outcome.state, "completed");
        for (const result of results) {
          assert.deepEqual(result.errors, [], "no write failed");
          assert.ok(result.writes > 5, `the client kept writing during the run (${result.writes} writes)`);
        }
        assert.equal(await shape(t.db), reference.shape, "the schema Prisma's own migration builds");
        assert.equal(await checksum(t.db, `"User"`, untouched), reference.sums.users);
        assert.equal(await checksum(t.db, `"Post"`), reference.sums.posts);
        // No step needs writers stopped: no maintenance mode in either mode.
        assert.equal(
          r.events.some((e) => e.type === "maintenance"),
          false,
          "no maintenance mode",
        );
        const build = r.events.find((e) => e.type === "step-done" && e.label.startsWith("build unique index User_email_key"));
        assert.ok(build && build.type === "step-done" && build.lockMode === "SHARE UPDATE EXCLUSIVE", "built CONCURRENTLY");
        assert.ok(outcome.log.checks.some((c) => c.name === "index User_email_key is valid" && c.ok));
      } finally {
        await t.drop();
      }
    });

    it("drops the indexes when the run is rolled back before its contract", async () => {
      const t = await createSchema();
      try {
        const original = { shape: await shape(t.db), users: await checksum(t.db, `"User"`), posts: await checksum(t.db, `"Post"`) };
        const r = await runner(t);
        const failure = await r.fail(plan(`create_index_check_${online}`, { checks: [failingCheck] }));
        assert.equal(failure.code, "BW_CHECK_FAILED");
        assert.equal(failure.outcome?.state, "rolled_back");
        assert.equal(await shape(t.db), original.shape);
        assert.equal(await checksum(t.db, `"User"`), original.users);
        assert.equal(await checksum(t.db, `"Post"`), original.posts);
      } finally {
        await t.drop();
      }
    });

    it("drops the indexes when the completed run is rolled back", async () => {
      const t = await createSchema();
      try {
        const original = { shape: await shape(t.db), users: await checksum(t.db, `"User"`), posts: await checksum(t.db, `"Post"`) };
        const r = await runner(t);
        const outcome = await r.run(plan(`create_index_rollback_${online}`));
        assert.equal(outcome.state, "completed");
        assert.notEqual(await shape(t.db), original.shape);
        const rolledBack = await r.rollback(outcome.runId);
        assert.equal(rolledBack.state, "rolled_back");
        assert.equal(await shape(t.db), original.shape);
        assert.equal(await checksum(t.db, `"User"`), original.users);
        assert.equal(await checksum(t.db, `"Post"`), original.posts);
      } finally {
        await t.drop();
      }
    });

    it("refuses duplicates with their count, and leaves no index behind (23505)", async () => {
      const t = await createSchema();
      try {
        await t.db.query(`UPDATE "User" SET email = 'same@example.com' WHERE id IN (1, 2, 3); UPDATE "User" SET email = 'twice@example.com' WHERE id IN (4, 5)`);
        const original = await shape(t.db);
        const r = await runner(t);
        const failure = await r.fail(plan(`create_index_duplicates_${online}`));
        assert.equal(failure.outcome?.state, "rolled_back");
        assert.match(failure.message, /2 values of \(email\) in User are held by more than one row, so the unique index User_email_key cannot be built/);
        assert.match(failure.message, /List them with: SELECT "email", count\(\*\) FROM "public"\."User"/);
        assert.match(failure.message, /SQLSTATE 23505/);
        assert.equal(await shape(t.db), original, "no index, valid or INVALID, is left");
      } finally {
        await t.drop();
      }
    });
  });
}

describe("createIndex when a build fails or an index of that name exists", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createSchema();
  });
  after(async () => t.drop());

  it("drops the INVALID index a duplicate written during the build leaves, and reports PostgreSQL's error", async () => {
    const original = await shape(t.db);
    const r = await runner(t);
    // A transaction inserting a duplicate is open when the build starts: the duplicate count does
    // not see it, and the build waits for it (CONCURRENTLY waits for writers), then meets it.
    const app = await t.connect();
    await app.query("BEGIN");
    await app.query(`INSERT INTO "User" (email) VALUES ('u1@example.com')`);
    const running = r.fail({ id: "duplicate_during_build", online: true, steps: [createIndex({ table: "User", columns: ["email"], unique: true })] });
    await waitFor(async () => {
      const { rows } = await t.db.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE UNIQUE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'`);
      return rows.length > 0;
    });
    await app.query("COMMIT");
    const failure = await running;
    assert.equal(failure.outcome?.state, "rolled_back");
    assert.match(failure.message, /could not create unique index "User_email_key".*SQLSTATE 23505/s);
    await t.db.query(`DELETE FROM "User" WHERE id > ${users}`);
    assert.equal(await shape(t.db), original, "the INVALID index was dropped");
  });

  it("drops an INVALID index left by an earlier build and builds it again", async () => {
    // An earlier CREATE INDEX CONCURRENTLY that failed on a duplicate leaves the index INVALID.
    await t.db.query(`UPDATE "User" SET email = 'u1@example.com' WHERE id = 2`);
    const error = await attempt(t.db, `CREATE UNIQUE INDEX CONCURRENTLY "User_email_key" ON "User" (email)`);
    assert.equal(error?.code, "23505");
    const leftover = await t.db.one<{ valid: boolean }>(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = '"User_email_key"'::regclass`);
    assert.equal(leftover.valid, false);
    await t.db.query(`UPDATE "User" SET email = 'u2@example.com' WHERE id = 2`);
    const r = await runner(t);
    const outcome = await r.run({ id: "rebuild_invalid", steps: [createIndex({ table: "User", columns: ["email"], unique: true })] });
    assert.equal(outcome.state, "completed");
    assert.ok(outcome.log.changes.some((c) => /INVALID index User_email_key left by an earlier build is dropped/.test(c)));
    const rebuilt = await t.db.one<{ valid: boolean; def: string }>(
      `SELECT indisvalid AS valid, pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indexrelid = '"User_email_key"'::regclass`,
    );
    assert.deepEqual(rebuilt, { valid: true, def: `CREATE UNIQUE INDEX "User_email_key" ON public."User" USING btree (email)` });
  });

  it("does nothing when the same index exists, and refuses another index of that name", async () => {
    const r = await runner(t);
    const same = await r.run({
      id: "same_index",
      online: true,
      steps: [createIndex({ table: "User", name: "User_email_key", columns: [{ column: "email" }], unique: true, using: "btree" })],
    });
    assert.equal(same.state, "completed");
    assert.ok(same.log.changes.some((c) => /already there, nothing to do/.test(c)));
    assert.ok(!r.events.some((e) => e.type === "step-start" && e.phase === "expand"), "no step built anything");
    const other = await r.fail({ id: "other_index", steps: [createIndex({ table: "User", name: "User_email_key", columns: ["email", "name"], unique: true })] });
    assert.equal(other.code, "BW_PREFLIGHT_FAILED");
    assert.match(
      other.message,
      /User already has an index named User_email_key, with another definition: CREATE UNIQUE INDEX "User_email_key" ON public\."User" USING btree \(email\)/,
    );
    assert.ok(other.outcome === undefined, "refused before the run started");
  });

  it("builds a partial index on an expression and a descending column, as the same SQL would", async () => {
    const r = await runner(t);
    const step = createIndex({
      table: "User",
      name: "User_lower_email_idx",
      columns: [{ expression: "lower(email)" }, { column: "createdAt", sort: "desc" }],
      where: `name IS NOT NULL`,
    });
    const outcome = await r.run({ id: "expression_index", online: true, steps: [step] });
    assert.equal(outcome.state, "completed");
    const def = await t.db.one<{ def: string }>(`SELECT pg_get_indexdef('"User_lower_email_idx"'::regclass) AS def`);
    assert.equal(def.def, `CREATE INDEX "User_lower_email_idx" ON public."User" USING btree (lower(email), "createdAt" DESC) WHERE (name IS NOT NULL)`);
  });

  it("refuses unknown tables and columns, SQL that is not one expression, and partitioned tables, before changing anything", async () => {
    const r = await runner(t);
    const refused = async (id: string, step: ReturnType<typeof createIndex>, code: string, message: RegExp) => {
      const failure = await r.fail({ id, steps: [step] });
      assert.equal(failure.code, code, failure.message);
      assert.match(failure.message, message);
    };
    await refused("no_table", createIndex({ table: "Users", columns: ["email"] }), "BW_PREFLIGHT_FAILED", /Table Users does not exist/);
    await refused("no_column", createIndex({ table: "User", columns: ["mail"] }), "BW_PREFLIGHT_FAILED", /Table User has no column mail/);
    await refused("bad_expression", createIndex({ table: "User", name: "x_idx", columns: [{ expression: "lower(mail)" }] }), "BW_PREFLIGHT_FAILED", /column "mail" does not exist/);
    await refused("two_statements", createIndex({ table: "User", columns: ["email"], where: `true; DROP TABLE "User"` }), "BW_PLAN_INVALID", /`where` must be one SQL expression/);
    await refused(
      "hash_unique",
      createIndex({ table: "User", columns: ["email"], unique: true, using: "hash" }),
      "BW_PREFLIGHT_FAILED",
      /access method "hash" does not support unique indexes/,
    );
    await t.db.query(
      `CREATE TABLE "Event" (id int, at date) PARTITION BY RANGE (at); CREATE TABLE "Event_2024" PARTITION OF "Event" FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
    );
    await refused(
      "partitioned",
      createIndex({ table: "Event", columns: ["at"] }),
      "BW_PREFLIGHT_FAILED",
      /Event is a partitioned table: PostgreSQL cannot build its index CONCURRENTLY/,
    );
    const named = await t.db.query(`SELECT 1 FROM pg_class WHERE relname IN ('Users_email_idx', 'User_mail_idx', 'x_idx', 'Event_at_idx')`);
    assert.equal(named.rowCount, 0);
  });

  it("builds after the plan's transforms with phase: contract (a unique index on values a backfill makes unique)", async () => {
    await t.db.query(`DROP INDEX "User_email_key"; UPDATE "User" SET email = upper(email) WHERE id <= 10`);
    const r = await runner(t);
    const outcome = await r.run({
      id: "after_backfill",
      steps: [
        backfill({ table: "User", set: { email: "lower(email)" }, where: "email <> lower(email)" }),
        createIndex({ table: "User", name: "User_lower_email_key", columns: [{ expression: "lower(email)" }], unique: true, phase: "contract" }),
      ],
    });
    assert.equal(outcome.state, "completed");
    const build = r.events.find((e) => e.type === "step-done" && e.label.startsWith("build unique index User_lower_email_key"));
    assert.equal(build?.type === "step-done" && build.phase, "contract");
  });

  it("builds again when the runner's session is killed during the build (the INVALID index is dropped first)", async () => {
    const r = await runner(t);
    const app = await t.connect();
    await app.query("BEGIN");
    await app.query(`INSERT INTO "User" (email) VALUES ('killed@example.com')`);
    const running = r.run({ id: "killed_build", online: true, steps: [createIndex({ table: "User", columns: ["createdAt"] })] });
    const building = await waitFor(async () => {
      const { rows } = await t.db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'`);
      return rows[0];
    });
    await t.db.query("SELECT pg_terminate_backend($1)", [building.pid]);
    await app.query("COMMIT");
    const outcome = await running;
    assert.equal(outcome.state, "completed");
    assert.ok(
      r.events.some((e) => e.type === "warning" && /connection/i.test(e.message)),
      "the runner reconnected",
    );
    const index = await t.db.one<{ valid: boolean }>(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = '"User_createdAt_idx"'::regclass`);
    assert.equal(index.valid, true);
  });

  it("names the index as Prisma does, cut to 63 bytes", () => {
    assert.equal(prismaName("User", ["email"], "_idx"), "User_email_idx");
    assert.equal(prismaName("Post", ["authorId", "title"], "_key"), "Post_authorId_title_key");
    const long = prismaName("A".repeat(40), ["b".repeat(30)], "_fkey");
    assert.equal(long, `${"A".repeat(40)}_${"b".repeat(17)}_fkey`);
    assert.equal(Buffer.byteLength(long), 63);
    assert.equal(Buffer.byteLength(prismaName("é".repeat(40), ["x"], "_idx")) <= 63, true);
  });
});
