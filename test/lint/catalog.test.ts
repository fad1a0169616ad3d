// Catalog mode against a real server: what readCatalog reads (read-only), and how it turns a
// finding into a number or clears it on an empty table.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { connectForCatalog, describeSize, isEmpty, readCatalog } from "../../packages/breakwater/src/lint/catalog.ts";
import { lint } from "../../packages/breakwater/src/lint/engine.ts";
import { allRules } from "../../packages/breakwater/src/lint/rules/index.ts";
import { readLintFile } from "../../packages/breakwater/src/lint/source.ts";
import { createTestDatabase, runCli, tempProject, type TestDatabase } from "../harness.ts";

describe("catalog mode", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN', 'GUEST')`);
    await t.db.query(`CREATE TABLE "Empty" (id int PRIMARY KEY, name text)`);
    await t.db.query(`CREATE TABLE "Big" (id int PRIMARY KEY, name text, role "Role")`);
    await t.db.query(`INSERT INTO "Big" SELECT g, 'n' || g, 'USER' FROM generate_series(1, 100000) g`);
    await t.db.query(`CREATE SCHEMA app`);
    await t.db.query(`CREATE TABLE app."Big" (id int PRIMARY KEY, name text)`);
    await t.db.query(`INSERT INTO app."Big" SELECT g, 'n' || g FROM generate_series(1, 10) g`);
    await t.db.query(`ANALYZE app."Big"`);
  });
  after(() => t.drop());

  const file = (sql: string) => readLintFile("migration.sql", sql, "prisma");

  it("reads the server version, the tables the files mention, their sizes, columns and the enums' labels", async () => {
    const files = [await file(`ALTER TABLE "Big" ALTER COLUMN "name" SET NOT NULL;\nDROP TABLE "Empty";\nCREATE TABLE "New" (id int);\n`)];
    const catalog = await readCatalog(t.db, files);
    const { version } = await t.db.one<{ version: number }>("SELECT current_setting('server_version_num')::int AS version");
    assert.equal(catalog.serverVersion, version);
    // Never analyzed (reltuples -1): a bounded count gives the number.
    const big = catalog.table(null, "Big")!;
    assert.equal(big.schema, "public");
    assert.equal(big.rowEstimate, 100000);
    assert.equal(big.hasRows, true);
    assert.ok(big.totalBytes > 1024 * 1024, `${big.totalBytes} bytes`);
    assert.deepEqual(
      big.columns!.map((c) => c.name),
      ["id", "name", "role"],
    );
    assert.equal(catalog.table("public", "Big"), big);
    assert.equal(catalog.table(null, "Empty")!.hasRows, false);
    assert.equal(catalog.table(null, "New"), null, "a table the files create is not in the database");
    assert.deepEqual(catalog.enumLabels!(null, "Role"), ["USER", "ADMIN", "GUEST"]);
    assert.equal(catalog.enumLabels!(null, "Nope"), null);
    assert.match(describeSize({ catalog }, null, "Big")!, /^~100,000 rows, \d+(\.\d)? MB$/);
    assert.equal(isEmpty({ catalog }, null, "Empty"), true);
    assert.equal(isEmpty({ catalog }, null, "Big"), false);
    assert.equal(isEmpty({ catalog }, null, "Missing"), null);
    assert.equal(isEmpty({ catalog: null }, null, "Big"), null);
  });

  it("resolves unqualified names with Prisma's ?schema=, and changes nothing in the database", async () => {
    const db = await connectForCatalog(`${t.url}${t.url.includes("?") ? "&" : "?"}schema=app`);
    try {
      const catalog = await readCatalog(db, [await file(`ALTER TABLE "Big" ADD COLUMN x int;\n`)]);
      const big = catalog.table(null, "Big")!;
      assert.equal(big.schema, "app");
      assert.equal(big.rowEstimate, 10, "the analyzed estimate");
      assert.equal(describeSize({ catalog }, null, "Big")!.startsWith("~10 rows, "), true);
      // Its timeouts were SET LOCAL to the read-only transaction, which has ended.
      assert.equal((await db.one<{ t: string }>("SELECT current_setting('statement_timeout') AS t")).t, "0");
      assert.equal((await db.one<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro")).ro, "off");
    } finally {
      await db.close();
    }
  });

  it("names the removed enum value of Prisma's swap from the live type", async () => {
    const swap = `BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "Big" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
COMMIT;
`;
    const files = [await file(swap)];
    const findings = await lint(files, { rules: allRules, catalog: await readCatalog(t.db, files) });
    const finding = findings.find((f) => f.rule === "prisma-enum-swap")!;
    assert.match(finding.message, /rewrites "Big" \(~100,000 rows, [\d.]+ MB\) under ACCESS EXCLUSIVE/);
    assert.match(finding.message, /still holds 'GUEST', removed from "Role"/);
  });

  it("the same SET NOT NULL is clean on an empty table and an error, with the row count, on 100,000 rows", async () => {
    const sql = (table: string) => `ALTER TABLE "${table}" ALTER COLUMN "name" SET NOT NULL;\n`;
    const run = async (table: string) => {
      const files = [await file(sql(table))];
      return (await lint(files, { rules: allRules, catalog: await readCatalog(t.db, files) })).filter((f) => f.rule === "set-not-null");
    };
    assert.deepEqual(await run("Empty"), []);
    const [finding, ...rest] = await run("Big");
    assert.equal(rest.length, 0);
    assert.equal(finding!.severity, "error");
    assert.match(finding!.message, /100,000 rows/);
  });

  it("breakwater lint --database-url reads the catalog; an unreachable database leaves the files linted alone", async () => {
    const dir = await tempProject();
    await writeFile(path.join(dir, "m.sql"), `ALTER TABLE "Empty" ALTER COLUMN "name" SET NOT NULL;\nALTER TABLE "Big" ALTER COLUMN "name" SET NOT NULL;\n`);
    const live = await runCli(["lint", "m.sql", "--format", "json", "--database-url", t.url], { cwd: dir });
    assert.equal(live.code, 1, live.stderr);
    const findings = (JSON.parse(live.stdout) as { findings: { rule: string; line: number; message: string }[] }).findings.filter((f) => f.rule === "set-not-null");
    assert.deepEqual(
      findings.map((f) => f.line),
      [2],
      "only the table with rows",
    );
    assert.match(findings[0]!.message, /100,000 rows/);
    const unreachable = await runCli(["lint", "m.sql", "--format", "json", "--database-url", "postgres://nobody@127.0.0.1:1/none"], { cwd: dir });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /linting without its catalog/);
    assert.equal((JSON.parse(unreachable.stdout) as { findings: { rule: string }[] }).findings.filter((f) => f.rule === "set-not-null").length, 2);
  });
});
