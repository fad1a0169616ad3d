// What deploy, status and resolve read from prisma/migrations: a file's bytes (checksum, encoding,
// byte-order mark) and folders without migration.sql (Prisma's P3015).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { findInvalidUtf8 } from "../../packages/breakwater/src/db/sql-statements.ts";
import { createTestDatabase, runCli, tempProject, type TestDatabase } from "../harness.ts";
import { writeMigrations, type MigrationFiles } from "./deploy-project.ts";

const init: [string, string] = ["20250101000000_init", `CREATE TABLE "Cafe" ("id" SERIAL PRIMARY KEY, "name" TEXT NOT NULL);\n`];
const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

async function inProject(list: MigrationFiles, test: (t: TestDatabase, dir: string) => Promise<void>): Promise<void> {
  const t = await createTestDatabase();
  try {
    const dir = await tempProject();
    await writeMigrations(dir, list);
    await test(t, dir);
  } finally {
    await t.drop();
  }
}

const cafeExists = async (t: TestDatabase) => (await t.db.one<{ ok: boolean }>(`SELECT to_regclass('"Cafe"') IS NOT NULL AS ok`)).ok;
const rowsOf = async (t: TestDatabase) =>
  (await t.db.one<{ ok: boolean }>(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS ok`)).ok ?
    (await t.db.query<{ migration_name: string; checksum: string }>(`SELECT migration_name, checksum FROM "_prisma_migrations" ORDER BY started_at`)).rows
  : [];

describe("breakwater deploy: a file's bytes", () => {
  it("finds the bytes PostgreSQL refuses as UTF-8, and names them as PostgreSQL does", async () => {
    const t = await createTestDatabase();
    try {
      // Latin-1 é, lone continuation, overlong, surrogate, past U+10FFFF, cut at the end, NUL, 5-byte lead, 0xff; then valid text
      const samples = ["61e92729", "6180", "61c0af62", "61eda080", "61f4908080", "61e282", "610062", "61f888808080", "0a0aff41", "61f09f988062", "63616623c3a9"];
      for (const hex of samples) {
        const server = await t.db.query("SELECT convert_from(decode($1, 'hex'), 'UTF8')", [hex]).then(
          () => null,
          (error: Error) => error.message,
        );
        const found = findInvalidUtf8(Buffer.from(hex, "hex"));
        assert.equal(found?.reason.replace(/ at byte offset .*/, "") ?? null, server, hex);
      }
      assert.deepEqual(findInvalidUtf8(Buffer.from("0a0aff41", "hex")), {
        offset: 2,
        line: 3,
        reason: `invalid byte sequence for encoding "UTF8": 0xff at byte offset 2 (line 3)`,
      });
    } finally {
      await t.drop();
    }
  });

  const latin1 = Buffer.from(`-- one row\nINSERT INTO "Cafe" ("name") VALUES ('café');\n`, "latin1");

  it("refuses a file that is not UTF-8 before anything runs, as PostgreSQL would, with its byte offset and line", async () => {
    await inProject([init, ["20250102000000_latin1", latin1]], async (t, dir) => {
      const result = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 8, result.stderr);
      const offset = latin1.indexOf(0xe9);
      assert.match(
        result.stderr,
        new RegExp(`20250102000000_latin1/migration\\.sql: invalid byte sequence for encoding "UTF8": 0xe9 0x27 0x29 at byte offset ${offset} \\(line 2\\)`),
      );
      assert.equal(await cafeExists(t), false, "not even the valid file before it ran");
      assert.deepEqual(await rowsOf(t), []);
      const dry = await runCli(["deploy", "--dry-run"], { cwd: dir, databaseUrl: t.url });
      assert.equal(dry.code, 8, dry.stderr);
    });
  });

  it("records the sha256 of the file's bytes, and status compares bytes", async () => {
    await inProject([init, ["20250102000000_latin1", latin1]], async (t, dir) => {
      const status = JSON.parse((await runCli(["migrate", "status", "--json"], { cwd: dir, databaseUrl: t.url })).stdout);
      assert.deepEqual(status.refused, [
        { migration: "20250102000000_latin1", reason: `invalid byte sequence for encoding "UTF8": 0xe9 0x27 0x29 at byte offset ${latin1.indexOf(0xe9)} (line 2)` },
      ]);
      const resolved = await runCli(["migrate", "resolve", "--applied", "20250102000000_latin1"], { cwd: dir, databaseUrl: t.url });
      assert.equal(resolved.code, 0, resolved.stderr);
      const rows = await rowsOf(t);
      assert.deepEqual(rows, [{ migration_name: "20250102000000_latin1", checksum: sha256(latin1) }]);
      const after = JSON.parse((await runCli(["migrate", "status", "--json"], { cwd: dir, databaseUrl: t.url })).stdout);
      assert.deepEqual([after.applied, after.edited, after.refused], [["20250102000000_latin1"], [], []]);
    });
  });

  it("runs a file that starts with a UTF-8 byte-order mark without the mark (as psql does); the checksum covers every byte", async () => {
    const withMark = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`CREATE TABLE "Menu" ("dish" TEXT NOT NULL);\nINSERT INTO "Menu" VALUES ('crème brûlée');\n`)]);
    await inProject([["20250101000000_bom", withMark]], async (t, dir) => {
      const result = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /20250101000000_bom: starts with a UTF-8 byte-order mark/);
      assert.deepEqual((await t.db.query(`SELECT "dish" FROM "Menu"`)).rows, [{ dish: "crème brûlée" }]);
      assert.deepEqual(await rowsOf(t), [{ migration_name: "20250101000000_bom", checksum: sha256(withMark) }]);
    });
  });

  it("status accepts Prisma's line-ending variants of the bytes (CRLF → LF, LF → CRLF) and nothing else", async () => {
    const lf = `CREATE TABLE "Menu" ("dish" TEXT NOT NULL);\nINSERT INTO "Menu" VALUES ('crème');\n`;
    await inProject([["20250101000000_menu", lf]], async (t, dir) => {
      assert.equal((await runCli(["deploy"], { cwd: dir, databaseUrl: t.url })).code, 0);
      const file = path.join(dir, "prisma", "migrations", "20250101000000_menu", "migration.sql");
      const edited = async () => JSON.parse((await runCli(["migrate", "status", "--json"], { cwd: dir, databaseUrl: t.url })).stdout).edited;
      await writeFile(file, lf.replaceAll("\n", "\r\n"));
      assert.deepEqual(await edited(), []);
      await writeFile(file, Buffer.from(lf, "latin1"));
      assert.deepEqual(await edited(), ["20250101000000_menu"], "same text, other bytes");
    });
  });
});

describe("breakwater deploy, status, resolve: a folder without migration.sql (Prisma's P3015)", () => {
  const p3015 = (name: string) =>
    new RegExp(`Could not find the migration file at \\S*${name}/migration\\.sql\\. Please delete the directory or restore the migration file\\. \\[P3015\\]`);

  it("deploy refuses a pending one before applying anything (exit 17)", async () => {
    await inProject([init, ["20250102000000_empty", null], ["20250103000000_next", `ALTER TABLE "Cafe" ADD COLUMN "city" TEXT;\n`]], async (t, dir) => {
      for (const args of [["deploy"], ["deploy", "--dry-run"]]) {
        const result = await runCli(args, { cwd: dir, databaseUrl: t.url });
        assert.equal(result.code, 17, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, p3015("20250102000000_empty"));
      }
      assert.equal(await cafeExists(t), false);
      assert.deepEqual(await rowsOf(t), []);
      const status = await runCli(["migrate", "status", "--json"], { cwd: dir, databaseUrl: t.url });
      const parsed = JSON.parse(status.stdout);
      assert.deepEqual(parsed.pending, ["20250101000000_init", "20250102000000_empty", "20250103000000_next"], "status lists it, as Prisma's does");
      assert.deepEqual(parsed.refused, [{ migration: "20250102000000_empty", reason: "no migration.sql (P3015)" }]);
    });
  });

  it("as Prisma: deploy goes on past an applied folder whose file is gone; status fails with P3015", async () => {
    await inProject([init, ["20250102000000_city", `ALTER TABLE "Cafe" ADD COLUMN "city" TEXT;\n`]], async (t, dir) => {
      assert.equal((await runCli(["deploy"], { cwd: dir, databaseUrl: t.url })).code, 0);
      await rm(path.join(dir, "prisma", "migrations", "20250102000000_city", "migration.sql"));
      await writeMigrations(dir, [["20250103000000_zip", `ALTER TABLE "Cafe" ADD COLUMN "zip" TEXT;\n`]]);
      const deployed = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
      assert.equal(deployed.code, 0, deployed.stderr);
      assert.match(deployed.stdout, /Applied 1 migration\(s\):\n {2}20250103000000_zip/);
      const status = await runCli(["migrate", "status"], { cwd: dir, databaseUrl: t.url });
      assert.equal(status.code, 17, status.stderr);
      assert.match(status.stderr, p3015("20250102000000_city"));
    });
  });

  it("resolve --applied answers P3017 for it (as Prisma); resolve --rolled-back reads no file", async () => {
    await inProject([init, ["20250102000000_empty", null]], async (t, dir) => {
      const applied = await runCli(["migrate", "resolve", "--applied", "20250102000000_empty"], { cwd: dir, databaseUrl: t.url });
      assert.equal(applied.code, 17);
      assert.match(applied.stderr, /The migration 20250102000000_empty could not be found[\s\S]*\[P3017\]/);
      const rolledBack = await runCli(["migrate", "resolve", "--rolled-back", "20250102000000_empty"], { cwd: dir, databaseUrl: t.url });
      assert.match(rolledBack.stderr, /\[P3011\]/, "never applied: Prisma's answer, not P3015");
    });
  });
});
