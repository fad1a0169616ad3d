import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { deploy } from "../../packages/breakwater/src/prisma/deploy/deploy.ts";
import { checksumOf, type MigrationRow } from "../../packages/breakwater/src/prisma/deploy/migrations.ts";
import { createTestDatabase, runCli, tempProject, type TestDatabase } from "../harness.ts";
import { writeMigrations } from "./deploy-project.ts";

const migrations: [string, string][] = [
  [
    "20250101000000_init",
    `CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');\n\nCREATE TABLE "User" (\n    "id" SERIAL NOT NULL,\n    "email" TEXT NOT NULL,\n    "role" "Role" NOT NULL DEFAULT 'USER',\n    CONSTRAINT "User_pkey" PRIMARY KEY ("id")\n);\n`,
  ],
  ["20250102000000_users", `INSERT INTO "User" (email) SELECT 'u' || i || '@example.com' FROM generate_series(1, 100) i;\n`],
  ["20250103000000_email_index", `CREATE INDEX CONCURRENTLY "User_email_idx" ON "User"("email");\n`],
  [
    "20250104000000_manager",
    `-- AlterEnum\nALTER TYPE "Role" ADD VALUE 'MANAGER';\n\n-- uses the new value in the same file (55P04 under Prisma)\nUPDATE "User" SET "role" = 'MANAGER' WHERE "id" <= 3;\n`,
  ],
  ["20250105000000_post", `CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY, "authorId" INTEGER NOT NULL REFERENCES "User"("id"), "title" TEXT NOT NULL);\n`],
  ["20250106000000_function", `CREATE FUNCTION post_count(u integer) RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM "Post" WHERE "authorId" = u; $$;\n`],
  ["20250107000000_view", `CREATE VIEW "UserStats" AS SELECT u.id, post_count(u.id) AS posts FROM "User" u;\n`],
  ["20250108000000_column", `ALTER TABLE "User" ADD COLUMN "name" TEXT;\nUPDATE "User" SET "name" = split_part(email, '@', 1);\n`],
  ["20250109000000_explicit_tx", `BEGIN;\nALTER TABLE "Post" ADD COLUMN "body" TEXT;\nCOMMIT;\n`],
  ["20250110000000_unicode", `COMMENT ON TABLE "User" IS 'Utilisateurs — rôle « employé »';\n`],
  ["20250111000000_broken", `ALTER TABLE "User" ADD COLUMN "age" INTEGER;\nALTER TABLE "Nope" ADD COLUMN "x" INTEGER;\n`],
  ["20250112000000_after", `ALTER TABLE "Post" ADD COLUMN "published" BOOLEAN NOT NULL DEFAULT false;\n`],
];

type Row = MigrationRow;

describe("breakwater deploy, as prisma migrate deploy", () => {
  let t: TestDatabase;
  let dir: string;
  const rows = async () => (await t.db.query<Row>(`SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name`)).rows;
  before(async () => {
    t = await createTestDatabase();
    dir = await tempProject();
    await writeMigrations(dir, migrations);
  });
  after(async () => t.drop());

  it("--dry-run lists the pending migrations and changes nothing", async () => {
    const result = await runCli(["deploy", "--dry-run"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Would apply 12 migration\(s\)/);
    assert.equal((await t.db.one<{ ok: boolean }>(`SELECT to_regclass('"_prisma_migrations"') IS NULL AS ok`)).ok, true);
  });

  it("applies the folder in order, records rows as Prisma does, and stops at the failing file with P3018", async () => {
    const result = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 18, result.stderr);
    assert.match(result.stderr, /A migration failed to apply[\s\S]*Migration name: 20250111000000_broken[\s\S]*Database error code: 42P01/);
    assert.match(
      result.stderr,
      /20250104000000_manager: PostgreSQL refused it as one transaction \(55P04[\s\S]*20250104000000_manager: applied in 2 transactions, committed after statement 1\n/,
    );
    const all = await rows();
    assert.deepEqual(
      all.map((r) => r.migration_name),
      migrations.slice(0, 11).map(([n]) => n),
    );
    for (const [i, row] of all.entries()) {
      assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "uuid v4");
      assert.equal(row.checksum, checksumOf(migrations[i]![1]), "sha256 of the file");
      assert.equal(row.rolled_back_at, null);
      if (i < 10) {
        assert.ok(row.finished_at && row.finished_at >= row.started_at);
        assert.equal(row.applied_steps_count, 1);
        assert.equal(row.logs, null);
      }
    }
    const broken = all[10]!;
    assert.equal(broken.finished_at, null);
    assert.equal(broken.applied_steps_count, 0);
    assert.match(broken.logs ?? "", /relation "Nope" does not exist/);
    // The failing file ran as one implicit transaction: its first statement was rolled back too.
    const age = await t.db.query(`SELECT 1 FROM pg_attribute WHERE attrelid = '"User"'::regclass AND attname = 'age'`);
    assert.equal(age.rowCount, 0);
    const managers = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE role = 'MANAGER'`);
    assert.equal(managers.n, 3);
    const index = await t.db.one<{ valid: boolean }>(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = '"User_email_idx"'::regclass`);
    assert.equal(index.valid, true);
  });

  it("refuses to go on with P3009 while a migration is failed", async () => {
    const result = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 17);
    assert.match(result.stderr, /migrate found failed migrations in the target database[\s\S]*The `20250111000000_broken` migration started at .* failed/);
    const status = JSON.parse((await runCli(["migrate", "status", "--json"], { cwd: dir, databaseUrl: t.url })).stdout);
    assert.deepEqual(status.failed, ["20250111000000_broken"]);
    assert.deepEqual(status.pending, ["20250112000000_after"]);
  });

  it("resolve --rolled-back lets a fixed migration run again; resolve --applied records one without running it", async () => {
    assert.equal((await runCli(["migrate", "resolve", "--rolled-back", "20250111000000_broken"], { cwd: dir, databaseUrl: t.url })).code, 0);
    const again = await runCli(["migrate", "resolve", "--rolled-back", "20250111000000_broken"], { cwd: dir, databaseUrl: t.url });
    assert.equal(again.code, 17);
    assert.match(again.stderr, /P3012|not in a failed state/);
    const fixed = `ALTER TABLE "User" ADD COLUMN "age" INTEGER;\n`;
    await writeMigrations(dir, [
      ["20250111000000_broken", fixed],
      ["20250113000000_manual", `SELECT 1;\n`],
    ]);
    assert.equal((await runCli(["migrate", "resolve", "--applied", "20250113000000_manual"], { cwd: dir, databaseUrl: t.url })).code, 0);
    const twice = await runCli(["migrate", "resolve", "--applied", "20250113000000_manual"], { cwd: dir, databaseUrl: t.url });
    assert.equal(twice.code, 17);
    assert.match(twice.stderr, /is already recorded as applied/);
    const missing = await runCli(["migrate", "resolve", "--applied", "20990101000000_nope"], { cwd: dir, databaseUrl: t.url });
    assert.match(missing.stderr, /\[P3017\]/);
    const never = await runCli(["migrate", "resolve", "--rolled-back", "20990101000000_nope"], { cwd: dir, databaseUrl: t.url });
    assert.match(never.stderr, /\[P3011\]/);
    const deployed = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stdout, /Applied 2 migration\(s\)/);
    const all = await rows();
    const broken = all.filter((r) => r.migration_name === "20250111000000_broken");
    assert.equal(broken.length, 2, "the failed row stays, rolled back; a new row records the re-run");
    assert.ok(broken[0]!.rolled_back_at !== null && broken[0]!.finished_at === null);
    assert.ok(broken[1]!.finished_at !== null && broken[1]!.checksum === checksumOf(fixed));
    const manual = all.find((r) => r.migration_name === "20250113000000_manual")!;
    assert.deepEqual([manual.logs, manual.applied_steps_count, manual.started_at.getTime() === manual.finished_at!.getTime()], ["", 0, true]);
    const status = JSON.parse((await runCli(["migrate", "status", "--json"], { cwd: dir, databaseUrl: t.url })).stdout);
    assert.deepEqual([status.pending, status.failed, status.edited], [[], [], []]);
    await writeMigrations(dir, [["20250102000000_users", `${migrations[1]![1]}-- edited\n`]]);
    const edited = JSON.parse((await runCli(["migrate", "status", "--json"], { cwd: dir, databaseUrl: t.url })).stdout);
    assert.deepEqual(edited.edited, ["20250102000000_users"]);
  });

  it("waits for Prisma's advisory lock held by another session, then fails with P1002", async () => {
    const other = await t.connect();
    await other.query("SELECT pg_advisory_lock(72707369)");
    try {
      const config = resolveConfig({}, dir, null, {});
      const start = Date.now();
      await assert.rejects(
        deploy(t.url, { migrationsDir: path.join(dir, "prisma", "migrations"), lock: config.lock, advisoryLockWaitMs: 700 }),
        (e: Error & { code?: string }) =>
          e.code === "P1002" && /Timed out trying to acquire a postgres advisory lock \(SELECT pg_advisory_lock\(72707369\)\)\. Timeout: 700ms/.test(e.message),
      );
      assert.ok(Date.now() - start >= 650, "it waited");
    } finally {
      await other.query("SELECT pg_advisory_unlock(72707369)");
    }
  });

  it("retries a file whose lock is busy instead of queueing the application behind it", async () => {
    await writeMigrations(dir, [["20250114000000_busy", `ALTER TABLE "Post" ADD COLUMN "views" INTEGER NOT NULL DEFAULT 0;\n`]]);
    const holder = await t.connect();
    await holder.query("BEGIN");
    await holder.query(`SELECT count(*) FROM "Post"`);
    setTimeout(() => void holder.query("COMMIT"), 800);
    const config = resolveConfig({ lock: { timeoutMs: 100, retries: 30, backoffMs: 50, maxBackoffMs: 200 } }, dir, null, {});
    const notes: string[] = [];
    const result = await deploy(t.url, {
      migrationsDir: path.join(dir, "prisma", "migrations"),
      lock: config.lock,
      emit: (e) => e.type === "migration-note" && notes.push(e.message),
    });
    assert.deepEqual(
      result.applied.map((a) => a.name),
      ["20250114000000_busy"],
    );
    assert.ok(
      notes.some((n) => /lock busy \(lock_timeout 100 ms\); retrying/.test(n)),
      notes.join("; "),
    );
    const rows = (await t.db.query(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE migration_name = '20250114000000_busy'`)).rows as { n: number }[];
    assert.equal(rows[0]!.n, 1, "one row, finished once");
  });

  it("refuses a non-empty database without _prisma_migrations (P3005)", async () => {
    const other = await createTestDatabase();
    try {
      await other.db.query(`CREATE TABLE legacy (id int)`);
      const result = await runCli(["deploy"], { cwd: dir, databaseUrl: other.url });
      assert.equal(result.code, 17);
      assert.match(result.stderr, /The database schema is not empty[\s\S]*\[P3005\]/);
    } finally {
      await other.drop();
    }
  });
});

describe("breakwater deploy: a failing file with its own BEGIN … COMMIT (Prisma's enum swap)", () => {
  it("records Prisma's logs and P3018, and the file's transaction leaves nothing behind", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await writeMigrations(dir, [
        [
          "20250101000000_init",
          `CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');\nCREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "role" "Role" NOT NULL DEFAULT 'USER');\nINSERT INTO "User" (role) VALUES ('USER'), ('ADMIN');\n`,
        ],
        // Prisma's final SQL for USER → EMPLOYEE while a row still holds USER: fails inside its BEGIN
        [
          "20250102000000_swap",
          `-- AlterEnum\nBEGIN;\nCREATE TYPE "Role_new" AS ENUM ('EMPLOYEE', 'ADMIN');\nALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;\nALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");\nALTER TYPE "Role" RENAME TO "Role_old";\nALTER TYPE "Role_new" RENAME TO "Role";\nDROP TYPE "Role_old";\nCOMMIT;\n`,
        ],
      ]);
      const result = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 18, result.stderr);
      assert.match(result.stderr, /Migration name: 20250102000000_swap/);
      assert.match(result.stderr, /invalid input value for enum "Role_new": "USER"/);
      const row = await t.db.one<{ logs: string; finished_at: Date | null }>(`SELECT logs, finished_at FROM "_prisma_migrations" WHERE migration_name = '20250102000000_swap'`);
      assert.equal(row.finished_at, null);
      assert.match(row.logs, /Database error code: 22P02/);
      assert.equal((await t.db.one<{ ok: boolean }>(`SELECT to_regtype('"Role_new"') IS NULL AS ok`)).ok, true, "the file's transaction was rolled back");
      assert.equal(
        (await t.db.one<{ d: string }>(`SELECT column_default AS d FROM information_schema.columns WHERE table_name = 'User' AND column_name = 'role'`)).d,
        `'USER'::"Role"`,
      );
    } finally {
      await t.drop();
    }
  });
});
