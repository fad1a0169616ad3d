import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { renameEnumValue } from "../../packages/breakwater/src/index.ts";
import { rewriteIndexDefinition } from "../../packages/breakwater/src/operations/rename-enum-value.ts";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { cleanup } from "../../packages/breakwater/src/runner/cleanup.ts";
import { createTestDatabase, enumLabels, runInProcess, type TestDatabase } from "../harness.ts";
import { checksum, keptTables, runner, shape } from "./schema-fixtures.ts";

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
      // Indexes under their original names, valid, on the new column (the shadow contract keeps
      // the old column's, set aside with it until cleanup).
      const indexes = await t.db.query<{ name: string; def: string; valid: boolean }>(
        `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisvalid AS valid FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
          WHERE i.indrelid = '"Account"'::regclass AND pg_get_indexdef(i.indexrelid) NOT LIKE '%\\_\\_bw\\_old%' ORDER BY 1`,
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
      // Nothing of breakwater's machinery is left on the tables but, with the shadow contract, the
      // old columns set aside (kept filled by a trigger each) until cleanup; the type swap keeps a
      // snapshot of the rows it rewrote instead.
      const triggers = await t.db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid IN ('"Account"'::regclass, '"Invite"'::regclass) AND NOT tgisinternal`);
      assert.equal(triggers.rowCount, contract === "shadow" ? 3 : 0);
      const aside = await t.db.query(`SELECT attrelid::regclass::text AS t, attname FROM pg_attribute WHERE attname LIKE '%\\_\\_bw\\_old' AND NOT attisdropped ORDER BY 1, 2`);
      assert.deepEqual(
        aside.rows,
        contract === "shadow" ?
          [
            { t: `"Account"`, attname: "previousRole__bw_old" },
            { t: `"Account"`, attname: "role__bw_old" },
            { t: `"Invite"`, attname: "role__bw_old" },
          ]
        : [],
      );
      assert.equal((await keptTables(t.db)).length, contract === "shadow" ? 0 : 3, "a snapshot only where the contract rewrites the column");
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

describe("renameEnumValue with the shadow contract in maintenance mode", () => {
  const createUsers = (t: TestDatabase) =>
    t.db.query(`
      CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
      CREATE TABLE "User" (id serial PRIMARY KEY, email text NOT NULL UNIQUE, role "Role" NOT NULL DEFAULT 'USER');
      CREATE INDEX "User_role_idx" ON "User" (role);
      INSERT INTO "User" (email, role) SELECT 'u' || i || '@example.com', (CASE WHEN i % 10 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role" FROM generate_series(1, 5000) i;
      ANALYZE "User";`);
  const plan = (id: string) => ({ id, steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "shadow", appReadsNewValues: true })] });

  it("takes no snapshot and sets the old column aside: a rollback after completion renames it back", async () => {
    const t = await createTestDatabase();
    try {
      await createUsers(t);
      const original = await checksum(t.db, `"User"`);
      const originalShape = await shape(t.db);
      const r = await runner(t);
      const outcome = await r.run(plan("set_aside"));
      assert.equal(outcome.state, "completed");
      assert.ok(!r.events.some((e) => e.type === "step-start" && /snapshot/.test(e.label)), "no snapshot step");
      assert.deepEqual(await keptTables(t.db), []);
      const aside = await t.db.one<{ n: number; type: string }>(
        `SELECT count(*) FILTER (WHERE role__bw_old::text = 'USER')::int AS n,
                (SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = '"User"'::regclass AND attname = 'role__bw_old') AS type FROM "User"`,
      );
      assert.equal(aside.n, 4500, "the old column keeps every original value");
      assert.match(aside.type, /^breakwater\./, "the old type waits in the breakwater schema");
      // Rows written after completion get the old column's value too.
      await t.db.query(`INSERT INTO "User" (email) VALUES ('late@example.com')`);
      assert.equal((await t.db.one<{ old: string }>(`SELECT role__bw_old::text AS old FROM "User" WHERE email = 'late@example.com'`)).old, "USER");
      const started = performance.now();
      await r.rollback(outcome.runId);
      const rollbackMs = performance.now() - started;
      assert.equal(await checksum(t.db, `"User"`, `email <> 'late@example.com'`), original, "every row reads as before the run");
      assert.equal((await t.db.one<{ role: string }>(`SELECT role::text FROM "User" WHERE email = 'late@example.com'`)).role, "USER");
      await t.db.query(`DELETE FROM "User" WHERE email = 'late@example.com'`);
      assert.equal(await shape(t.db), originalShape, "the original schema, the enum's values included (none was added to the old type)");
      assert.ok(rollbackMs < 5000, `rollback after completion renames (${Math.round(rollbackMs)} ms)`);
    } finally {
      await t.drop();
    }
  });

  it("refuses a rollback after completion while rows hold a value the old type lacks, and rolls back once they change", async () => {
    const t = await createTestDatabase();
    try {
      await createUsers(t);
      const original = await checksum(t.db, `"User"`);
      const r = await runner(t);
      const outcome = await r.run(plan("manager_written"));
      await t.db.query(`UPDATE "User" SET role = 'MANAGER' WHERE id IN (3, 4)`);
      const before = await checksum(t.db, `"User"`);
      await assert.rejects(r.rollback(outcome.runId), (error: { code: string; message: string }) => {
        assert.equal(error.code, "BW_ROLLBACK_CONFLICT");
        assert.match(error.message, /2 row\(s\) of User hold a value of role that Role did not have before the run \(e\.g\. MANAGER\)/);
        return true;
      });
      assert.equal(await checksum(t.db, `"User"`), before, "nothing changed");
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
      await t.db.query(`UPDATE "User" SET role = 'EMPLOYEE' WHERE id IN (3, 4)`);
      assert.equal((await r.rollback(outcome.runId)).state, "rolled_back");
      assert.equal(await checksum(t.db, `"User"`), original);
      const column = await t.db.one<{ notnull: boolean; checks: number }>(
        `SELECT attnotnull AS notnull, (SELECT count(*)::int FROM pg_constraint WHERE conrelid = '"User"'::regclass AND contype = 'c') AS checks
           FROM pg_attribute WHERE attrelid = '"User"'::regclass AND attname = 'role'`,
      );
      assert.deepEqual(column, { notnull: true, checks: 0 }, "NOT NULL again, the check that proved it gone");
    } finally {
      await t.drop();
    }
  });

  it("cleanup drops what the contract set aside; the schema is then the one Prisma's migration builds", async () => {
    const t = await createTestDatabase();
    const expected = await createTestDatabase();
    try {
      await createUsers(t);
      const r = await runner(t);
      const outcome = await r.run(plan("to_clean"));
      // Prisma's own migration for the same change, on the same starting schema.
      await createUsers(expected);
      await expected.db.query(`
        CREATE TYPE "Role_new" AS ENUM ('EMPLOYEE', 'MANAGER', 'ADMIN');
        ALTER TABLE "User" ALTER COLUMN role DROP DEFAULT;
        ALTER TABLE "User" ALTER COLUMN role TYPE "Role_new" USING (CASE role::text WHEN 'USER' THEN 'EMPLOYEE' ELSE role::text END::"Role_new");
        ALTER TYPE "Role" RENAME TO "Role_old";
        ALTER TYPE "Role_new" RENAME TO "Role";
        DROP TYPE "Role_old";
        ALTER TABLE "User" ALTER COLUMN role SET DEFAULT 'EMPLOYEE';`);
      const { lock } = resolveConfig({}, r.dir, null, {});
      const result = await cleanup(t.url, { olderThanSeconds: 0, dryRun: false, reconnectTimeoutMs: 10_000, lock });
      assert.deepEqual(
        result.runs.map((run) => [run.id, run.setAside]),
        [[outcome.runId, ["drop the old column and type set aside"]]],
      );
      assert.equal(await shape(t.db), await shape(expected.db));
      assert.equal(await checksum(t.db, `"User"`), await checksum(expected.db, `"User"`));
      const types = await t.db.query(`SELECT 1 FROM pg_type WHERE typnamespace = 'breakwater'::regnamespace AND typtype = 'e'`);
      assert.equal(types.rows.length, 0, "the old type is gone too");
    } finally {
      await t.drop();
      await expected.drop();
    }
  });
});
