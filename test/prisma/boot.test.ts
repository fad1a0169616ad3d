import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../packages/breakwater/src/db/embedded.ts";
import { createTestDatabase, runCli, tempProject, type TestDatabase } from "../harness.ts";

// Seed 004's constraints, written to be re-runnable.
const constraints = `
-- Singleton: only one superadmin
CREATE UNIQUE INDEX IF NOT EXISTS single_superadmin ON users (platform_role) WHERE platform_role = 'superadmin';
-- Polymorphic grant: exactly one target per row
ALTER TABLE project_grants ADD CONSTRAINT grant_one_target CHECK ((user_id IS NOT NULL)::int + (group_id IS NOT NULL)::int = 1);
CREATE OR REPLACE FUNCTION grant_count(u integer) RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM project_grants WHERE user_id = u; $$;
`;

async function project(extraConstraints = ""): Promise<string> {
  const dir = await tempProject();
  const m = path.join(dir, "prisma", "migrations", "20250101000000_init");
  await mkdir(m, { recursive: true });
  await writeFile(
    path.join(m, "migration.sql"),
    `CREATE TABLE users (id SERIAL PRIMARY KEY, platform_role TEXT NOT NULL DEFAULT 'none');\nCREATE TABLE project_grants (id SERIAL PRIMARY KEY, user_id INTEGER, group_id INTEGER);\n`,
  );
  await writeFile(path.join(dir, "prisma", "constraints.sql"), constraints + extraConstraints);
  return dir;
}

async function fingerprint(t: TestDatabase): Promise<string> {
  const row = await t.db.one<{ f: string }>(`
    SELECT concat_ws('|',
      (SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY 1) FROM pg_index WHERE indrelid IN ('users'::regclass, 'project_grants'::regclass)),
      (SELECT string_agg(conname || ':' || xmin::text, ',' ORDER BY 1) FROM pg_constraint WHERE conrelid = 'project_grants'::regclass),
      (SELECT string_agg(proname || ':' || md5(prosrc), ',') FROM pg_proc WHERE proname = 'grant_count'),
      (SELECT count(*)::text FROM "_prisma_migrations")) AS f`);
  return row.f;
}

describe("breakwater boot", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.drop());

  it("deploys and applies the constraints, and a second boot changes nothing", async () => {
    const dir = await project();
    const first = await runCli(["boot"], { cwd: dir, databaseUrl: t.url });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Applied 1 migration\(s\)/);
    assert.match(first.stdout, /Constraints: 3 changed, 0 unchanged/);
    await t.db.query(`INSERT INTO users (platform_role) VALUES ('superadmin')`);
    await assert.rejects(t.db.query(`INSERT INTO users (platform_role) VALUES ('superadmin')`), /single_superadmin/);
    await assert.rejects(t.db.query(`INSERT INTO project_grants (user_id, group_id) VALUES (1, 1)`), /grant_one_target/);
    const before = await fingerprint(t);
    const second = await runCli(["boot"], { cwd: dir, databaseUrl: t.url });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /No pending migrations\./);
    assert.match(second.stdout, /Constraints: 0 changed, 3 unchanged/);
    assert.equal(await fingerprint(t), before);
  });

  it("refuses a constraints statement that is not re-runnable, before running any", async () => {
    const dir = await project(`CREATE INDEX not_safe ON users (id);\n`);
    const result = await runCli(["boot"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /constraints statement 4 .* is not re-runnable: write CREATE INDEX IF NOT EXISTS/);
    const index = await t.db.one<{ ok: boolean }>(`SELECT to_regclass('not_safe') IS NULL AS ok`);
    assert.ok(index.ok);
  });

  it("refuses a pending folder without migration.sql (P3015) before deploying or applying constraints", async () => {
    const other = await createTestDatabase();
    try {
      const dir = await project();
      await mkdir(path.join(dir, "prisma", "migrations", "20250102000000_empty"));
      const result = await runCli(["boot"], { cwd: dir, databaseUrl: other.url });
      assert.equal(result.code, 17, result.stderr);
      assert.match(
        result.stderr,
        /Could not find the migration file at \S*20250102000000_empty\/migration\.sql\. Please delete the directory or restore the migration file\. \[P3015\]/,
      );
      const nothing = await other.db.one<{ ok: boolean }>(`SELECT to_regclass('users') IS NULL AS ok`);
      assert.ok(nothing.ok, "the pending migration before it did not run");
    } finally {
      await other.drop();
    }
  });

  it("refuses a constraints file that is not UTF-8 before running any of it", async () => {
    const other = await createTestDatabase();
    try {
      const dir = await project();
      const text = `${constraints}COMMENT ON TABLE users IS 'café';\n`;
      await writeFile(path.join(dir, "prisma", "constraints.sql"), Buffer.from(text, "latin1"));
      const result = await runCli(["boot"], { cwd: dir, databaseUrl: other.url });
      assert.equal(result.code, 8, result.stderr);
      const line = text.slice(0, text.indexOf("é")).split("\n").length;
      assert.match(
        result.stderr,
        new RegExp(`constraints\\.sql: invalid byte sequence for encoding "UTF8": 0xe9 0x27 0x3b at byte offset ${text.indexOf("é")} \\(line ${line}\\)`),
      );
      const index = await other.db.one<{ ok: boolean }>(`SELECT to_regclass('single_superadmin') IS NULL AS ok`);
      assert.ok(index.ok, "no statement of the file ran");
    } finally {
      await other.drop();
    }
  });

  it("exits non-zero with a clear message when the database stays unreachable", async () => {
    const dir = await project();
    const port = await freePort();
    const start = Date.now();
    const result = await runCli(["boot", "--wait", "2"], { cwd: dir, databaseUrl: `postgres://app:secret-pw@127.0.0.1:${port}/app` });
    assert.equal(result.code, 6);
    assert.match(result.stderr, new RegExp(`The database at 127\\.0\\.0\\.1:${port}/app was still unreachable after 2 s`));
    assert.ok(!result.stderr.includes("secret-pw"), "no password in the message");
    assert.ok(Date.now() - start < 15_000);
  });
});
