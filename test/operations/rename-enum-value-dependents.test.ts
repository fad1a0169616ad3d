// renameEnumValue carries over what is built on the enum: views (one over another), a materialized
// view with an index, and the column's partial and expression indexes are created again with the
// renamed value, in maintenance mode and online, with the shadow contract and the type swap; a
// rollback before or after the contract gives back the definitions as they were.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Database } from "@breakwater/runtime/internal";
import { renameEnumValue, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { createTestDatabase, type TestDatabase } from "../harness.ts";
import { failingCheck, runner, writer, type Runner } from "./schema-fixtures.ts";

const rows = 4000;
const users = rows - rows / 4;

async function createUsers(t: TestDatabase, owner: string, reader: string): Promise<void> {
  await t.db.query(`
    CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
    CREATE TABLE "User" (id serial PRIMARY KEY, email text NOT NULL, role "Role" NOT NULL DEFAULT 'USER');
    INSERT INTO "User" (email, role) SELECT 'u' || i || '@example.com', (CASE WHEN i % 4 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role" FROM generate_series(1, ${rows}) i;
    CREATE INDEX "User_role_idx" ON "User" (role);
    CREATE INDEX "User_email_user_idx" ON "User" (email) WHERE role = 'USER';
    CREATE INDEX "User_is_admin_idx" ON "User" ((role = 'ADMIN'));
    CREATE VIEW "ActiveUser" WITH (security_barrier) AS SELECT id, email, role FROM "User" WHERE role = 'USER';
    CREATE VIEW "ActiveUserId" AS SELECT id FROM "ActiveUser" WHERE role IN ('USER', 'ADMIN');
    CREATE MATERIALIZED VIEW "RoleCount" AS SELECT role, count(*) AS n FROM "User" GROUP BY role;
    CREATE UNIQUE INDEX "RoleCount_role_key" ON "RoleCount" (role) WHERE role <> 'USER';
    GRANT SELECT ON "User" TO ${owner};
    ALTER VIEW "ActiveUser" OWNER TO ${owner};
    GRANT SELECT ON "ActiveUser" TO ${reader};
    COMMENT ON VIEW "ActiveUser" IS 'users holding USER';
    COMMENT ON COLUMN "ActiveUser".email IS 'login';
    ANALYZE "User";`);
}

/** The views, materialized views and indexes of public, as PostgreSQL prints them, one line each. */
async function dependents(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ x: string }>(`
    SELECT format('%s %s options=%s owner=%s acl=%s comment=%s: %s', c.relkind, c.oid::regclass, c.reloptions, pg_get_userbyid(c.relowner), c.relacl,
                  obj_description(c.oid, 'pg_class'), pg_get_viewdef(c.oid)) AS x
      FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('comment on %s.%s: %s', a.attrelid::regclass, a.attname, col_description(a.attrelid, a.attnum))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = 'public'::regnamespace AND col_description(a.attrelid, a.attnum) IS NOT NULL
    UNION ALL
    SELECT format('index %s%s', pg_get_indexdef(i.indexrelid), CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END)
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'public'::regnamespace
    ORDER BY 1`);
  return rows.map((r) => r.x);
}

const renamed = (lines: string[]) => lines.map((l) => l.replaceAll(`'USER'::"Role"`, `'EMPLOYEE'::"Role"`));

const cases = [
  { mode: "maintenance mode", online: false, contract: "shadow" },
  { mode: "maintenance mode", online: false, contract: "typeSwap" },
  { mode: "online", online: true, contract: "shadow" },
] as const;

for (const { mode, online, contract } of cases) {
  describe(`renameEnumValue over views and partial indexes (${mode}, ${contract} contract)`, () => {
    let t: TestDatabase;
    let r: Runner;
    let original: string[];
    let runId: string;
    const owner = `bw_owner_${Math.random().toString(36).slice(2, 10)}`;
    const reader = `bw_reader_${Math.random().toString(36).slice(2, 10)}`;
    const plan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({
      id,
      online,
      steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract, appReadsNewValues: true })],
      ...extra,
    });
    before(async () => {
      t = await createTestDatabase();
      await t.db.query(`CREATE ROLE ${owner}; CREATE ROLE ${reader}`);
      await createUsers(t, owner, reader);
      r = await runner(t);
      original = await dependents(t.db);
    });
    after(async () => {
      await t.db.query(`REASSIGN OWNED BY ${owner} TO CURRENT_USER; DROP OWNED BY ${owner}, ${reader}; DROP ROLE ${owner}; DROP ROLE ${reader}`);
      await t.drop();
    });

    it("leaves every definition as it was when the run is rolled back before its contract", async () => {
      const failure = await r.fail(plan("fails_check", { checks: [failingCheck] }));
      assert.equal(failure.outcome?.state, "rolled_back", failure.message);
      assert.deepEqual(await dependents(t.db), original);
    });

    it("completes, with the views, the materialized view and the indexes created again for EMPLOYEE", async () => {
      const reads = writer(await t.connect(), () => `SELECT count(*) FROM "ActiveUserId"`);
      const outcome = await r.run(plan("carried")).finally(() => reads.stop());
      runId = outcome.runId;
      const { errors } = await reads.stop();
      assert.equal(outcome.state, "completed");
      // The swap waits for the views briefly and tries again rather than deadlock with a query of them.
      assert.deepEqual(errors, [], "reading the views never failed during the run");
      const view = await t.db.one<{ n: number; employee: number }>(`SELECT count(*)::int AS n, count(*) FILTER (WHERE role = 'EMPLOYEE')::int AS employee FROM "ActiveUser"`);
      assert.deepEqual(view, { n: users, employee: users }, "the view returns the renamed rows");
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "ActiveUserId"`)).n, users, "the view over the view too");
      const counts = await t.db.query<{ role: string; n: number }>(`SELECT role::text, n::int FROM "RoleCount" ORDER BY 1`);
      assert.deepEqual(counts.rows, [
        { role: "ADMIN", n: rows / 4 },
        { role: "EMPLOYEE", n: users },
      ]);
      const now = await dependents(t.db);
      // The shadow contract keeps the old column's indexes, set aside with it, until cleanup.
      const aside = now.filter((l) => l.includes("role__bw_old"));
      assert.equal(aside.length, contract === "shadow" ? 3 : 0, aside.join("\n"));
      assert.deepEqual(
        now.filter((l) => !aside.includes(l)),
        renamed(original),
      );
      assert.ok(now.some((l) => l.includes(`"User_email_user_idx" ON public."User" USING btree (email) WHERE (role = 'EMPLOYEE'::"Role")`)));
      assert.ok(now.some((l) => l.includes(`"RoleCount_role_key" ON public."RoleCount" USING btree (role) WHERE (role <> 'EMPLOYEE'::"Role")`)));
    });

    it("gives back the original definitions when the completed run is rolled back", async () => {
      const outcome = await r.rollback(runId);
      assert.equal(outcome.state, "rolled_back");
      assert.deepEqual(await dependents(t.db), original);
      const view = await t.db.one<{ n: number; user: number }>(`SELECT count(*)::int AS n, count(*) FILTER (WHERE role = 'USER')::int AS user FROM "ActiveUser"`);
      assert.deepEqual(view, { n: users, user: users });
    });
  });
}

describe("renameEnumValue and a view it cannot carry over", () => {
  it("refuses a view that compares the value as text, changing nothing", async () => {
    const t = await createTestDatabase();
    try {
      await t.db.query(`
        CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
        CREATE TABLE "User" (id serial PRIMARY KEY, role "Role" NOT NULL DEFAULT 'USER');
        CREATE VIEW "Plain" AS SELECT id FROM "User" WHERE role::text = 'USER';`);
      const r = await runner(t);
      const failure = await r.fail({ id: "as_text", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", contract: "shadow" })] });
      assert.equal(failure.code, "BW_PREFLIGHT_FAILED");
      assert.match(failure.message, /View public\.Plain names 'USER' as text, not as a value of the enum, so breakwater cannot carry it over/);
      assert.match(failure.hint ?? "", /role = 'USER'/);
      assert.equal((await t.db.one<{ ok: boolean }>(`SELECT to_regclass('breakwater.runs') IS NULL AS ok`)).ok, true, "not even the journal was created");
    } finally {
      await t.drop();
    }
  });
});
