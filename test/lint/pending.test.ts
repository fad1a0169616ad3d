// `breakwater lint --pending`: with the database reachable, only the migration folders that
// `_prisma_migrations` does not list as applied are linted.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTestDatabase, runCli, tempProject } from "../harness.ts";
import { writeMigrations } from "../prisma/deploy-project.ts";

describe("breakwater lint --pending", () => {
  it("lints the folders not yet applied, and refuses without a database", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await writeMigrations(dir, [
        [
          "20250101000000_init",
          `CREATE TABLE "User" ("id" INTEGER NOT NULL, "email" TEXT, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\nINSERT INTO "User" SELECT i FROM generate_series(1, 10) AS i;\n`,
        ],
        ["20250102000000_index", `CREATE INDEX "User_email_idx" ON "User"("email");\n`],
      ]);
      const first = await runCli(["deploy", "--allow", "index-not-concurrent"], { cwd: dir, databaseUrl: t.url });
      assert.equal(first.code, 0, first.stderr);
      await writeMigrations(dir, [["20250103000000_not_null", `ALTER TABLE "User" ALTER COLUMN "email" SET NOT NULL;\n`]]);
      // A rolled-back attempt is not applied: its folder is pending.
      await t.db.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, rolled_back_at) VALUES ('x', 'x', '20250103000000_not_null', now())`);

      const every = await runCli(["lint", "--format", "json", "--no-catalog"], { cwd: dir });
      assert.deepEqual((JSON.parse(every.stdout) as { files: number }).files, 3);

      const pending = await runCli(["lint", "--pending", "--format", "json"], { cwd: dir, databaseUrl: t.url });
      const report = JSON.parse(pending.stdout) as { files: number; findings: { rule: string; file: string }[] };
      assert.equal(report.files, 1, "20250101 and 20250102 are applied");
      assert.deepEqual(
        report.findings.filter((f) => f.rule !== "missing-lock-timeout").map((f) => [f.rule, f.file]),
        [["set-not-null", "prisma/migrations/20250103000000_not_null/migration.sql"]],
      );
      assert.equal(pending.code, 1);

      const without = await runCli(["lint", "--pending"], { cwd: dir, env: { DATABASE_URL: "" } });
      assert.equal(without.code, 2, without.stderr);
      assert.match(without.stderr, /--pending needs the database/);
    } finally {
      await t.drop();
    }
  });
});
