// `breakwater lint --trace`: the linted statements run on a scratch database after the migrations
// before them; the locks PostgreSQL took and the tables it rewrote sit beside the findings.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TraceReport, TraceRow } from "../../packages/breakwater/src/lint/trace.ts";
import { createTestDatabase, runCli, type TestDatabase } from "../harness.ts";
import { project } from "./project.ts";

// What `prisma migrate dev` writes for a first schema: an enum, two tables, a unique index.
const init = `-- CreateEnum
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');

-- CreateTable
CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "name" VARCHAR(100),
    "role" "Role" NOT NULL DEFAULT 'USER',
    "legacy" TEXT,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Post" (
    "id" INTEGER NOT NULL,
    "title" VARCHAR(191) NOT NULL,
    "authorId" INTEGER NOT NULL,
    "views" INTEGER NOT NULL DEFAULT 0,
    "body" TEXT,

    CONSTRAINT "Post_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
`;

// The next schema change, as Prisma's engine writes it.
const changes = `-- AlterEnum
ALTER TYPE "Role" ADD VALUE 'GUEST';

-- AlterTable
ALTER TABLE "Post" ALTER COLUMN "views" SET DATA TYPE BIGINT;

-- AlterTable
ALTER TABLE "Post" ALTER COLUMN "title" SET DATA TYPE VARCHAR(255);

-- AlterTable
ALTER TABLE "Post" ALTER COLUMN "body" SET NOT NULL;

-- AlterTable
ALTER TABLE "User" ADD COLUMN "createdAt" TIMESTAMP(3) NOT NULL DEFAULT now();

-- AlterTable
ALTER TABLE "Post" ADD COLUMN "publicId" UUID NOT NULL DEFAULT gen_random_uuid();

-- CreateIndex
CREATE INDEX "Post_authorId_idx" ON "Post"("authorId");

-- AddForeignKey
ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AlterTable
ALTER TABLE "User" RENAME COLUMN "name" TO "fullName";

-- AlterTable
ALTER TABLE "User" DROP COLUMN "legacy";
`;

interface JsonTrace {
  trace: TraceRow[];
  traceSetup: Omit<TraceReport, "rows">;
  findings: { rule: string; line: number }[];
}

const row = (report: JsonTrace, start: string) => {
  const found = report.trace.find((r) => r.statement.startsWith(start));
  assert.ok(found, `no trace row for ${start}`);
  return found;
};

/**
 * Names of the scratch databases --trace left behind on the server (none, when it cleans up).
 * Another test run on the same server may hold one for a moment: a name counts only when it is
 * still there 10 s later.
 */
/** `breakwater lint <paths> --trace --format json` on `server`, without a catalog. */
function traceJson(server: TestDatabase, dir: string, paths: string[]) {
  return runCli(["lint", ...paths, "--trace", "--shadow-database-url", server.url, "--no-catalog", "--format", "json"], { cwd: dir, env: { DATABASE_URL: "" } });
}

async function scratchDatabases(server: TestDatabase): Promise<string[]> {
  const list = async () => (await server.db.query<{ name: string }>("SELECT datname AS name FROM pg_database WHERE datname LIKE 'breakwater\\_trace\\_%'")).rows.map((r) => r.name);
  let left = await list();
  for (const started = Date.now(); left.length > 0 && Date.now() - started < 10_000;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = await list();
    left = left.filter((name) => now.includes(name));
  }
  return left;
}

describe("breakwater lint --trace", () => {
  let server: TestDatabase;
  before(async () => {
    server = await createTestDatabase();
  });
  after(async () => {
    await server.drop();
  });

  it("traces a Prisma schema change against real PostgreSQL: every lock and rewrite the rules predict, and no unexplained mismatch", async () => {
    const dir = await project({
      "prisma/migrations/20240101000000_init/migration.sql": init,
      "prisma/migrations/20240201000000_changes/migration.sql": changes,
    });
    const args = ["lint", "prisma/migrations/20240201000000_changes", "--trace", "--shadow-database-url", server.url, "--no-catalog"];
    const text = await runCli(args, { cwd: dir, env: { DATABASE_URL: "" } });
    assert.equal(text.code, 1, text.stderr);
    // The table, as a reader of the test output sees it.
    console.log(text.stdout.slice(text.stdout.indexOf("Trace on PostgreSQL")));
    assert.match(text.stdout, /\| Statement \| Predicted lock \| Traced lock \| Rewrite predicted \| Rewrite traced \| Agreement \|/);
    assert.match(text.stdout, /No unexplained mismatch\./);

    const json = await runCli([...args, "--format", "json"], { cwd: dir, env: { DATABASE_URL: "" } });
    const report = JSON.parse(json.stdout) as JsonTrace;
    assert.deepEqual(report.traceSetup.history, ["prisma/migrations/20240101000000_init/migration.sql"]);
    assert.deepEqual(
      report.traceSetup.seeded.map((s) => [s.table, s.rows]),
      [
        ["Post", 1],
        ["User", 1],
      ],
    );
    assert.equal(report.trace.length, 10);
    assert.deepEqual(
      report.trace.filter((r) => r.agreement === "mismatch" || r.agreement === "failed" || r.agreement === "not traced"),
      [],
    );

    const bigint = row(report, `ALTER TABLE "Post" ALTER COLUMN "views" SET DATA TYPE BIGINT`);
    assert.deepEqual([bigint.tracedLock, bigint.tracedRewrite, bigint.rewritten, bigint.agreement], ["ACCESS EXCLUSIVE", true, ["Post"], "agree"]);
    const widening = row(report, `ALTER TABLE "Post" ALTER COLUMN "title" SET DATA TYPE VARCHAR(255)`);
    assert.deepEqual([widening.tracedLock, widening.tracedRewrite, widening.predictedRewrite, widening.agreement], ["ACCESS EXCLUSIVE", false, false, "agree"]);
    const notNull = row(report, `ALTER TABLE "Post" ALTER COLUMN "body" SET NOT NULL`);
    assert.deepEqual([notNull.predictedLock, notNull.tracedLock, notNull.tracedRewrite], ["ACCESS EXCLUSIVE", "ACCESS EXCLUSIVE", false]);
    const index = row(report, `CREATE INDEX "Post_authorId_idx"`);
    assert.deepEqual([index.predictedLock, index.tracedLock, index.tracedRewrite], ["SHARE", "SHARE", false]);
    assert.ok(index.locks.some((l) => l.relation === "Post" && l.mode === "SHARE" && l.granted));
    const foreignKey = row(report, `ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey"`);
    // Both tables: writes to the referenced table wait too.
    for (const table of ["Post", "User"])
      assert.ok(
        foreignKey.locks.some((l) => l.relation === table && l.mode === "SHARE ROW EXCLUSIVE" && l.granted),
        table,
      );
    assert.deepEqual([foreignKey.predictedLock, foreignKey.tracedLock], ["SHARE ROW EXCLUSIVE", "SHARE ROW EXCLUSIVE"]);
    const stable = row(report, `ALTER TABLE "User" ADD COLUMN "createdAt"`);
    assert.deepEqual([stable.predictedLock, stable.tracedLock, stable.tracedRewrite, stable.agreement], [null, "ACCESS EXCLUSIVE", false, "explained"]);
    const volatile = row(report, `ALTER TABLE "Post" ADD COLUMN "publicId"`);
    assert.deepEqual([volatile.predictedRewrite, volatile.tracedRewrite, volatile.agreement], [true, true, "agree"]);
    const addValue = row(report, `ALTER TYPE "Role" ADD VALUE 'GUEST'`);
    assert.deepEqual([addValue.method, addValue.tracedLock, addValue.agreement], ["in-transaction", null, "agree"]);
    for (const start of [`ALTER TABLE "User" RENAME COLUMN`, `ALTER TABLE "User" DROP COLUMN`])
      assert.deepEqual([row(report, start).tracedLock, row(report, start).tracedRewrite, row(report, start).agreement], ["ACCESS EXCLUSIVE", false, "agree"]);
    assert.deepEqual(await scratchDatabases(server), []);
  });

  it("applies the migrations between two linted ones before the later, and seeds the tables they create", async () => {
    const dir = await project({
      "prisma/migrations/20240101000000_init/migration.sql": `CREATE TABLE "Item" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, CONSTRAINT "Item_pkey" PRIMARY KEY ("id"));\n`,
      "prisma/migrations/20240201000000_price/migration.sql": `ALTER TABLE "Item" ADD COLUMN "price" INTEGER;\n`,
      "prisma/migrations/20240301000000_tag/migration.sql": `CREATE TABLE "Tag" ("id" SERIAL NOT NULL, "label" TEXT NOT NULL, CONSTRAINT "Tag_pkey" PRIMARY KEY ("id"));\n`,
      "prisma/migrations/20240401000000_widen/migration.sql": `ALTER TABLE "Item" ALTER COLUMN "price" SET DATA TYPE BIGINT;\n\nCREATE INDEX "Tag_label_idx" ON "Tag"("label");\n`,
      "prisma/migrations/20240501000000_later/migration.sql": `DROP TABLE "Tag";\n`,
    });
    const json = await traceJson(server, dir, ["prisma/migrations/20240101000000_init", "prisma/migrations/20240401000000_widen"]);
    const report = JSON.parse(json.stdout) as JsonTrace;
    assert.deepEqual(report.traceSetup.history, ["prisma/migrations/20240201000000_price/migration.sql", "prisma/migrations/20240301000000_tag/migration.sql"], json.stderr);
    // Item is created by a linted file: only the history's tables are seeded, and Tag is one.
    assert.deepEqual(
      report.traceSetup.seeded.map((s) => [s.table, s.rows]),
      [["Tag", 1]],
    );
    const widen = row(report, `ALTER TABLE "Item" ALTER COLUMN "price" SET DATA TYPE BIGINT`);
    assert.deepEqual([widen.method, widen.rewritten], ["in-transaction", ["Item"]]);
    // Tag existed before the file, as in production: a busy table, its lock and its index count.
    const index = row(report, `CREATE INDEX "Tag_label_idx"`);
    assert.deepEqual([index.method, index.tracedLock, index.indexesBuilt, index.agreement], ["in-transaction", "SHARE", ["Tag_label_idx"], "agree"]);
    assert.deepEqual(await scratchDatabases(server), []);
  });

  it("applies each folder's earlier files before its first linted file, and traces a file given twice once", async () => {
    const dir = await project({
      "db/app/001_init.sql": `CREATE TABLE "Account" ("id" int PRIMARY KEY);\n`,
      "db/app/002_change.sql": `ALTER TABLE "Account" ADD COLUMN "email" text;\n`,
      "db/audit/001_init.sql": `CREATE TABLE "Event" ("id" int PRIMARY KEY, "account" int REFERENCES "Account");\n`,
      "db/audit/002_change.sql": `ALTER TABLE "Event" ADD COLUMN "at" timestamptz;\n`,
    });
    const json = await traceJson(server, dir, ["db/app/002_change.sql", "db/audit/002_change.sql", "db/app/002_change.sql"]);
    const report = JSON.parse(json.stdout) as JsonTrace;
    assert.deepEqual(report.traceSetup.history, ["db/app/001_init.sql", "db/audit/001_init.sql"], json.stderr);
    // Event's foreign key finds the Account row seeded before it.
    assert.deepEqual(
      report.traceSetup.seeded.map((s) => [s.table, s.rows]),
      [
        ["Account", 1],
        ["Event", 1],
      ],
    );
    assert.deepEqual(
      report.trace.map((r) => [r.file, r.method, r.tracedLock]),
      [
        ["db/app/002_change.sql", "in-transaction", "ACCESS EXCLUSIVE"],
        ["db/audit/002_change.sql", "in-transaction", "ACCESS EXCLUSIVE"],
      ],
    );
  });

  it("names a migration between linted ones that does not apply: BW_SQL_FAILED, and no scratch database left", async () => {
    const dir = await project({
      "db/001_init.sql": `CREATE TABLE "Account" ("id" int PRIMARY KEY);\n`,
      "db/002_name.sql": `ALTER TABLE "Account" ADD COLUMN "name" text;\n`,
      // Fine on the empty table it met in production; the row the trace seeded makes it fail.
      "db/003_required.sql": `ALTER TABLE "Account" ADD COLUMN "email" text NOT NULL;\n`,
      "db/004_change.sql": `ALTER TABLE "Account" ADD COLUMN "bio" text;\n`,
    });
    const result = await runCli(["lint", "db/002_name.sql", "db/004_change.sql", "--trace", "--shadow-database-url", server.url, "--no-catalog"], {
      cwd: dir,
      env: { DATABASE_URL: "" },
    });
    assert.equal(result.code, 8, result.stderr);
    assert.match(result.stderr, /db\/003_required\.sql failed on the scratch database: .*"email"/);
    assert.match(result.stderr, /between linted files/);
    assert.deepEqual(await scratchDatabases(server), []);
  });

  it("samples CREATE INDEX CONCURRENTLY from a second connection: SHARE UPDATE EXCLUSIVE, explained", async () => {
    const dir = await project({
      "prisma/migrations/20240101000000_init/migration.sql": init,
      "prisma/migrations/20240301000000_index/migration.sql": `-- CreateIndex\nCREATE INDEX CONCURRENTLY "Post_title_idx" ON "Post"("title");\n`,
    });
    const json = await runCli(["lint", "prisma/migrations/20240301000000_index", "--trace", "--shadow-database-url", server.url, "--no-catalog", "--format", "json"], {
      cwd: dir,
      env: { DATABASE_URL: "" },
    });
    const report = JSON.parse(json.stdout) as JsonTrace;
    const [concurrent] = report.trace;
    assert.equal(concurrent?.method, "sampled", json.stderr);
    assert.deepEqual([concurrent.predictedLock, concurrent.tracedLock, concurrent.tracedRewrite, concurrent.agreement], [null, "SHARE UPDATE EXCLUSIVE", false, "explained"]);
    assert.match(concurrent.explanation ?? "", /blocks neither reads nor writes/);
  });

  it("reports a statement PostgreSQL refuses with its SQLSTATE, and leaves a table it cannot seed empty, saying why", async () => {
    const dir = await project({
      "db/001_init.sql": `CREATE TABLE "Shape" ("id" int PRIMARY KEY, "at" point NOT NULL);\nCREATE TABLE "Tag" ("id" int PRIMARY KEY);\n`,
      "db/002_change.sql": `ALTER TABLE "Tag" ADD COLUMN "name" text NOT NULL;\n`,
    });
    const json = await runCli(["lint", "db/002_change.sql", "--trace", "--shadow-database-url", server.url, "--no-catalog", "--format", "json"], {
      cwd: dir,
      env: { DATABASE_URL: "" },
    });
    const report = JSON.parse(json.stdout) as JsonTrace;
    assert.deepEqual(report.traceSetup.history, ["db/001_init.sql"]);
    assert.deepEqual(
      report.traceSetup.seeded.map((s) => [s.table, s.rows, s.error !== undefined]),
      [
        ["Shape", 0, true],
        ["Tag", 1, false],
      ],
    );
    const [added] = report.trace;
    assert.equal(added?.agreement, "failed");
    assert.match(added.explanation ?? "", /23502.*findings: .*add-column-not-null/);
    assert.deepEqual(await scratchDatabases(server), []);
  });

  it("ADD COLUMN … UNIQUE builds an index under ACCESS EXCLUSIVE, which unique-without-index predicts; VACUUM is sampled with its SHARE UPDATE EXCLUSIVE", async () => {
    const dir = await project({
      "db/001_init.sql": `CREATE TABLE "Account" ("id" int PRIMARY KEY, "email" text);\n`,
      "db/002_change.sql": `SET lock_timeout = '5s';\nALTER TABLE "Account" ADD COLUMN "handle" text UNIQUE;\nVACUUM "Account";\n`,
    });
    const json = await runCli(["lint", "db/002_change.sql", "--trace", "--shadow-database-url", server.url, "--no-catalog", "--format", "json"], {
      cwd: dir,
      env: { DATABASE_URL: "" },
    });
    const report = JSON.parse(json.stdout) as JsonTrace;
    const unique = row(report, `ALTER TABLE "Account" ADD COLUMN "handle"`);
    assert.deepEqual(
      [unique.rules, unique.predictedLock, unique.tracedLock, unique.indexesBuilt, unique.agreement],
      [["unique-without-index"], "ACCESS EXCLUSIVE", "ACCESS EXCLUSIVE", ["Account_handle_key"], "agree"],
    );
    const vacuum = row(report, `VACUUM "Account"`);
    assert.deepEqual([vacuum.method, vacuum.tracedLock, vacuum.agreement], ["sampled", "SHARE UPDATE EXCLUSIVE", "explained"]);
  });

  it("holds each statement run outside a transaction at a lock of its own until pg_locks shows what it asks for, whatever the migration's lock_timeout", async () => {
    const dir = await project({
      "db/001_init.sql": `CREATE TABLE "Account" ("id" int PRIMARY KEY, "email" text);\nCREATE INDEX "Account_email_idx" ON "Account" ("email");\n`,
      // A lock_timeout shorter than any observer's reaction: it must not fire on the trace's own lock.
      "db/002_maintenance.sql": [
        `SET lock_timeout = '1ms';`,
        `VACUUM "Account";`,
        `VACUUM FULL "Account";`,
        `CREATE INDEX CONCURRENTLY "Account_id_email_idx" ON "Account" ("id", "email");`,
        `REINDEX INDEX CONCURRENTLY "Account_email_idx";`,
        `DROP INDEX CONCURRENTLY "Account_id_email_idx";`,
        `ALTER TABLE "Account" RENAME TO "Member";`,
        `VACUUM "Member";`,
        "",
      ].join("\n"),
    });
    const json = await runCli(["lint", "db/002_maintenance.sql", "--trace", "--shadow-database-url", server.url, "--no-catalog", "--format", "json"], {
      cwd: dir,
      env: { DATABASE_URL: "" },
    });
    const report = JSON.parse(json.stdout) as JsonTrace;
    const traced = (start: string) => {
      const found = row(report, start);
      return [found.method, found.tracedLock, found.agreement];
    };
    // VACUUM first takes ACCESS SHARE to look the table up, then asks for its SHARE UPDATE EXCLUSIVE.
    assert.deepEqual(traced(`VACUUM "Account"`), ["sampled", "SHARE UPDATE EXCLUSIVE", "explained"], json.stderr);
    assert.deepEqual(traced(`VACUUM FULL "Account"`), ["sampled", "ACCESS EXCLUSIVE", "agree"]);
    assert.equal(row(report, `VACUUM FULL "Account"`).tracedRewrite, true);
    for (const start of [`CREATE INDEX CONCURRENTLY`, `REINDEX INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`])
      assert.deepEqual(traced(start), ["sampled", "SHARE UPDATE EXCLUSIVE", "explained"], start);
    // The observer finds a table by what it is called now, not by its name in the history.
    assert.deepEqual(traced(`VACUUM "Member"`), ["sampled", "SHARE UPDATE EXCLUSIVE", "explained"]);
    assert.deepEqual(await scratchDatabases(server), []);
  });

  it("does not hang on a statement outside a transaction that fails while held, names a table that does not exist, or names none", async () => {
    const dir = await project({
      "db/001_init.sql": `CREATE TABLE "Account" ("id" int PRIMARY KEY);\n`,
      "db/002_change.sql": `CREATE INDEX CONCURRENTLY "Account_missing_idx" ON "Account" ("missing");\nVACUUM "Nowhere";\nVACUUM;\nVACUUM (SKIP_LOCKED) "Account";\n`,
    });
    const json = await runCli(["lint", "db/002_change.sql", "--trace", "--shadow-database-url", server.url, "--no-catalog", "--format", "json"], {
      cwd: dir,
      env: { DATABASE_URL: "" },
    });
    const report = JSON.parse(json.stdout) as JsonTrace;
    const failed = row(report, `CREATE INDEX CONCURRENTLY`);
    assert.deepEqual([failed.method, failed.agreement], ["failed", "failed"], json.stderr);
    assert.match(failed.explanation ?? "", /"missing" does not exist \(42703\)/);
    const missing = row(report, `VACUUM "Nowhere"`);
    assert.deepEqual([missing.method, missing.agreement], ["failed", "failed"]);
    assert.match(missing.explanation ?? "", /42P01/);
    const everything = report.trace.find((r) => r.statement === "VACUUM");
    assert.ok(everything);
    assert.deepEqual([everything.agreement, everything.tracedLock], ["not traced", null]);
    assert.match(everything.explanation ?? "", /names no table/);
    // SKIP_LOCKED gives up on a table it would wait for: held back, it takes nothing, and says so.
    const skipped = row(report, `VACUUM (SKIP_LOCKED)`);
    assert.deepEqual([skipped.agreement, skipped.tracedLock], ["not traced", null]);
    assert.match(skipped.explanation ?? "", /SKIP_LOCKED/);
    assert.deepEqual(await scratchDatabases(server), []);
  });

  it("--shadow-database-url without --trace is refused", async () => {
    const dir = await project({ "a.sql": "SELECT 1;\n" });
    const result = await runCli(["lint", "a.sql", "--shadow-database-url", server.url], { cwd: dir, env: { DATABASE_URL: "" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--shadow-database-url needs --trace/);
  });

  it("traces on an embedded PostgreSQL when no shadow server is given", async () => {
    const dir = await project({
      "prisma/migrations/20240101000000_init/migration.sql": init,
      "prisma/migrations/20240201000000_changes/migration.sql": changes,
    });
    const json = await runCli(["lint", "prisma/migrations/20240201000000_changes", "--trace", "--no-catalog", "--format", "json"], { cwd: dir, env: { DATABASE_URL: "" } });
    assert.equal(json.code, 1, json.stderr);
    const report = JSON.parse(json.stdout) as JsonTrace;
    assert.equal(report.traceSetup.on, "embedded");
    assert.deepEqual(
      report.trace.filter((r) => r.agreement === "mismatch" || r.agreement === "failed"),
      [],
    );
    assert.equal(row(report, `ALTER TABLE "Post" ALTER COLUMN "views"`).tracedRewrite, true);
  });
});
