// addForeignKey in maintenance mode and online: the foreign key Prisma's migration adds, added
// NOT VALID and validated while the application writes; orphans fail the validation with their
// count and leave no constraint; rollback before the contract and after completion drops it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { addForeignKey, backfill, createIndex, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { type TestDatabase } from "../harness.ts";
import { checksum, createSchema, failingCheck, prismaReference, runner, shape, users, writer } from "./schema-fixtures.ts";

const prismaSql = `ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;`;

const step = addForeignKey({ table: "Post", columns: ["authorId"], references: { table: "User", columns: ["id"] }, onDelete: "RESTRICT", onUpdate: "CASCADE" });

const untouched = `id <= ${users} AND id % 50 <> 0`;

for (const online of [false, true]) {
  const mode = online ? "online" : "in maintenance mode";
  const plan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({ id, steps: [step], ...(online ? { online: true } : {}), ...extra });

  describe(`addForeignKey ${mode}`, () => {
    let reference: { shape: string; sums: Record<string, string> };
    before(async () => {
      reference = await prismaReference(prismaSql, { users: [`"User"`, "true"], posts: [`"Post"`, untouched] });
    });

    it("adds the foreign key Prisma's migration adds and changes no row", async () => {
      const t = await createSchema();
      try {
        const r = await runner(t);
        // Online, the application writes posts (referencing existing users) throughout.
        const writers =
          online ?
            [
              writer(await t.connect(), (n) => `INSERT INTO "Post" ("authorId", title) VALUES (${1 + (n % users)}, 'w${n}')`),
              writer(await t.connect(), (n) => `UPDATE "Post" SET title = 'w${n}', "authorId" = ${1 + ((n * 7) % users)} WHERE id = ${50 * (1 + (n % 99))}`),
            ]
          : [];
        const outcome = await r.run(plan(`add_fk_${online}`));
        const results = await Promise.all(writers.map((w) => w.stop()));
        assert.equal(outcome.state, "completed");
        for (const result of results) {
          assert.deepEqual(result.errors, [], "no write failed");
          assert.ok(result.writes > 5, `the client kept writing during the run (${result.writes} writes)`);
        }
        assert.equal(await shape(t.db), reference.shape, "the schema Prisma's own migration builds");
        assert.equal(await checksum(t.db, `"User"`), reference.sums.users);
        assert.equal(await checksum(t.db, `"Post"`, untouched), reference.sums.posts);
        // No step needs writers stopped: no maintenance mode in either mode.
        assert.equal(
          r.events.some((e) => e.type === "maintenance"),
          false,
        );
        const locks = r.events.flatMap((e) => (e.type === "step-done" && e.phase === "expand" ? [e.lockMode] : []));
        assert.deepEqual(locks, ["SHARE ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE"], "a brief lock to add it, then a validation that lets writes go on");
        assert.ok(outcome.log.notes.some((n) => /No index on Post starts with \(authorId\)/.test(n)));
        // From now on the database refuses an orphan.
        await assert.rejects(t.db.query(`INSERT INTO "Post" ("authorId", title) VALUES (999999, 'x')`), (e: { code?: string }) => e.code === "23503");
      } finally {
        await t.drop();
      }
    });

    it("drops the foreign key when the run is rolled back before its contract", async () => {
      const t = await createSchema();
      try {
        const original = { shape: await shape(t.db), users: await checksum(t.db, `"User"`), posts: await checksum(t.db, `"Post"`) };
        const r = await runner(t);
        const failure = await r.fail(plan(`add_fk_check_${online}`, { checks: [failingCheck] }));
        assert.equal(failure.code, "BW_CHECK_FAILED");
        assert.equal(failure.outcome?.state, "rolled_back");
        assert.equal(await shape(t.db), original.shape);
        assert.equal(await checksum(t.db, `"User"`), original.users);
        assert.equal(await checksum(t.db, `"Post"`), original.posts);
      } finally {
        await t.drop();
      }
    });

    it("drops the foreign key when the completed run is rolled back", async () => {
      const t = await createSchema();
      try {
        const original = { shape: await shape(t.db), users: await checksum(t.db, `"User"`), posts: await checksum(t.db, `"Post"`) };
        const r = await runner(t);
        const outcome = await r.run(plan(`add_fk_rollback_${online}`));
        assert.equal(outcome.state, "completed");
        const rolledBack = await r.rollback(outcome.runId);
        assert.equal(rolledBack.state, "rolled_back");
        assert.equal(await shape(t.db), original.shape);
        assert.equal(await checksum(t.db, `"User"`), original.users);
        assert.equal(await checksum(t.db, `"Post"`), original.posts);
      } finally {
        await t.drop();
      }
    });

    it("fails the validation on orphans with their count and a query listing them, and drops the constraint (23503)", async () => {
      const t = await createSchema();
      try {
        await t.db.query(`UPDATE "Post" SET "authorId" = 900000 + id WHERE id IN (7, 8, 9)`);
        const original = { shape: await shape(t.db), posts: await checksum(t.db, `"Post"`) };
        const r = await runner(t);
        const failure = await r.fail(plan(`add_fk_orphans_${online}`));
        assert.equal(failure.outcome?.state, "rolled_back");
        assert.match(failure.message, /3 rows of Post \(authorId\) reference no row of User \(id\), so the foreign key Post_authorId_fkey cannot be validated/);
        assert.match(failure.message, /List them with: SELECT referencing\.\* FROM "public"\."Post" AS referencing WHERE referencing\."authorId" IS NOT NULL AND NOT EXISTS/);
        assert.match(failure.message, /SQLSTATE 23503/);
        assert.equal(await shape(t.db), original.shape, "no constraint, valid or NOT VALID, is left");
        assert.equal(await checksum(t.db, `"Post"`), original.posts);
      } finally {
        await t.drop();
      }
    });
  });
}

describe("addForeignKey with an existing constraint, and bad inputs", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createSchema();
  });
  after(async () => t.drop());

  it("refuses what cannot be a foreign key before changing anything", async () => {
    const r = await runner(t);
    const before = await shape(t.db);
    const refused = async (id: string, input: Parameters<typeof addForeignKey>[0], message: RegExp) => {
      const failure = await r.fail({ id, steps: [addForeignKey(input)] });
      assert.equal(failure.code, "BW_PREFLIGHT_FAILED", failure.message);
      assert.equal(failure.outcome, undefined);
      assert.match(failure.message, message);
    };
    await refused("no_table", { table: "Posts", columns: ["authorId"], references: { table: "User", columns: ["id"] } }, /Table Posts does not exist/);
    await refused("no_column", { table: "Post", columns: ["author"], references: { table: "User", columns: ["id"] } }, /Table Post has no column author/);
    await refused("no_referenced_column", { table: "Post", columns: ["authorId"], references: { table: "User", columns: ["uid"] } }, /Table User has no column uid/);
    await refused(
      "not_unique",
      { table: "Post", columns: ["title"], references: { table: "User", columns: ["email"] } },
      /User has no primary key or unique index on exactly \(email\), which a foreign key must reference/,
    );
    await refused(
      "types",
      { table: "Post", columns: ["title"], references: { table: "User", columns: ["id"] } },
      /Post \(title\) cannot reference User \(id\): operator does not exist/,
    );
    const mismatch = await r.fail({ id: "count", steps: [addForeignKey({ table: "Post", columns: ["authorId", "id"], references: { table: "User", columns: ["id"] } })] });
    assert.equal(mismatch.code, "BW_PLAN_INVALID");
    assert.equal(await shape(t.db), before);
  });

  it("does nothing when the same foreign key exists, validates it when it is NOT VALID, and refuses another of that name", async () => {
    const r = await runner(t);
    await t.db.query(`ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"(id) NOT VALID`);
    const validated = await r.run({
      id: "validate_existing",
      online: true,
      steps: [addForeignKey({ table: "Post", columns: ["authorId"], references: { table: "User", columns: ["id"] } })],
    });
    assert.equal(validated.state, "completed");
    assert.ok(validated.log.changes.some((c) => /already there NOT VALID, validated/.test(c)));
    const def = await t.db.one<{ def: string }>(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'Post_authorId_fkey'`);
    assert.equal(def.def, `FOREIGN KEY ("authorId") REFERENCES "User"(id)`);
    const same = await r.run({
      id: "same_fk",
      steps: [addForeignKey({ table: "Post", columns: ["authorId"], references: { table: "User", columns: ["id"] }, onDelete: "NO ACTION" })],
    });
    assert.ok(same.log.changes.some((c) => /already there and valid, nothing to do/.test(c)));
    const other = await r.fail({ id: "other_fk", steps: [step] });
    assert.equal(other.code, "BW_PREFLIGHT_FAILED");
    assert.match(other.message, /Post already has a constraint named Post_authorId_fkey: FOREIGN KEY \("authorId"\) REFERENCES "User"\(id\)\./);
  });

  it("validates after the plan's transforms with phase: contract (a backfill clears the orphans first)", async () => {
    await t.db.query(`ALTER TABLE "Post" DROP CONSTRAINT "Post_authorId_fkey"; UPDATE "Post" SET "authorId" = 900000 WHERE id <= 3`);
    const r = await runner(t);
    const outcome = await r.run({
      id: "after_orphans_cleared",
      steps: [
        backfill({ table: "Post", set: { authorId: "NULL" }, where: `NOT EXISTS (SELECT FROM "User" WHERE "User".id = "Post"."authorId")` }),
        addForeignKey({ table: "Post", columns: ["authorId"], references: { table: "User", columns: ["id"] }, phase: "contract" }),
      ],
    });
    assert.equal(outcome.state, "completed");
    const orphans = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Post" WHERE "authorId" IS NULL`);
    assert.equal(orphans.n, 3);
  });

  it("says nothing about an index when the referencing columns have one, and names the key as Prisma does", async () => {
    await t.db.query(`ALTER TABLE "Post" DROP CONSTRAINT "Post_authorId_fkey"`);
    const r = await runner(t);
    const indexed = await r.run({ id: "index_first", online: true, steps: [createIndex({ table: "Post", columns: ["authorId"] })] });
    assert.equal(indexed.state, "completed");
    const outcome = await r.run({ id: "indexed_fk", online: true, steps: [step] });
    assert.equal(outcome.state, "completed");
    assert.ok(!outcome.log.notes.some((n) => /No index on Post/.test(n)), outcome.log.notes.join("\n"));
    const names = await t.db.query<{ name: string }>(`SELECT conname AS name FROM pg_constraint WHERE conrelid = '"Post"'::regclass AND contype = 'f'`);
    assert.deepEqual(names.rows, [{ name: "Post_authorId_fkey" }]);
  });
});
