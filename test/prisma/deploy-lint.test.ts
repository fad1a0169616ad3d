// `breakwater deploy` lints the pending files first (Prisma's runner, the database's catalog): an
// error finding refuses the deploy before anything runs (exit 22), unless the file ignores it with
// a reason or --allow names its rule; warnings are printed; --no-lint skips it. The files are
// written by Prisma's own schema engine.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { diffSchemas } from "../../packages/breakwater/src/prisma/scaffold/engine.ts";
import { createTestDatabase, runCli, tempProject, type TestDatabase } from "../harness.ts";
import { writeMigrations } from "./deploy-project.ts";

const datasource = `datasource db {\n  provider = "postgresql"\n}\n`;
const userModel = (extra: string) => `model User {\n  id    Int    @id\n  email String\n${extra}}\n`;

async function prismaSql(from: string, to: string): Promise<string> {
  return diffSchemas([{ path: "schema.prisma", content: datasource + from }], [{ path: "schema.prisma", content: datasource + to }]);
}

/** A project whose first migration (deployed) creates User with 1,000 rows, and whose second is Prisma's SQL for `to`. */
async function project(t: TestDatabase, to: string): Promise<{ dir: string; file: string }> {
  const dir = await tempProject();
  const init = (await prismaSql("", userModel(""))) + `INSERT INTO "User" (id, email) SELECT i, 'u' || i || '@example.com' FROM generate_series(1, 1000) AS i;\n`;
  await writeMigrations(dir, [["20250101000000_init", init]]);
  const first = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
  assert.equal(first.code, 0, first.stderr);
  await writeMigrations(dir, [["20250102000000_email_index", await prismaSql(userModel(""), to)]]);
  return { dir, file: path.join(dir, "prisma", "migrations", "20250102000000_email_index", "migration.sql") };
}

const applied = async (t: TestDatabase) =>
  (await t.db.query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name`)).rows.map(
    (r) => r.migration_name,
  );
const indexExists = async (t: TestDatabase) => (await t.db.one<{ ok: boolean }>(`SELECT to_regclass('"User_email_idx"') IS NOT NULL AS ok`)).ok;

describe("breakwater deploy lints the pending files first", () => {
  it("refuses Prisma's CREATE INDEX on a table with rows, then applies it with --allow, and with an ignore in the file", async () => {
    const t = await createTestDatabase();
    try {
      const { dir, file } = await project(t, userModel("  @@index([email])\n"));
      const sql = await readFile(file, "utf8");
      assert.match(sql, /^CREATE INDEX "User_email_idx" ON "User"\("email"\);$/m, "Prisma's own SQL");

      const refused = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      process.stdout.write(`--- deploy refuses:\n${refused.stderr}\n`);
      assert.equal(refused.code, 22, refused.stderr);
      const line = sql.split("\n").findIndex((l) => l.startsWith("CREATE INDEX")) + 1;
      assert.match(refused.stderr, new RegExp(`prisma/migrations/20250102000000_email_index/migration\\.sql:${line}:1 error index-not-concurrent: `));
      assert.match(refused.stderr, /fix: CREATE INDEX CONCURRENTLY/);
      assert.match(refused.stderr, /--allow index-not-concurrent/);
      assert.deepEqual(await applied(t), ["20250101000000_init"], "nothing ran");
      assert.equal(await indexExists(t), false);

      const dry = await runCli(["deploy", "--dry-run"], { cwd: dir, databaseUrl: t.url });
      assert.equal(dry.code, 22, "--dry-run says what deploy would do");

      const json = await runCli(["deploy", "--json"], { cwd: dir, databaseUrl: t.url });
      const error = JSON.parse(json.stdout.trim().split("\n").at(-1)!) as {
        error: { code: string; message: string; hint: string; details?: { findings?: { rule: string; file: string; line: number; fix: string }[] } };
      };
      assert.equal(error.error.code, "BW_LINT_REFUSED");
      assert.match(error.error.message, new RegExp(`migration\\.sql:${line}:1 error index-not-concurrent`));
      assert.match(error.error.hint, /--allow index-not-concurrent/);
      // A script reads the findings themselves, not only the message.
      assert.deepEqual(
        error.error.details?.findings?.map((f) => [f.rule, f.file, f.line]),
        [["index-not-concurrent", "prisma/migrations/20250102000000_email_index/migration.sql", line]],
      );

      const unknown = await runCli(["deploy", "--allow", "index-not-concurent"], { cwd: dir, databaseUrl: t.url });
      assert.equal(unknown.code, 2, "a typo in --allow allows nothing: refused");

      const allowed = await runCli(["deploy", "--allow", "index-not-concurrent"], { cwd: dir, databaseUrl: t.url });
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout + allowed.stderr, /allowed index-not-concurrent/, "what --allow let through is printed");
      assert.deepEqual(await applied(t), ["20250101000000_init", "20250102000000_email_index"]);
      assert.equal(await indexExists(t), true);

      // Prisma's DROP INDEX is a warning: printed, applied.
      await writeMigrations(dir, [["20250103000000_drop_index", await prismaSql(userModel("  @@index([email])\n"), userModel(""))]]);
      const warned = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(warned.code, 0, warned.stderr);
      assert.match(warned.stdout + warned.stderr, /20250103000000_drop_index\/migration\.sql:\d+:1 warning drop-index-not-concurrent/);
      assert.equal(await indexExists(t), false);
    } finally {
      await t.drop();
    }
  });

  it("applies and records an empty or blank migration.sql, as prisma migrate deploy does (nothing to lint)", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await writeMigrations(dir, [
        ["20250101000000_empty", ""],
        ["20250102000000_blank", "\n\n  \n"],
        ["20250103000000_comment", "-- This is an empty migration."],
      ]);
      const result = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await applied(t), ["20250101000000_empty", "20250102000000_blank", "20250103000000_comment"]);
      const lint = await runCli(["lint", "--no-catalog"], { cwd: dir, env: { DATABASE_URL: "" } });
      assert.equal(lint.code, 0, lint.stdout);
      assert.match(lint.stdout, /No findings in 3 files/);
    } finally {
      await t.drop();
    }
  });

  it("applies the same file when it ignores the finding with a reason", async () => {
    const t = await createTestDatabase();
    try {
      const { dir, file } = await project(t, userModel("  @@index([email])\n"));
      const sql = await readFile(file, "utf8");
      await writeFile(file, sql.replace(/^CREATE INDEX/m, "-- breakwater-ignore index-not-concurrent: User has 1,000 rows; the build takes milliseconds\nCREATE INDEX"));
      const result = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stdout + result.stderr, /index-not-concurrent/);
      assert.equal(await indexExists(t), true);
    } finally {
      await t.drop();
    }
  });

  it("refuses an ignore without a reason; --no-lint skips the check", async () => {
    const t = await createTestDatabase();
    try {
      const { dir, file } = await project(t, userModel("  @@index([email])\n"));
      const sql = await readFile(file, "utf8");
      await writeFile(file, sql.replace(/^CREATE INDEX/m, "-- breakwater-ignore index-not-concurrent\nCREATE INDEX"));
      const refused = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(refused.code, 22, refused.stderr);
      assert.match(refused.stderr, /error ignore-without-reason/);
      const skipped = await runCli(["deploy", "--no-lint"], { cwd: dir, databaseUrl: t.url });
      assert.equal(skipped.code, 0, skipped.stderr);
      assert.equal(await indexExists(t), true);
    } finally {
      await t.drop();
    }
  });

  it("refuses Prisma's enum swap on a table with rows, not on one created by an earlier pending file", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      const roles = (values: string) => `enum Role {\n${values}\n}\nmodel User {\n  id   Int  @id\n  role Role @default(USER)\n}\n`;
      const init = (await prismaSql("", roles("  USER\n  ADMIN\n  GUEST"))) + `INSERT INTO "User" (id, role) SELECT i, 'USER' FROM generate_series(1, 10) AS i;\n`;
      await writeMigrations(dir, [
        ["20250101000000_init", init],
        ["20250102000000_no_guest", await prismaSql(roles("  USER\n  ADMIN\n  GUEST"), roles("  USER\n  ADMIN"))],
      ]);
      const first = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(first.code, 0, "the swap runs on a table created by an earlier pending file: new, nothing to refuse");
      await writeMigrations(dir, [["20250103000000_no_admin", await prismaSql(roles("  USER\n  ADMIN"), roles("  USER"))]]);
      const second = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(second.code, 22, second.stderr);
      assert.match(second.stderr, /error prisma-enum-swap: .*'ADMIN', removed from "Role"/, "the catalog names the removed value");
      assert.doesNotMatch(second.stderr, /alter-column-type/, "the swap's ALTER COLUMN TYPE is prisma-enum-swap's finding alone");
      const allowed = await runCli(["deploy", "--allow", "prisma-enum-swap"], { cwd: dir, databaseUrl: t.url });
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.deepEqual((await applied(t)).length, 3);
    } finally {
      await t.drop();
    }
  });
});
