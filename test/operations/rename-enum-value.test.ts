import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { renameEnumValue } from "../../packages/breakwater/src/index.ts";
import { rewriteIndexDefinition } from "../../packages/breakwater/src/operations/rename-enum-value.ts";
import { createTestDatabase, enumLabels, runInProcess, type TestDatabase } from "../harness.ts";

async function createAccounts(t: TestDatabase): Promise<void> {
  await t.db.query(`
    CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
    CREATE TABLE "Account" (
      id bigint PRIMARY KEY,
      role "Role" NOT NULL DEFAULT 'USER',
      "previousRole" "Role",
      note text
    );
    CREATE INDEX "Account_role_idx" ON "Account" (role);
    CREATE UNIQUE INDEX "Account_id_prev_key" ON "Account" (id, "previousRole");
    CREATE TABLE "Invite" (code text PRIMARY KEY, role "Role" NOT NULL DEFAULT 'ADMIN');
    INSERT INTO "Account" (id, role, "previousRole", note)
      SELECT i, (CASE WHEN i % 4 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role",
             (CASE WHEN i % 3 = 0 THEN NULL WHEN i % 3 = 1 THEN 'USER' ELSE 'ADMIN' END)::"Role", 'n' || i
        FROM generate_series(1, 3000) AS i;
    INSERT INTO "Invite" SELECT 'c' || i, (CASE WHEN i % 2 = 0 THEN 'USER' ELSE 'ADMIN' END)::"Role" FROM generate_series(1, 500) AS i;`);
}

interface Counts {
  roleUser: number;
  roleAdmin: number;
  prevUser: number;
  prevAdmin: number;
  prevNull: number;
  inviteUser: number;
}

async function counts(t: TestDatabase, userLabel: string): Promise<Counts> {
  return await t.db.one<Counts & Record<string, number>>(
    `SELECT count(*) FILTER (WHERE role::text = $1)::int AS "roleUser", count(*) FILTER (WHERE role::text = 'ADMIN')::int AS "roleAdmin",
            count(*) FILTER (WHERE "previousRole"::text = $1)::int AS "prevUser", count(*) FILTER (WHERE "previousRole"::text = 'ADMIN')::int AS "prevAdmin",
            count(*) FILTER (WHERE "previousRole" IS NULL)::int AS "prevNull",
            (SELECT count(*) FROM "Invite" WHERE role::text = $1)::int AS "inviteUser"
       FROM "Account"`,
    [userLabel],
  );
}

for (const contract of ["shadow", "typeSwap"] as const) {
  describe(`renameEnumValue with the ${contract} contract`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await createTestDatabase();
      await createAccounts(t);
    });
    after(async () => t.drop());

    it("renames the value on every column of every table, keeps defaults, NULLs, NOT NULL and indexes", async () => {
      const before = await counts(t, "USER");
      const { outcome } = await runInProcess(
        t.url,
        {
          id: `rename_${contract}`,
          steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract })],
        },
        { batch: { size: 700 } },
      );
      assert.equal(outcome.state, "completed");
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
      const afterCounts = await counts(t, "EMPLOYEE");
      assert.deepEqual(afterCounts, before);
      const user = await t.db.one<{ n: number }>(
        `SELECT (SELECT count(*) FROM "Account" WHERE role::text = 'USER' OR "previousRole"::text = 'USER') + (SELECT count(*) FROM "Invite" WHERE role::text = 'USER') AS n`,
      );
      assert.equal(user.n, 0);
      // Defaults carried over, mapped to the new value.
      const defaults = await t.db.query<{ table: string; column: string; def: string; notnull: boolean }>(
        `SELECT c.relname AS table, a.attname AS column, pg_get_expr(d.adbin, d.adrelid) AS def, a.attnotnull AS notnull
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE c.relname IN ('Account', 'Invite') AND a.attname IN ('role', 'previousRole') AND NOT a.attisdropped ORDER BY 1, 2`,
      );
      assert.deepEqual(defaults.rows, [
        { table: "Account", column: "previousRole", def: null, notnull: false },
        { table: "Account", column: "role", def: `'EMPLOYEE'::"Role"`, notnull: true },
        { table: "Invite", column: "role", def: `'ADMIN'::"Role"`, notnull: true },
      ]);
      // Indexes under their original names, valid, on the new column.
      const indexes = await t.db.query<{ name: string; def: string; valid: boolean }>(
        `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisvalid AS valid FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
          WHERE i.indrelid = '"Account"'::regclass ORDER BY 1`,
      );
      assert.deepEqual(
        indexes.rows.map((r) => [r.name, r.valid]),
        [
          ["Account_id_prev_key", true],
          ["Account_pkey", true],
          ["Account_role_idx", true],
        ],
      );
      assert.match(indexes.rows[2]!.def, /\(role\)$/);
      assert.match(indexes.rows[0]!.def, /^CREATE UNIQUE INDEX/);
      // The application can insert with the default and with the new values.
      await t.db.query(`INSERT INTO "Account" (id) VALUES (100000)`);
      await t.db.query(`INSERT INTO "Account" (id, role) VALUES (100001, 'MANAGER')`);
      const inserted = await t.db.one<{ role: string }>(`SELECT role::text FROM "Account" WHERE id = 100000`);
      assert.equal(inserted.role, "EMPLOYEE");
      // Nothing of breakwater's machinery is left on the tables.
      const leftovers = await t.db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid IN ('"Account"'::regclass, '"Invite"'::regclass) AND NOT tgisinternal`);
      assert.equal(leftovers.rowCount, 0);
      const types = await t.db.query(`SELECT typname FROM pg_type WHERE typname LIKE 'Role%' AND typtype = 'e'`);
      assert.deepEqual(types.rows, [{ typname: "Role" }]);
      // The report carries the seeds' numbers.
      const log = outcome.log;
      const carried = log.checks.find((c) => c.name === "USER before = EMPLOYEE after (Account.role)");
      assert.deepEqual([carried?.expected, carried?.actual, carried?.ok], [before.roleUser, before.roleUser, true]);
      assert.equal(log.totalRowsChanged, before.roleUser + before.prevUser + before.inviteUser);
      if (contract === "shadow") assert.ok(log.longestAccessExclusiveMs < 1000, `short locks, got ${log.longestAccessExclusiveMs} ms`);
    });
  });
}

describe("renameEnumValue with contract: renameValue", () => {
  it("renames in the catalog only: no row is written, and rollback renames back", async () => {
    const t = await createTestDatabase();
    try {
      await createAccounts(t);
      await t.db.query(`CREATE VIEW "AccountRoles" AS SELECT id, role FROM "Account"`);
      const ctids = async () => (await t.db.one<{ c: string }>(`SELECT md5(string_agg(ctid::text, ',' ORDER BY id)) AS c FROM "Account"`)).c;
      const before = await ctids();
      const counts = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Account" WHERE role = 'USER'`);
      const { outcome } = await runInProcess(t.url, {
        id: "in_place",
        steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "renameValue" })],
      });
      assert.equal(outcome.state, "completed");
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Account" WHERE role = 'EMPLOYEE'`)).n, counts.n);
      assert.equal(await ctids(), before, "no row was rewritten");
      assert.equal(outcome.log.rowsRewritten, 0);
      const def = await t.db.one<{ def: string }>(`SELECT pg_get_expr(adbin, adrelid) AS def FROM pg_attrdef WHERE adrelid = '"Account"'::regclass AND adnum = 2`);
      assert.equal(def.def, `'EMPLOYEE'::"Role"`, "the default follows the renamed value");
      const { rollbackRunById } = await import("../../packages/breakwater/src/runner/runner.ts");
      const { resolveConfig } = await import("../../packages/breakwater/src/config/config.ts");
      const dir = await (await import("../harness.ts")).tempProject();
      const { fileStore } = await import("@breakwater/runtime/internal");
      await rollbackRunById(outcome.runId, {
        config: resolveConfig({ maintenance: { file: `${dir}/m.lock` } }, dir, null, {}),
        databaseUrl: t.url,
        store: fileStore({ path: `${dir}/m.lock` }),
      });
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "MANAGER", "ADMIN"], "USER is back; MANAGER stays (PostgreSQL cannot remove it)");
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Account" WHERE role = 'USER'`)).n, counts.n);
    } finally {
      await t.drop();
    }
  });

  it("is refused when `to` already exists", async () => {
    const t = await createTestDatabase();
    try {
      await createAccounts(t);
      await assert.rejects(
        runInProcess(t.url, { id: "merge", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "ADMIN", contract: "renameValue" })] }),
        /contract "renameValue" needs "ADMIN" to be a new value/,
      );
    } finally {
      await t.drop();
    }
  });
});

describe("renameEnumValue planning", () => {
  it("rewrites an index definition onto the shadow column", () => {
    assert.equal(
      rewriteIndexDefinition('CREATE UNIQUE INDEX "A_idx" ON public."A" USING btree (id, role DESC) INCLUDE (role)', "role", "role__bw", '"copy"'),
      'CREATE UNIQUE INDEX CONCURRENTLY "copy" ON public."A" USING btree (id, "role__bw" DESC) INCLUDE ("role__bw")',
    );
    assert.equal(
      rewriteIndexDefinition('CREATE INDEX "x" ON "S"."T" USING btree ("My Role")', '"My Role"', "My Role__bw", '"c"'),
      'CREATE INDEX CONCURRENTLY "c" ON "S"."T" USING btree ("My Role__bw")',
    );
  });

  it("picks the shadow contract for large tables and the type swap for small ones under auto", async () => {
    const t = await createTestDatabase();
    try {
      await createAccounts(t);
      const small = await runInProcess(t.url, { id: "auto_small", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE" })] }, { shadowThresholdRows: 1_000_000 });
      assert.ok(small.outcome.log.changes.some((c) => c.includes("type swap")));
      const large = await runInProcess(t.url, { id: "auto_large", steps: [renameEnumValue({ enum: "Role", from: "EMPLOYEE", to: "STAFF" })] }, { shadowThresholdRows: 100 });
      assert.ok(large.outcome.log.changes.some((c) => c.includes("shadow column")));
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["STAFF", "ADMIN"]);
    } finally {
      await t.drop();
    }
  });
});
