// addColumn, in maintenance mode and online: a constant (or once-evaluated) default is catalog
// only; a volatile one fills the existing rows in batches instead of rewriting the table, NOT NULL
// proven by a validated check. Both end in the schema Prisma's own migration builds, with no table
// rewrite, and roll back before the contract and after completion to the original schema and rows.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { addColumn, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { createTestDatabase, tempProject, type TestDatabase } from "../harness.ts";
import { filenode, prismaMigratedShape, strictShape } from "../fixtures/column-changes.ts";
import { applyPrismaSchema, checksum, datasource, failedRun, failingCheck, rollback, run, writer } from "../fixtures/renames.ts";

const oldSchema = `${datasource}
model Account {
  id    Int    @id @default(autoincrement())
  email String
  score Int?
}
`;
const newSchema = oldSchema.replace(
  "  score Int?\n",
  `  score Int?
  publicId  String   @default(dbgenerated("gen_random_uuid()")) @db.Uuid
  createdAt DateTime @default(now())
  status    String   @default("active")
  nickname  String?
  token     String?  @default(dbgenerated("md5(random()::text)"))
`,
);

// What Prisma's migration writes: ADD COLUMN "publicId" UUID NOT NULL DEFAULT gen_random_uuid(), …
const steps = [
  addColumn({ table: "Account", column: "publicId", type: "uuid", default: "gen_random_uuid()", notNull: true }),
  addColumn({ table: "Account", column: "createdAt", type: "timestamp(3)", default: "CURRENT_TIMESTAMP", notNull: true }),
  addColumn({ table: "Account", column: "status", type: "text", default: "'active'", notNull: true }),
  addColumn({ table: "Account", column: "nickname", type: "text" }),
  addColumn({ table: "Account", column: "token", type: "text", default: "md5(random()::text)" }),
];

const accounts = 5000;

async function seed(t: TestDatabase, rows = accounts): Promise<void> {
  await applyPrismaSchema(t.db, oldSchema);
  await t.db.query(`INSERT INTO "Account" (email, score) SELECT 'a' || i || '@example.com', i % 100 FROM generate_series(1, ${rows}) i; ANALYZE "Account";`);
}

const original = (t: TestDatabase) => checksum(t.db, `SELECT id, email, score FROM "Account"`);

for (const online of [false, true]) {
  const mode = online ? "online" : "maintenance";
  const plan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({ id, steps, ...(online ? { online: true } : {}), batch: { size: 700 }, ...extra });

  describe(`addColumn (${mode})`, () => {
    let t: TestDatabase;
    let dir: string;
    let reference: string;
    let originalShape: string;
    let originalRows: string;
    before(async () => {
      t = await createTestDatabase();
      dir = await tempProject();
      await seed(t);
      reference = await prismaMigratedShape(oldSchema, newSchema);
      originalShape = await strictShape(t.db);
      originalRows = await original(t);
    });
    after(async () => t.drop());

    it("rolls back before the contract: the original schema and every row as it was", async () => {
      const failure = await failedRun(t, plan(`${mode}_add_fails`, { checks: [failingCheck] }), dir);
      assert.equal(failure.code, "BW_CHECK_FAILED");
      assert.equal(failure.outcome.state, "rolled_back");
      assert.equal(await strictShape(t.db), originalShape);
      assert.equal(await original(t), originalRows);
    });

    it("ends in the schema Prisma's own migration builds without rewriting the table, and rolls back after completion", async () => {
      const file = await filenode(t.db, `"Account"`);
      const outcome = await run(t, plan(`${mode}_add`), dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await strictShape(t.db), reference, "the schema Prisma's own migration builds, column order aside");
      assert.equal(await filenode(t.db, `"Account"`), file, "no statement rewrote the table");
      assert.equal(await original(t), originalRows, "the existing columns are untouched");
      const filled = await t.db.one<{ n: number; ids: number; tokens: number; times: number; active: number; nicknames: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT "publicId")::int AS ids, count(DISTINCT token)::int AS tokens, count(DISTINCT "createdAt")::int AS times,
                count(*) FILTER (WHERE status = 'active')::int AS active, count(nickname)::int AS nicknames FROM "Account"`,
      );
      assert.deepEqual(filled, { n: accounts, ids: accounts, tokens: accounts, times: 1, active: accounts, nicknames: 0 }, "each row its own uuid and token, one creation time");
      const inserted = await t.db.one<{ id: string; status: string }>(`INSERT INTO "Account" (email) VALUES ('new@example.com') RETURNING "publicId" AS id, status`);
      assert.match(inserted.id, /^[0-9a-f-]{36}$/);
      assert.equal(inserted.status, "active");
      await t.db.query(`DELETE FROM "Account" WHERE email = 'new@example.com'`);
      const undone = await rollback(t, outcome.runId, dir);
      assert.equal(undone.state, "rolled_back");
      assert.equal(await strictShape(t.db), originalShape);
      assert.equal(await original(t), originalRows);
    });
  });
}

describe("addColumn online: the application writes throughout", () => {
  it("keeps every insert and update working; rows inserted during the run get the defaults", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await seed(t, 20_000);
      const inserts = await t.connect();
      const updates = await t.connect();
      const insert = writer(async (n) => void (await inserts.query(`INSERT INTO "Account" (email, score) VALUES ($1, $2)`, [`w${n}@example.com`, n])));
      const update = writer(async (n) => void (await updates.query(`UPDATE "Account" SET score = score + 1 WHERE id = $1`, [1 + ((n * 7919) % 20_000)])));
      const outcome = await run(t, { id: "online_add", online: true, batch: { size: 300, pauseMs: 5 }, steps }, dir);
      const results = await Promise.all([insert.stop(), update.stop()]);
      assert.equal(outcome.state, "completed");
      for (const r of results) {
        assert.deepEqual(r.errors, [], "no write failed");
        assert.ok(r.writes > 20, `the client kept working during the run (${r.writes} statements)`);
      }
      const rows = await t.db.one<{ n: number; ids: number; missing: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT "publicId")::int AS ids, count(*) FILTER (WHERE token IS NULL OR status IS NULL OR "createdAt" IS NULL)::int AS missing FROM "Account"`,
      );
      assert.ok(rows.n > 20_000);
      assert.equal(rows.ids, rows.n, "every row, old or inserted during the run, has its own uuid");
      assert.equal(rows.missing, 0);
    } finally {
      await t.drop();
    }
  });
});

describe("addColumn refuses what it cannot do, before anything changes", () => {
  let t: TestDatabase;
  let dir: string;
  let originalShape: string;
  before(async () => {
    t = await createTestDatabase();
    dir = await tempProject();
    await seed(t, 100);
    await t.db.query(`CREATE TABLE "Log" (line text)`);
    await t.db.query(`INSERT INTO "Log" VALUES ('x')`);
    originalShape = await strictShape(t.db);
  });
  after(async () => t.drop());

  const refused = async (input: Parameters<typeof addColumn>[0], code: string, pattern: RegExp) => {
    await assert.rejects(run(t, { id: `refused_${Math.random().toString(36).slice(2, 8)}`, steps: [addColumn(input)] }, dir), (error: Error & { code?: string }) => {
      assert.equal(error.code, code);
      assert.match(error.message, pattern);
      return true;
    });
    assert.equal(await strictShape(t.db), originalShape, "nothing changed");
  };

  it("refuses an unknown type, a default of another type, and SQL smuggled into `type` or `default`", async () => {
    await refused({ table: "Account", column: "publicId", type: "uuidd" }, "BW_PREFLIGHT_FAILED", /Account\.publicId cannot be added as uuidd: type "uuidd" does not exist/);
    await refused({ table: "Account", column: "level", type: "integer", default: "'high'" }, "BW_PREFLIGHT_FAILED", /invalid input syntax for type integer: "high"/);
    await refused({ table: "Account", column: "level", type: "integer", default: `"score"` }, "BW_PREFLIGHT_FAILED", /cannot use column reference in DEFAULT expression/);
    await refused({ table: "Account", column: "level", type: `int DEFAULT 1; DROP TABLE "Account"` }, "BW_PLAN_INVALID", /`type` must be one SQL type name/);
    await refused({ table: "Account", column: "level", type: "text", default: `'x'; DROP TABLE "Account"; --` }, "BW_PLAN_INVALID", /`default` must be one SQL expression/);
    assert.ok((await t.db.one<{ ok: boolean }>(`SELECT to_regclass('"Account"') IS NOT NULL AS ok`)).ok, "the table is still there");
  });

  it("refuses a column that exists, NOT NULL without a default on rows, and a volatile default without a primary key", async () => {
    await refused({ table: "Account", column: "email", type: "text" }, "BW_PREFLIGHT_FAILED", /Table Account already has a column email/);
    await refused({ table: "Accounts", column: "email", type: "text" }, "BW_PREFLIGHT_FAILED", /Table Accounts does not exist/);
    await refused({ table: "Account", column: "level", type: "integer", notNull: true }, "BW_PREFLIGHT_FAILED", /Account\.level cannot be added NOT NULL without a default/);
    await refused(
      { table: "Log", column: "id", type: "uuid", default: "gen_random_uuid()" },
      "BW_PREFLIGHT_FAILED",
      /The default gen_random_uuid\(\) of Log\.id is volatile.*Log has none/,
    );
    // A constant default needs no key: catalog only.
    const outcome = await run(t, { id: "log_level", steps: [addColumn({ table: "Log", column: "level", type: "text", default: "'info'", notNull: true })] }, dir);
    assert.equal(outcome.state, "completed");
    assert.equal((await t.db.one<{ level: string }>(`SELECT level FROM "Log"`)).level, "info");
  });
});

describe("addColumn with quotes, spaces and capitals in every name", () => {
  it("fills and proves NOT NULL, then rolls back", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
      const schema = `Sales "EU".v2`;
      const name = `Team Member's "List"`;
      const table = `${q(schema)}.${q(name)}`;
      await t.db.query(`CREATE SCHEMA ${q(schema)}; CREATE TABLE ${table} ("Id Key" int PRIMARY KEY); INSERT INTO ${table} SELECT generate_series(1, 2000);`);
      const outcome = await run(
        t,
        { id: "odd_names", steps: [addColumn({ table: { schema, name }, column: `Public "id"'s`, type: "uuid", default: "gen_random_uuid()", notNull: true })] },
        dir,
      );
      assert.equal(outcome.state, "completed");
      const column = await t.db.one<{ n: number; ids: number; nn: boolean; d: string }>(
        `SELECT (SELECT count(*)::int FROM ${table}) AS n, (SELECT count(DISTINCT "Public ""id""'s")::int FROM ${table}) AS ids, attnotnull AS nn, pg_get_expr(adbin, adrelid) AS d
           FROM pg_attribute JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum WHERE attrelid = $1::regclass AND attname = $2`,
        [table, `Public "id"'s`],
      );
      assert.deepEqual(column, { n: 2000, ids: 2000, nn: true, d: "gen_random_uuid()" });
      await rollback(t, outcome.runId, dir);
      const left = await t.db.query(`SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, [table]);
      assert.deepEqual(left.rows, [{ attname: "Id Key" }]);
    } finally {
      await t.drop();
    }
  });
});
