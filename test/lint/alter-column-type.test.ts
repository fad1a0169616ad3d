// alter-column-type with the old type known, from the live catalog or from the run: each verdict
// (no finding, a warning, an error) is checked on a real PostgreSQL by whether the ALTER gave the
// table a new file (pg_class.relfilenode) and rebuilt the index on the column.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { quoteIdent } from "../../packages/breakwater/src/db/quote.ts";
import { connectForCatalog, readCatalog } from "../../packages/breakwater/src/lint/catalog.ts";
import { lint } from "../../packages/breakwater/src/lint/engine.ts";
import { allRules } from "../../packages/breakwater/src/lint/rules/index.ts";
import { readLintFile } from "../../packages/breakwater/src/lint/source.ts";
import type { CatalogFacts, Finding } from "../../packages/breakwater/src/lint/types.ts";
import { createTestDatabase, runCli, tempProject, type TestDatabase } from "../harness.ts";

/** none: no finding; reindex: a warning that the indexes are rebuilt; utc: a warning naming the TimeZone; rewrite: an error. */
type Verdict = "none" | "reindex" | "utc" | "rewrite" | "hedged";

function verdictOf(findings: Finding[]): Verdict {
  const mine = findings.filter((f) => f.rule === "alter-column-type");
  assert.ok(mine.length <= 1, JSON.stringify(mine));
  const [finding] = mine;
  if (!finding) return "none";
  if (finding.severity === "error") return "rewrite";
  if (/unless the session's TimeZone is UTC/.test(finding.message)) return "utc";
  if (/does not rewrite/.test(finding.message)) return "reindex";
  assert.match(finding.message, /check the old type/);
  return "hedged";
}

async function lintFiles(texts: string[], options: { catalog?: CatalogFacts | null; serverVersion?: number } = {}): Promise<Finding[]> {
  const files = await Promise.all(texts.map((text, at) => readLintFile(`${at + 1}.sql`, text, "sql")));
  return lint(files, { rules: allRules, ...options });
}

/** The change from PostgreSQL's docs or source, and what it does; `$c` in USING is the column. */
const cases: { from: string; to: string; using?: string; verdict: Verdict }[] = [
  { from: "varchar(20)", to: "varchar(50)", verdict: "none" },
  { from: "varchar(50)", to: "varchar(20)", verdict: "rewrite" },
  { from: "varchar(20)", to: "varchar", verdict: "none" },
  { from: "varchar", to: "varchar(20)", verdict: "rewrite" },
  { from: "varchar(20)", to: "text", verdict: "none" },
  { from: "text", to: "varchar(20)", verdict: "rewrite" },
  { from: "text", to: "varchar", verdict: "none" },
  { from: "numeric(10,2)", to: "numeric(12,2)", verdict: "none" },
  { from: "numeric(10,2)", to: "numeric(10,3)", verdict: "rewrite" },
  { from: "numeric(10,2)", to: "numeric(12,3)", verdict: "rewrite" },
  { from: "numeric(10,2)", to: "numeric", verdict: "none" },
  { from: "numeric", to: "numeric(10,2)", verdict: "rewrite" },
  { from: "numeric(10)", to: "numeric(12,0)", verdict: "none" },
  { from: "integer", to: "bigint", verdict: "rewrite" },
  { from: "bigint", to: "integer", verdict: "rewrite" },
  { from: "integer", to: "int4", verdict: "none" },
  { from: "serial", to: "integer", verdict: "none" },
  { from: "real", to: "double precision", verdict: "rewrite" },
  { from: "timestamp(3)", to: "timestamp(6)", verdict: "none" },
  { from: "timestamp(6)", to: "timestamp(3)", verdict: "rewrite" },
  { from: "timestamp", to: "timestamp(6)", verdict: "none" },
  { from: "timestamp", to: "timestamp(3)", verdict: "rewrite" },
  { from: "timestamptz(3)", to: "timestamptz", verdict: "none" },
  { from: "time(3)", to: "time(6)", verdict: "none" },
  { from: "timetz(6)", to: "timetz(3)", verdict: "rewrite" },
  { from: "interval(3)", to: "interval(6)", verdict: "none" },
  { from: "interval(6)", to: "interval(3)", verdict: "rewrite" },
  { from: "interval day to second(3)", to: "interval(3)", verdict: "none" },
  { from: "interval day", to: "interval hour", verdict: "none" },
  { from: "interval hour", to: "interval day", verdict: "rewrite" },
  { from: "timestamp", to: "timestamptz", verdict: "utc" },
  { from: "timestamptz", to: "timestamp", verdict: "utc" },
  { from: "timestamp(3)", to: "timestamptz(6)", verdict: "utc" },
  { from: "timestamp(3)", to: "timestamptz(3)", verdict: "rewrite" },
  { from: "varbit(5)", to: "varbit(10)", verdict: "none" },
  { from: "varbit(10)", to: "varbit(5)", verdict: "rewrite" },
  { from: "bit(5)", to: "bit(10)", verdict: "rewrite" },
  { from: "bit(5)", to: "varbit", verdict: "reindex" },
  { from: "bit(5)", to: "varbit(10)", verdict: "rewrite" },
  { from: "char(3)", to: "char(5)", verdict: "rewrite" },
  { from: "char(3)", to: "text", verdict: "rewrite" },
  { from: "varchar(20)", to: "bpchar", verdict: "reindex" },
  { from: "text", to: "char(5)", verdict: "rewrite" },
  { from: "cidr", to: "inet", verdict: "none" },
  { from: "integer", to: "oid", verdict: "reindex" },
  { from: "varchar(20)[]", to: "varchar(50)[]", verdict: "rewrite" },
  { from: "varchar(20)[]", to: "varchar[]", verdict: "none" },
  { from: "varchar(20)[]", to: "text[]", verdict: "rewrite" },
  { from: "text[]", to: "text[][]", verdict: "none" },
  { from: "integer[]", to: "bigint[]", verdict: "rewrite" },
  { from: "integer", to: "text[]", using: "ARRAY[$c::text]", verdict: "rewrite" },
  { from: '"Mood"', to: '"Mood"', verdict: "none" },
  { from: '"Mood"', to: "text", verdict: "rewrite" },
  { from: "varchar(20)", to: "varchar(50)", using: "$c", verdict: "none" },
  { from: "varchar(20)", to: "varchar(50)", using: "$c::varchar(50)", verdict: "none" },
  { from: "varchar(20)", to: "varchar(50)", using: "$c::varchar(10)", verdict: "rewrite" },
  { from: "varchar(20)", to: "varchar(50)", using: "$c::text", verdict: "rewrite" },
  { from: "varchar(20)", to: "varchar(50)", using: "$c::varchar", verdict: "rewrite" },
  { from: "varchar(20)", to: "text", using: "$c::text", verdict: "none" },
  { from: "varchar(20)", to: "varchar(50)", using: "lower($c)", verdict: "rewrite" },
  { from: "varchar(20)", to: "varchar(50)", using: "$c || ''", verdict: "rewrite" },
  { from: "varchar(20)", to: "varchar(20)", using: "NULL", verdict: "rewrite" },
  { from: "integer", to: "bigint", using: "$c::bigint", verdict: "rewrite" },
];

/** Whether running `migration` gave the table a new file (a rewrite) and the index on the column a new one (a rebuild). */
async function observe(db: TestDatabase["db"], table: string, index: string, migration: () => Promise<unknown>) {
  const files = () =>
    db.one<{ table: string; index: string }>(
      `SELECT c.relfilenode::text AS table, i.relfilenode::text AS index FROM pg_class c, pg_class i WHERE c.oid = $1::regclass AND i.oid = $2::regclass`,
      [quoteIdent(table), quoteIdent(index)],
    );
  const before = await files();
  await migration();
  const after = await files();
  return { rewritten: after.table !== before.table, reindexed: after.index !== before.index };
}

describe("alter-column-type knows the old type, and PostgreSQL agrees with every verdict", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TYPE "Mood" AS ENUM ('ok', 'meh')`);
  });
  after(() => t.drop());

  /** Runs `alter` in a session on `timeZone`. */
  const inZone = (alter: string, timeZone: string) => () =>
    t.db.transaction(async (tx) => {
      await tx.query(`SET LOCAL TimeZone = '${timeZone}'`);
      await tx.query(alter);
    });

  const expected = (verdict: Verdict, timeZone: string) =>
    verdict === "none" ? { rewritten: false, reindexed: false }
    : verdict === "reindex" ? { rewritten: false, reindexed: true }
    : verdict === "utc" ? { rewritten: timeZone !== "UTC", reindexed: true }
    : { rewritten: true, reindexed: true };

  for (const [at, c] of cases.entries()) {
    const change = `${c.from} → ${c.to}${c.using ? ` USING ${c.using}` : ""}`;
    it(`${change}: ${c.verdict === "none" ? "no finding" : c.verdict}`, async () => {
      const table = `c${at}`;
      const alter = (column: string) =>
        `ALTER TABLE ${quoteIdent(table)} ALTER COLUMN ${quoteIdent(column)} TYPE ${c.to}${c.using ? ` USING ${c.using.replaceAll("$c", quoteIdent(column))}` : ""}`;
      await t.db.query(`CREATE TABLE ${quoteIdent(table)} ("id" int, "a" ${c.from})`);
      await t.db.query(`INSERT INTO ${quoteIdent(table)} ("id") SELECT g FROM generate_series(1, 100) g`);
      await t.db.query(`CREATE INDEX ${quoteIdent(`${table}_a`)} ON ${quoteIdent(table)} ("a")`);

      // The old type from the catalog (column a), and from an ADD COLUMN earlier in the run (column b).
      const fromCatalog = [`${alter("a")};\n`];
      const catalog = await readCatalog(t.db, await Promise.all(fromCatalog.map((text) => readLintFile("1.sql", text, "sql"))));
      assert.equal(verdictOf(await lintFiles(fromCatalog, { catalog })), c.verdict, `${change}, old type from the catalog`);
      const addB = `ALTER TABLE ${quoteIdent(table)} ADD COLUMN "b" ${c.from}`;
      assert.equal(verdictOf(await lintFiles([`${addB};\n`, `${alter("b")};\n`])), c.verdict, `${change}, old type from the run`);

      // PostgreSQL: column a in a UTC session, column b in a session on Europe/Berlin.
      await t.db.query(addB);
      await t.db.query(`CREATE INDEX ${quoteIdent(`${table}_b`)} ON ${quoteIdent(table)} ("b")`);
      assert.deepEqual(await observe(t.db, table, `${table}_a`, inZone(alter("a"), "UTC")), expected(c.verdict, "UTC"), `${change} with TimeZone UTC`);
      assert.deepEqual(
        await observe(t.db, table, `${table}_b`, inZone(alter("b"), "Europe/Berlin")),
        expected(c.verdict, "Europe/Berlin"),
        `${change} with TimeZone Europe/Berlin`,
      );
    });
  }
});

describe("alter-column-type: where the old type comes from", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE "Big" ("id" int PRIMARY KEY, "name" varchar(20), "at" timestamp)`);
    await t.db.query(`INSERT INTO "Big" SELECT g, 'n' || g, now() FROM generate_series(1, 100000) g`);
    await t.db.query(`CREATE SCHEMA app`);
    await t.db.query(`CREATE TYPE app."Status" AS ENUM ('open', 'paid')`);
    await t.db.query(`CREATE TABLE app."Orders" ("id" int, "Total" numeric(10,2), "status" app."Status", "note" varchar(20))`);
    await t.db.query(`INSERT INTO app."Orders" SELECT g, g, 'open', 'x' FROM generate_series(1, 10) g`);
    await t.db.query(`CREATE TABLE "UserProfile" ("displayName" varchar(20), "createdAt" timestamp(3))`);
  });
  after(() => t.drop());

  const withCatalog = async (texts: string[], db = t.db) => {
    const files = await Promise.all(texts.map((text, at) => readLintFile(`${at + 1}.sql`, text, "sql")));
    return (await lint(files, { rules: allRules, catalog: await readCatalog(db, files) })).filter((f) => f.rule === "alter-column-type");
  };

  it("names the old and the new type and the table's size in the error", async () => {
    const [finding, ...rest] = await withCatalog([`ALTER TABLE "Big" ALTER COLUMN "name" TYPE varchar(10);\n`]);
    assert.equal(rest.length, 0);
    assert.equal(finding!.severity, "error");
    assert.equal(finding!.rewrites, true);
    assert.match(finding!.message, /^Changing Big\.name from varchar\(20\) to varchar\(10\) rewrites Big \(~100,000 rows, [\d.]+ MB\) and its indexes under ACCESS EXCLUSIVE\.$/);
    assert.deepEqual(await withCatalog([`ALTER TABLE "Big" ALTER COLUMN "name" TYPE varchar(255);\n`]), []);
  });

  it("takes the run's type over the catalog's: a column the run already widened, then narrowed, rewrites", async () => {
    const findings = await withCatalog([`ALTER TABLE "Big" ALTER COLUMN "name" TYPE varchar(50);\n`, `ALTER TABLE "Big" ALTER COLUMN "name" TYPE varchar(40);\n`]);
    assert.deepEqual(
      findings.map((f) => [f.file, f.severity]),
      [["2.sql", "error"]],
      "the catalog's varchar(20) would make varchar(40) a widening",
    );
    assert.match(findings[0]!.message, /from varchar\(50\) to varchar\(40\)/);
    // A column dropped and added again by the run has the run's type, not the catalog's.
    const readded = await withCatalog([
      `ALTER TABLE "Big" DROP COLUMN "at";\nALTER TABLE "Big" ADD COLUMN "at" timestamptz(3);\n`,
      `ALTER TABLE "Big" ALTER COLUMN "at" TYPE timestamptz(6);\n`,
    ]);
    assert.deepEqual(readded, []);
    // A column the run renamed keeps its type under the new name.
    const renamed = await withCatalog([`ALTER TABLE "Big" RENAME COLUMN "name" TO "label";\n`, `ALTER TABLE "Big" ALTER COLUMN "label" TYPE varchar(10);\n`]);
    assert.match(renamed[0]!.message, /^Changing Big\.label from varchar\(20\) to varchar\(10\) rewrites/);
  });

  it("says nothing of a table the run created, whatever the catalog holds under its name", async () => {
    const findings = await withCatalog([`DROP TABLE "Big";\nCREATE TABLE "Big" ("id" int, "name" text);\n`, `ALTER TABLE "Big" ALTER COLUMN "name" TYPE varchar(10);\n`]);
    assert.deepEqual(findings, []);
  });

  it("keeps the hedged warning when nothing knows the old type: no catalog, a table or a column the catalog does not have", async () => {
    const hedged = async (findings: Promise<Finding[]>) => verdictOf(await findings);
    assert.equal(await hedged(lintFiles([`ALTER TABLE "Big" ALTER COLUMN "name" TYPE varchar(50);\n`])), "hedged");
    assert.equal(await hedged(withCatalog([`ALTER TABLE "Nowhere" ALTER COLUMN "name" TYPE varchar(50);\n`])), "hedged");
    assert.equal(await hedged(withCatalog([`ALTER TABLE "Big" ALTER COLUMN "nickname" TYPE varchar(50);\n`])), "hedged");
    // An ADD COLUMN of another column tells nothing of this one.
    assert.equal(await hedged(lintFiles([`ALTER TABLE "Big" ADD COLUMN "x" int;\n`, `ALTER TABLE "Big" ALTER COLUMN "name" TYPE text;\n`])), "hedged");
    // A target no old type reaches without a rewrite stays an error, as before.
    const [bigint] = (await lintFiles([`ALTER TABLE "Big" ALTER COLUMN "id" TYPE bigint;\n`])).filter((f) => f.rule === "alter-column-type");
    assert.equal(bigint!.severity, "error");
    assert.match(bigint!.message, /^Changing Big\.id to int8 rewrites Big and its indexes/);
  });

  it("reads schema-qualified tables, types in another schema and quoted mixed-case names", async () => {
    assert.deepEqual(
      await withCatalog([`ALTER TABLE "app"."Orders" ALTER COLUMN "Total" TYPE numeric(12,2);\nALTER TABLE "app"."Orders" ALTER COLUMN "status" TYPE "app"."Status";\n`]),
      [],
    );
    const [scale] = await withCatalog([`ALTER TABLE "app"."Orders" ALTER COLUMN "Total" TYPE numeric(12,3);\n`]);
    assert.match(scale!.message, /^Changing app\.Orders\.Total from numeric\(10,2\) to numeric\(12,3\) rewrites app\.Orders \(~10 rows, [\d.]+ kB\)/);
    const [status] = await withCatalog([`ALTER TABLE app."Orders" ALTER COLUMN "status" TYPE text;\n`]);
    assert.match(status!.message, /from app\."Status" to text rewrites/);
    // Prisma's ?schema=app: the unqualified name is app's table.
    const db = await connectForCatalog(`${t.url}${t.url.includes("?") ? "&" : "?"}schema=app`);
    try {
      assert.deepEqual(await withCatalog([`ALTER TABLE "Orders" ALTER COLUMN "note" TYPE text;\n`], db), []);
      const [note] = await withCatalog([`ALTER TABLE "Orders" ALTER COLUMN "note" TYPE varchar(10);\n`], db);
      assert.match(note!.message, /^Changing Orders\.note from varchar\(20\) to varchar\(10\) rewrites Orders \(~10 rows/);
    } finally {
      await db.close();
    }
    assert.deepEqual(await withCatalog([`ALTER TABLE "UserProfile" ALTER COLUMN "displayName" TYPE varchar(191), ALTER COLUMN "createdAt" TYPE timestamp(6);\n`]), []);
    const [tz] = await withCatalog([`ALTER TABLE "UserProfile" ALTER COLUMN "createdAt" TYPE timestamptz(3);\n`]);
    assert.match(tz!.message, /^Changing UserProfile\.createdAt from timestamp\(3\) to timestamptz\(3\) rewrites/);
  });

  it("timestamp → timestamptz warns with the condition on PostgreSQL 12 and later, and is an error before", async () => {
    const [warning] = await withCatalog([`ALTER TABLE "Big" ALTER COLUMN "at" TYPE timestamptz;\n`]);
    assert.equal(warning!.severity, "warning");
    assert.equal(warning!.rewrites, false);
    assert.match(
      warning!.message,
      /from timestamp to timestamptz rewrites Big \(~100,000 rows, [\d.]+ MB\) and its indexes under ACCESS EXCLUSIVE unless the session's TimeZone is UTC/,
    );
    const run = [`ALTER TABLE "Big" ADD COLUMN "seen" timestamp;\n`, `ALTER TABLE "Big" ALTER COLUMN "seen" TYPE timestamptz;\n`];
    assert.equal(verdictOf(await lintFiles(run, { serverVersion: 120000 })), "utc");
    assert.equal(verdictOf(await lintFiles(run, { serverVersion: 110000 })), "rewrite");
  });

  it("SET TimeZone = 'UTC' earlier in the file makes timestamp → timestamptz a change in place, as PostgreSQL runs it", async () => {
    await t.db.query(`CREATE TABLE "Events" ("id" int, "at" timestamp, "seen" timestamp)`);
    await t.db.query(`INSERT INTO "Events" SELECT g, now(), now() FROM generate_series(1, 100) g`);
    await t.db.query(`CREATE INDEX "Events_at" ON "Events" ("at")`);
    await t.db.query(`CREATE INDEX "Events_seen" ON "Events" ("seen")`);
    const alter = (column: string) => `ALTER TABLE "Events" ALTER COLUMN "${column}" TYPE timestamptz;\n`;
    const session = `SET TimeZone = 'UTC';\n${alter("at")}`;
    const local = `BEGIN;\nSET LOCAL TimeZone = 'Etc/UTC';\n${alter("seen")}COMMIT;\n`;
    for (const text of [session, local]) assert.equal(verdictOf(await withCatalog([text])), "reindex", text);
    for (const text of [
      `SET TimeZone = 'UTC';\nRESET TimeZone;\n${alter("at")}`,
      `BEGIN;\nSET LOCAL TimeZone = 'UTC';\nCOMMIT;\n${alter("at")}`,
      `SET TIME ZONE 'UTC';\nSET TIME ZONE 'Europe/Berlin';\n${alter("at")}`,
    ])
      assert.equal(verdictOf(await withCatalog([text])), "utc", text);
    // Each file as a migration runs it: one script, on a session whose zone is not UTC to begin with.
    for (const [text, index] of [
      [session, "Events_at"],
      [local, "Events_seen"],
    ] as const) {
      const db = await t.connect();
      await db.query(`SET TimeZone = 'Europe/Berlin'`);
      assert.deepEqual(await observe(db, "Events", index, () => db.query(text)), { rewritten: false, reindexed: true }, text);
    }
  });

  it("breakwater lint --database-url: the compiled CLI reads the old types", async () => {
    const dir = await tempProject();
    await writeFile(path.join(dir, "m.sql"), `ALTER TABLE "Big" ALTER COLUMN "name" TYPE text;\nALTER TABLE "app"."Orders" ALTER COLUMN "Total" TYPE numeric(10,3);\n`);
    const result = await runCli(["lint", "m.sql", "--format", "json", "--database-url", t.url], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    const findings = (JSON.parse(result.stdout) as { findings: Finding[] }).findings.filter((f) => f.rule === "alter-column-type");
    assert.deepEqual(
      findings.map((f) => [f.line, f.severity]),
      [[2, "error"]],
    );
    assert.match(findings[0]!.message, /from numeric\(10,2\) to numeric\(10,3\) rewrites app\.Orders \(~10 rows/);
  });
});
