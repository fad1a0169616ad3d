// The generic PostgreSQL rules: each on a file that fires and on its safe rewrite that does not;
// where a rule claims something of the server (a rewrite, an error), the claim is checked on a real one.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { lint } from "../../packages/breakwater/src/lint/engine.ts";
import { binaryCoercible } from "../../packages/breakwater/src/lint/rules/alter-column-type.ts";
import { genericRules } from "../../packages/breakwater/src/lint/rules/index.ts";
import { readLintFile } from "../../packages/breakwater/src/lint/source.ts";
import type { Finding, Runner } from "../../packages/breakwater/src/lint/types.ts";
import { attempt, createTestDatabase, type TestDatabase } from "../harness.ts";

async function findings(sql: string, runner: Runner = "sql", serverVersion?: number): Promise<Finding[]> {
  const file = await readLintFile("migration.sql", sql, runner);
  return lint([file], { rules: genericRules, serverVersion });
}

const rulesOf = async (sql: string, runner: Runner = "sql") => [...new Set((await findings(sql, runner)).map((f) => f.rule))].sort();

/** Each rule: SQL that fires it, and its safe rewrite (which must not fire it). */
const cases: { rule: string; fires: string; safe: string; runner?: Runner }[] = [
  { rule: "index-not-concurrent", fires: `CREATE INDEX "t_a_idx" ON "t" ("a");`, safe: `CREATE INDEX CONCURRENTLY "t_a_idx" ON "t" ("a");` },
  { rule: "concurrently-in-transaction", fires: `BEGIN;\nCREATE INDEX CONCURRENTLY "t_a_idx" ON "t" ("a");\nCOMMIT;`, safe: `CREATE INDEX CONCURRENTLY "t_a_idx" ON "t" ("a");` },
  {
    rule: "concurrently-in-prisma-file",
    runner: "prisma",
    fires: `SET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY "t_a_idx" ON "t" ("a");`,
    safe: `CREATE INDEX CONCURRENTLY "t_a_idx" ON "t" ("a");`,
  },
  {
    rule: "foreign-key-not-valid",
    fires: `ALTER TABLE "t" ADD CONSTRAINT "t_u_fkey" FOREIGN KEY ("u") REFERENCES "u" ("id");`,
    safe: `ALTER TABLE "t" ADD CONSTRAINT "t_u_fkey" FOREIGN KEY ("u") REFERENCES "u" ("id") NOT VALID;\nALTER TABLE "t" VALIDATE CONSTRAINT "t_u_fkey";`,
  },
  {
    rule: "check-not-valid",
    fires: `ALTER TABLE "t" ADD CONSTRAINT "t_a_check" CHECK ("a" > 0);`,
    safe: `ALTER TABLE "t" ADD CONSTRAINT "t_a_check" CHECK ("a" > 0) NOT VALID;\nALTER TABLE "t" VALIDATE CONSTRAINT "t_a_check";`,
  },
  {
    rule: "set-not-null",
    fires: `ALTER TABLE "t" ALTER COLUMN "a" SET NOT NULL;`,
    safe: `ALTER TABLE "t" ADD CONSTRAINT "t_a_not_null" CHECK ("a" IS NOT NULL) NOT VALID;\nALTER TABLE "t" VALIDATE CONSTRAINT "t_a_not_null";`,
  },
  {
    rule: "add-column-volatile-default",
    fires: `ALTER TABLE "t" ADD COLUMN "k" uuid DEFAULT gen_random_uuid();`,
    safe: `ALTER TABLE "t" ADD COLUMN "at" timestamptz DEFAULT now();`,
  },
  { rule: "add-column-not-null", fires: `ALTER TABLE "t" ADD COLUMN "n" integer NOT NULL;`, safe: `ALTER TABLE "t" ADD COLUMN "n" integer NOT NULL DEFAULT 0;` },
  { rule: "add-column-rewrite", fires: `ALTER TABLE "t" ADD COLUMN "s" bigserial;`, safe: `ALTER TABLE "t" ADD COLUMN "s" bigint;` },
  { rule: "add-column-rewrite", fires: `ALTER TABLE "t" ADD COLUMN "s" int GENERATED ALWAYS AS IDENTITY;`, safe: `ALTER TABLE "t" ADD COLUMN "s" int;` },
  { rule: "alter-column-type", fires: `ALTER TABLE "t" ALTER COLUMN "a" TYPE bigint;`, safe: `ALTER TABLE "t" ADD COLUMN "a_new" bigint;` },
  {
    rule: "unique-without-index",
    fires: `ALTER TABLE "t" ADD CONSTRAINT "t_a_key" UNIQUE ("a");`,
    safe: `CREATE UNIQUE INDEX CONCURRENTLY "t_a_key" ON "t" ("a");\nALTER TABLE "t" ADD CONSTRAINT "t_a_key" UNIQUE USING INDEX "t_a_key";`,
  },
  {
    rule: "unique-without-index",
    fires: `ALTER TABLE "t" ADD PRIMARY KEY ("a");`,
    safe: `CREATE UNIQUE INDEX CONCURRENTLY "t_pkey" ON "t" ("a");\nALTER TABLE "t" ADD CONSTRAINT "t_pkey" PRIMARY KEY USING INDEX "t_pkey";`,
  },
  { rule: "drop-column", fires: `ALTER TABLE "t" DROP COLUMN "a";`, safe: `CREATE TABLE "n" ("a" int);\nALTER TABLE "n" DROP COLUMN "a";` },
  { rule: "drop-table", fires: `DROP TABLE "t";`, safe: `CREATE TABLE "n" ("a" int);\nDROP TABLE "n";` },
  { rule: "rename-column", fires: `ALTER TABLE "t" RENAME COLUMN "a" TO "b";`, safe: `CREATE TABLE "n" ("a" int);\nALTER TABLE "n" RENAME COLUMN "a" TO "b";` },
  { rule: "rename-table", fires: `ALTER TABLE "t" RENAME TO "t2";`, safe: `CREATE TABLE "n" ("a" int);\nALTER TABLE "n" RENAME TO "n2";` },
  { rule: "missing-lock-timeout", fires: `ALTER TABLE "t" DROP COLUMN "a";`, safe: `SET lock_timeout = '5s';\nALTER TABLE "t" DROP COLUMN "a";` },
  { rule: "vacuum-full", fires: `VACUUM FULL "t";`, safe: `VACUUM "t";` },
  { rule: "cluster", fires: `CLUSTER "t" USING "t_a_idx";`, safe: `CREATE TABLE "n" ("a" int);\nCREATE INDEX "n_a" ON "n" ("a");\nCLUSTER "n" USING "n_a";` },
  { rule: "reindex-not-concurrent", fires: `REINDEX TABLE "t";`, safe: `REINDEX TABLE CONCURRENTLY "t";` },
  { rule: "truncate", fires: `TRUNCATE "t";`, safe: `CREATE TABLE "n" ("a" int);\nTRUNCATE "n";` },
  { rule: "prefer-jsonb", fires: `CREATE TABLE "n" ("doc" json);`, safe: `CREATE TABLE "n" ("doc" jsonb);` },
  { rule: "drop-index-not-concurrent", fires: `DROP INDEX "t_a_idx";`, safe: `DROP INDEX CONCURRENTLY "t_a_idx";` },
  { rule: "unbatched-update", fires: `UPDATE "t" SET "a" = 0;`, safe: `UPDATE "t" SET "a" = 0 WHERE "a" IS NULL AND "id" BETWEEN 1 AND 1000;` },
  { rule: "unbatched-update", fires: `DELETE FROM "t";`, safe: `DELETE FROM "t" WHERE "id" = 1;` },
  { rule: "lock-table", fires: `LOCK TABLE "t" IN ACCESS EXCLUSIVE MODE;`, safe: `LOCK TABLE "t" IN ACCESS SHARE MODE;` },
];

describe("generic rules: fires, and its safe rewrite does not", () => {
  for (const c of cases) {
    it(`${c.rule}: ${c.fires.split("\n").at(-1)}`, async () => {
      assert.ok((await rulesOf(c.fires, c.runner)).includes(c.rule), `expected ${c.rule} on:\n${c.fires}`);
      assert.ok(!(await rulesOf(c.safe, c.runner)).includes(c.rule), `expected no ${c.rule} on:\n${c.safe}`);
    });
  }

  it("never flags a table created earlier in the run, schema-qualified or not", async () => {
    const first = await readLintFile("1/migration.sql", `CREATE TABLE "app"."n" ("a" int);`, "prisma");
    const second = await readLintFile(
      "2/migration.sql",
      `CREATE INDEX "n_a" ON "n" ("a");\nALTER TABLE "app"."n" ALTER COLUMN "a" SET NOT NULL;\nALTER TABLE "n" ADD CONSTRAINT "c" CHECK ("a" > 0);`,
      "prisma",
    );
    assert.deepEqual(await lint([first, second], { rules: genericRules }), []);
  });

  it("gives Prisma's own BEGIN and COMMIT no finding", async () => {
    const list = await findings(`-- AlterEnum\nBEGIN;\nCREATE TYPE "Role_new" AS ENUM ('USER');\nCOMMIT;\n`, "prisma");
    assert.deepEqual(list, []);
  });

  it("reports each finding at the statement's 1-based line and column, with a rewrite that quotes identifiers", async () => {
    const [finding] = await findings(`SET lock_timeout = '1s';\n\n  ALTER TABLE "My ""odd"" t" ALTER COLUMN "a" SET NOT NULL;\n`);
    assert.equal(finding?.rule, "set-not-null");
    assert.deepEqual([finding.line, finding.column], [3, 3]);
    assert.match(finding.fix, /ALTER TABLE "My ""odd"" t" VALIDATE CONSTRAINT/);
  });

  it("knows PostgreSQL's binary-coercible type changes", async () => {
    const type = async (sql: string) => {
      const file = await readLintFile("x.sql", `ALTER TABLE t ALTER COLUMN a TYPE ${sql}`, "sql");
      return (file.statements[0]!.node.cmds as { AlterTableCmd: { def: { ColumnDef: { typeName: never } } } }[])[0]!.AlterTableCmd.def.ColumnDef.typeName;
    };
    const pairs: [string, string, boolean][] = [
      ["varchar(10)", "varchar(20)", true],
      ["varchar(20)", "varchar(10)", false],
      ["varchar(10)", "text", true],
      ["text", "varchar", true],
      ["text", "varchar(10)", false],
      ["numeric(10,2)", "numeric(12,2)", true],
      ["numeric(10,2)", "numeric(12,3)", false],
      ["numeric(10,2)", "numeric", true],
      ["timestamp(3)", "timestamp(6)", true],
      ["int", "bigint", false],
    ];
    for (const [from, to, expected] of pairs) assert.equal(binaryCoercible(await type(from), await type(to)), expected, `${from} → ${to}`);
  });

  it("warns rather than errs on a type change that may only widen", async () => {
    const [finding] = await findings(`SET lock_timeout = '1s'; ALTER TABLE "t" ALTER COLUMN "a" TYPE varchar(200);`);
    assert.deepEqual([finding?.rule, finding?.severity], ["alter-column-type", "warning"]);
  });
});

describe("generic rules: what they claim of PostgreSQL", () => {
  let t: TestDatabase;
  const relfilenode = async () => (await t.db.one<{ n: string }>(`SELECT relfilenode::text AS n FROM pg_class WHERE oid = '"t"'::regclass`)).n;

  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE "u" ("id" int PRIMARY KEY); INSERT INTO "u" VALUES (1)`);
    await t.db.query(
      `CREATE TABLE "t" ("id" serial PRIMARY KEY, "a" int, "v" varchar(10), "p" numeric(10,2), "u" int); INSERT INTO "t" ("a", "v", "p", "u") SELECT g, 'x', 1, 1 FROM generate_series(1, 100) g`,
    );
  });
  after(async () => t.drop());

  it("CONCURRENTLY in a multi-statement query (as Prisma sends migration.sql) fails with 25001, alone it runs", async () => {
    const error = await attempt(t.db, `SET lock_timeout = '5s'; CREATE INDEX CONCURRENTLY "t_a_idx" ON "t" ("a");`);
    assert.equal(error?.code, "25001");
    assert.equal(await attempt(t.db, `CREATE INDEX CONCURRENTLY "t_a_idx" ON "t" ("a")`), null);
    assert.equal(await attempt(t.db, `DROP INDEX CONCURRENTLY "t_a_idx"`), null);
  });

  it("a volatile default rewrites the table, now() does not", async () => {
    const before = await relfilenode();
    await t.db.query(`ALTER TABLE "t" ADD COLUMN "at" timestamptz DEFAULT now()`);
    assert.equal(await relfilenode(), before);
    await t.db.query(`ALTER TABLE "t" ADD COLUMN "k" uuid DEFAULT gen_random_uuid()`);
    assert.notEqual(await relfilenode(), before);
  });

  it("ADD COLUMN NOT NULL without a default fails on a table with rows (23502)", async () => {
    assert.equal((await attempt(t.db, `ALTER TABLE "t" ADD COLUMN "n" integer NOT NULL`))?.code, "23502");
    assert.equal(await attempt(t.db, `ALTER TABLE "t" ADD COLUMN "n" integer NOT NULL DEFAULT 0`), null);
  });

  it("binary-coercible type changes keep the table's file, others rewrite it", async () => {
    let before = await relfilenode();
    await t.db.query(`ALTER TABLE "t" ALTER COLUMN "v" TYPE varchar(20)`);
    await t.db.query(`ALTER TABLE "t" ALTER COLUMN "v" TYPE text`);
    await t.db.query(`ALTER TABLE "t" ALTER COLUMN "p" TYPE numeric(12,2)`);
    assert.equal(await relfilenode(), before);
    before = await relfilenode();
    await t.db.query(`ALTER TABLE "t" ALTER COLUMN "a" TYPE bigint`);
    assert.notEqual(await relfilenode(), before);
  });

  it("a serial column added to a table with rows rewrites it", async () => {
    const before = await relfilenode();
    await t.db.query(`ALTER TABLE "t" ADD COLUMN "s" bigserial`);
    assert.notEqual(await relfilenode(), before);
  });

  it("the safe rewrites the rules suggest run on the server", async () => {
    for (const c of cases.filter((c) => ["foreign-key-not-valid", "check-not-valid", "set-not-null", "unique-without-index"].includes(c.rule) && !c.safe.includes("PRIMARY KEY"))) {
      for (const statement of c.safe.split(";\n")) assert.equal(await attempt(t.db, statement.replace(/;$/, "")), null, statement);
    }
    const [finding] = await findings(`SET lock_timeout = '1s'; ALTER TABLE "t" ALTER COLUMN "id" SET NOT NULL;`);
    await t.db.query(`ALTER TABLE "t" ALTER COLUMN "a" DROP NOT NULL`).catch(() => undefined);
    for (const statement of finding!.fix.split("\n").filter((l) => l.startsWith("ALTER"))) assert.equal(await attempt(t.db, statement.replace(/;$/, "")), null, statement);
  });
});
