// `breakwater deploy` and ALTER TYPE … ADD VALUE: every file first runs as Prisma runs it (one
// simple query, one implicit transaction); only a file PostgreSQL refuses with 55P04 is split,
// in its own order, and a split file that fails says what stays committed.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { deploy, type MigrateEvent } from "../../packages/breakwater/src/prisma/deploy/deploy.ts";
import { createTestDatabase, enumLabels, runCli, tempProject, type TestDatabase } from "../harness.ts";
import { writeMigrations } from "./deploy-project.ts";

const init = [
  "20250101000000_init",
  `CREATE TYPE "Plan" AS ENUM ('FREE', 'PRO');
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
CREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "role" "Role" NOT NULL DEFAULT 'USER', "plan" "Plan" NOT NULL DEFAULT 'FREE');
INSERT INTO "User" (role) SELECT 'USER' FROM generate_series(1, 5);
CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY);
CREATE TABLE "Audit" ("note" TEXT NOT NULL);
`,
] as [string, string];

/** A database and a project holding the init migration and `file`, deployed once by the CLI. */
async function deployWith(file: string, name = "20250102000000_change") {
  const t = await createTestDatabase();
  const dir = await tempProject();
  await writeMigrations(dir, [init, [name, file]]);
  const result = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
  return { t, dir, result };
}

async function withDeployed(file: string, check: (t: TestDatabase, result: Awaited<ReturnType<typeof runCli>>) => Promise<void>): Promise<void> {
  const { t, result } = await deployWith(file);
  try {
    await check(t, result);
  } finally {
    await t.drop();
  }
}

describe("breakwater deploy: ALTER TYPE … ADD VALUE runs where the file puts it", () => {
  it("creates an enum and adds a value to it in one file", async () => {
    await withDeployed(`CREATE TYPE "Mood" AS ENUM ('HAPPY');\nALTER TYPE "Mood" ADD VALUE 'SAD';\n`, async (t, result) => {
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await enumLabels(t.db, '"Mood"'), ["HAPPY", "SAD"]);
      assert.doesNotMatch(result.stderr, /55P04|ADD VALUE/, "nothing to say: the file ran as Prisma runs it");
    });
  });

  it("renames a value and adds a value of the old name in one file", async () => {
    await withDeployed(`ALTER TYPE "Plan" RENAME VALUE 'PRO' TO 'PRO_LEGACY';\nALTER TYPE "Plan" ADD VALUE 'PRO';\n`, async (t, result) => {
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await enumLabels(t.db, '"Plan"'), ["FREE", "PRO_LEGACY", "PRO"]);
    });
  });

  it("applies a file that adds a value and does unrelated things in one transaction, with no note", async () => {
    // the shape Prisma writes for a new enum value plus a new column
    await withDeployed(`-- AlterEnum\nALTER TYPE "Role" ADD VALUE 'MANAGER';\n\n-- AlterTable\nALTER TABLE "Post" ADD COLUMN "title" TEXT;\n`, async (t, result) => {
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /⚠/);
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "ADMIN", "MANAGER"]);
    });
  });

  it("rolls the whole file back, its new enum value included, when a later statement fails", async () => {
    await withDeployed(`ALTER TYPE "Role" ADD VALUE 'MANAGER';\nALTER TABLE "Nope" ADD COLUMN "x" INTEGER;\n`, async (t, result) => {
      assert.equal(result.code, 18, result.stderr);
      assert.match(result.stderr, /Database error code: 42P01/);
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "ADMIN"], "one implicit transaction: nothing stays");
      assert.doesNotMatch(result.stderr, /not rolled back/);
    });
  });

  it("on 55P04 commits after each ADD VALUE a later statement uses, in the file's order, and says so", async () => {
    const file = [
      `CREATE TYPE "Mood" AS ENUM ('HAPPY');`,
      `ALTER TYPE "Mood" ADD VALUE 'SAD';`,
      `CREATE TABLE "Feeling" ("id" SERIAL PRIMARY KEY, "mood" "Mood" NOT NULL DEFAULT 'SAD');`,
      `INSERT INTO "Feeling" DEFAULT VALUES;`,
      `ALTER TYPE "Role" ADD VALUE 'MANAGER';`,
      `ALTER TYPE "Role" ADD VALUE 'OWNER' BEFORE 'MANAGER';`,
      `UPDATE "User" SET "role" = 'OWNER' WHERE "id" <= 2;`,
    ].join("\n");
    await withDeployed(file, async (t, result) => {
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /20250102000000_change: .*55P04/);
      // ADD VALUE … BEFORE a value added in the same transaction is no use of it: one commit for both
      assert.match(result.stderr, /applied in 3 transactions, committed after statements 2 and 6/);
      assert.deepEqual(await enumLabels(t.db, '"Mood"'), ["HAPPY", "SAD"]);
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "ADMIN", "OWNER", "MANAGER"]);
      assert.deepEqual((await t.db.query(`SELECT "mood"::text AS mood FROM "Feeling"`)).rows, [{ mood: "SAD" }]);
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE "role" = 'OWNER'`)).n, 2);
      const row = await t.db.one<{ finished: boolean; steps: number }>(
        `SELECT finished_at IS NOT NULL AS finished, applied_steps_count AS steps FROM "_prisma_migrations" WHERE migration_name = '20250102000000_change'`,
      );
      assert.deepEqual(row, { finished: true, steps: 1 });
    });
  });

  it("says which enum values stay added when a split file fails after committing them", async () => {
    const file = `ALTER TYPE "Role" ADD VALUE 'MANAGER';\nUPDATE "User" SET "role" = 'MANAGER' WHERE "id" = 1;\nALTER TABLE "Nope" ADD COLUMN "x" INTEGER;\n`;
    await withDeployed(file, async (t, result) => {
      assert.equal(result.code, 18, result.stderr);
      const committed = /Committed before the failure, not rolled back: statement 1 of 3, which added 'MANAGER' to "Role"/;
      assert.match(result.stderr, /Migration name: 20250102000000_change[\s\S]*Database error code: 42P01/);
      assert.match(result.stderr, committed);
      const logs = (await t.db.one<{ logs: string }>(`SELECT logs FROM "_prisma_migrations" WHERE migration_name = '20250102000000_change'`)).logs;
      assert.match(logs, committed);
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "ADMIN", "MANAGER"]);
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE "role" = 'MANAGER'`)).n, 0, "the UPDATE was rolled back with its transaction");
    });
  });

  it("never splits a file with its own BEGIN … COMMIT: it fails with 55P04, as under Prisma, and leaves nothing", async () => {
    await withDeployed(`BEGIN;\nALTER TYPE "Role" ADD VALUE 'MANAGER';\nUPDATE "User" SET "role" = 'MANAGER' WHERE "id" = 1;\nCOMMIT;\n`, async (t, result) => {
      assert.equal(result.code, 18, result.stderr);
      assert.match(result.stderr, /Database error code: 55P04[\s\S]*unsafe use of new value "MANAGER" of enum type "Role"/);
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "ADMIN"]);
    });
  });

  it("retries a busy lock in a split file without running its committed statements again", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      const migrationsDir = path.join(dir, "prisma", "migrations");
      const config = resolveConfig({ lock: { timeoutMs: 100, retries: 30, backoffMs: 50, maxBackoffMs: 200 } }, dir, null, {});
      await writeMigrations(dir, [init]);
      await deploy(t.url, { migrationsDir, lock: config.lock });
      await writeMigrations(dir, [
        [
          "20250102000000_guest",
          `INSERT INTO "Audit" VALUES ('ran');\nALTER TYPE "Role" ADD VALUE 'GUEST';\nUPDATE "User" SET "role" = 'GUEST' WHERE "id" = 1;\nALTER TABLE "Post" ADD COLUMN "views" INTEGER;\n`,
        ],
      ]);
      const holder = await t.connect();
      await holder.query("BEGIN");
      await holder.query(`SELECT count(*) FROM "Post"`);
      setTimeout(() => void holder.query("COMMIT"), 800);
      const notes: string[] = [];
      const result = await deploy(t.url, { migrationsDir, lock: config.lock, emit: (e: MigrateEvent) => e.type === "migration-note" && notes.push(e.message) });
      assert.deepEqual(
        result.applied.map((a) => a.name),
        ["20250102000000_guest"],
      );
      assert.ok(
        notes.some((n) => /55P04/.test(n)),
        notes.join("; "),
      );
      assert.ok(
        notes.some((n) => /lock busy \(lock_timeout 100 ms\); retrying/.test(n)),
        notes.join("; "),
      );
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Audit"`)).n, 1, "the committed INSERT ran once");
      assert.equal((await t.db.one<{ role: string }>(`SELECT "role"::text AS role FROM "User" WHERE "id" = 1`)).role, "GUEST");
      assert.equal((await t.db.query(`SELECT 1 FROM pg_attribute WHERE attrelid = '"Post"'::regclass AND attname = 'views'`)).rowCount, 1);
    } finally {
      await t.drop();
    }
  });
});
