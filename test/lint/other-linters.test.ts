// Where bench/lint.ts found breakwater, squawk and pgfence disagreeing: the statement, breakwater's
// answer, and PostgreSQL's own behaviour that decides it (on a real server).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { lint } from "../../packages/breakwater/src/lint/engine.ts";
import { allRules } from "../../packages/breakwater/src/lint/rules/index.ts";
import { readLintFile } from "../../packages/breakwater/src/lint/source.ts";
import type { Runner } from "../../packages/breakwater/src/lint/types.ts";
import { attempt, createTestDatabase, type TestDatabase } from "../harness.ts";

const rulesOn = async (sql: string, options: { runner?: Runner; serverVersion?: number } = {}) =>
  (await lint([await readLintFile("migration.sql", `SET lock_timeout = '5s';\n${sql}`, options.runner ?? "sql")], { rules: allRules, serverVersion: options.serverVersion })).map(
    (f) => `${f.rule}@${f.line}`,
  );

const addCheck = `ALTER TABLE "t" ADD CONSTRAINT "t_a_not_null" CHECK ("a" IS NOT NULL) NOT VALID;\nALTER TABLE "t" VALIDATE CONSTRAINT "t_a_not_null";\n`;

describe("SET NOT NULL after a validated CHECK (a IS NOT NULL)", () => {
  it("is not a finding on PostgreSQL 12+: the check proves it, nothing is scanned", async () => {
    assert.deepEqual(await rulesOn(`${addCheck}ALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL;\nALTER TABLE "t" DROP CONSTRAINT "t_a_not_null";\n`), []);
  });

  it("the rule's own safe rewrite is clean", async () => {
    const [finding] = await lint([await readLintFile("m.sql", `ALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL;`, "sql")], { rules: allRules });
    const rewrite = finding!.fix
      .split("\n")
      .filter((line) => line.startsWith("ALTER"))
      .join("\n");
    assert.deepEqual(await rulesOn(rewrite), []);
  });

  it("is still a finding when the check is not validated, was dropped, covers another column, or the server is older than 12", async () => {
    const notValid = `ALTER TABLE "t" ADD CONSTRAINT "c" CHECK ("a" IS NOT NULL) NOT VALID;\nALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL;\n`;
    assert.deepEqual(await rulesOn(notValid), ["set-not-null@3"]);
    assert.deepEqual(await rulesOn(`${addCheck}ALTER TABLE "t" DROP CONSTRAINT "t_a_not_null";\nALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL;\n`), ["set-not-null@5"]);
    assert.deepEqual(await rulesOn(`${addCheck}ALTER TABLE "t" ALTER COLUMN "b" SET NOT NULL;\n`), ["set-not-null@4"]);
    assert.deepEqual(await rulesOn(`${addCheck}ALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL;\n`, { serverVersion: 110000 }), ["set-not-null@4"]);
  });
});

describe("statements only some of the linters flag", () => {
  it("a column changed to json is named in prefer-jsonb's message", async () => {
    const findings = await lint([await readLintFile("m.sql", `SET lock_timeout = '5s';\nALTER TABLE "t" ALTER COLUMN "doc" TYPE json USING "doc"::json;`, "sql")], {
      rules: allRules,
    });
    assert.deepEqual(
      findings.filter((f) => f.rule === "prefer-jsonb").map((f) => f.message),
      ["Column doc is json: use jsonb."],
    );
  });

  it("Prisma's new model with an index and a foreign key: nothing on the new table (squawk flags both)", async () => {
    const sql = `-- CreateTable\nCREATE TABLE "Tag" ("id" SERIAL NOT NULL, "userId" INTEGER NOT NULL, CONSTRAINT "Tag_pkey" PRIMARY KEY ("id"));\n-- CreateIndex\nCREATE INDEX "Tag_userId_idx" ON "Tag"("userId");\n-- AddForeignKey\nALTER TABLE "Tag" ADD CONSTRAINT "Tag_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;\n`;
    assert.deepEqual(await rulesOn(sql, { runner: "prisma" }), []);
  });

  it("a new table's foreign key to an existing table needs lock_timeout: it takes SHARE ROW EXCLUSIVE on that table", async () => {
    const sql = `CREATE TABLE "Tag" ("id" SERIAL NOT NULL, "userId" INTEGER NOT NULL, CONSTRAINT "Tag_pkey" PRIMARY KEY ("id"));\nALTER TABLE "Tag" ADD CONSTRAINT "Tag_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id");\n`;
    const rules = async (text: string) => (await lint([await readLintFile("migration.sql", text, "sql")], { rules: allRules })).map((f) => `${f.rule}@${f.line}`);
    assert.deepEqual(await rules(sql), ["missing-lock-timeout@2"]);
    assert.deepEqual(await rules(`CREATE TABLE "Refund" ("id" int PRIMARY KEY, "orderId" int REFERENCES "Order" ("id"));\n`), ["missing-lock-timeout@1"]);
    assert.deepEqual(await rules(`CREATE TABLE "User" ("id" int PRIMARY KEY);\n${sql}`), [], "a referenced table created in the file is new");
  });

  it("DROP INDEX without CONCURRENTLY needs lock_timeout: it takes ACCESS EXCLUSIVE on the index's table", async () => {
    const rules = async (text: string) => (await lint([await readLintFile("migration.sql", text, "sql")], { rules: allRules })).map((f) => `${f.rule}@${f.line}`);
    assert.deepEqual(await rules(`-- DropIndex\nDROP INDEX "Post_hits_idx";\n`), ["drop-index-not-concurrent@2", "missing-lock-timeout@2"]);
    assert.deepEqual(await rules(`DROP INDEX CONCURRENTLY "Post_hits_idx";\n`), []);
    const onNewTable = `CREATE TABLE "n" ("a" int);\nCREATE INDEX "n_a_idx" ON "n" ("a");\nDROP INDEX "n_a_idx";\n`;
    assert.deepEqual(
      (await rules(onNewTable)).filter((r) => r.startsWith("missing-lock-timeout")),
      [],
    );
  });

  it("Prisma's DEFAULT CURRENT_TIMESTAMP is not a rewrite (pgfence flags it); its SERIAL NOT NULL is one (squawk does not flag it)", async () => {
    assert.deepEqual(await rulesOn(`ALTER TABLE "t" ADD COLUMN     "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;`), []);
    assert.deepEqual(await rulesOn(`ALTER TABLE "t" ADD COLUMN     "n" SERIAL NOT NULL;`), ["add-column-rewrite@2"]);
  });

  describe("on PostgreSQL", () => {
    let t: TestDatabase;
    const relfilenode = async () => (await t.db.one<{ n: string }>(`SELECT relfilenode::text AS n FROM pg_class WHERE oid = '"t"'::regclass`)).n;
    before(async () => {
      t = await createTestDatabase();
      await t.db.query(`CREATE TABLE "t" ("id" int NOT NULL, "a" int); INSERT INTO "t" SELECT g, g FROM generate_series(1, 1000) g; CREATE UNIQUE INDEX "t_id_key" ON "t" ("id")`);
    });
    after(async () => t.drop());

    it("DEFAULT CURRENT_TIMESTAMP keeps the table's file, SERIAL NOT NULL writes a new one", async () => {
      const start = await relfilenode();
      await t.db.query(`ALTER TABLE "t" ADD COLUMN "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP`);
      assert.equal(await relfilenode(), start);
      await t.db.query(`ALTER TABLE "t" ADD COLUMN "n" SERIAL NOT NULL`);
      assert.notEqual(await relfilenode(), start);
    });

    it("a foreign key from a new table takes SHARE ROW EXCLUSIVE on the referenced one", async () => {
      const modes = await t.db
        .transaction(async (tx) => {
          await tx.query(`CREATE TABLE "ref" ("id" int PRIMARY KEY, "tId" int)`);
          await tx.query(`ALTER TABLE "ref" ADD CONSTRAINT "ref_t_fkey" FOREIGN KEY ("tId") REFERENCES "t" ("id")`);
          const rows = await tx.query<{ mode: string }>(`SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = '"t"'::regclass`);
          throw Object.assign(new Error("rollback"), { modes: rows.rows.map((r) => r.mode) });
        })
        .catch((error: { modes?: string[] }) => error.modes);
      assert.ok(modes?.includes("ShareRowExclusiveLock"), String(modes));
    });

    it("a PRIMARY KEY cannot be added NOT VALID (squawk's constraint-missing-not-valid asks for it): 0A000", async () => {
      assert.equal((await attempt(t.db, `ALTER TABLE "t" ADD CONSTRAINT "t_pkey" PRIMARY KEY ("id") NOT VALID`))?.code, "0A000");
    });

    it("SET NOT NULL after a validated CHECK (a IS NOT NULL) runs and holds", async () => {
      await t.db.query(`${addCheck}ALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL;\nALTER TABLE "t" DROP CONSTRAINT "t_a_not_null"`);
      assert.equal((await attempt(t.db, `INSERT INTO "t" ("id", "a") VALUES (0, NULL)`))?.code, "23502");
    });
  });
});
