// renameEnumValue in an online plan: no maintenance mode, no write fence, no snapshot; the
// application reads and writes throughout, the contract waits until the old value is no longer
// written, the old column and type are set aside until `breakwater cleanup`, and rollback before
// or after the contract gives back the original rows.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileStore, type Database } from "@breakwater/runtime/internal";
import { backfill, renameEnumValue, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { validatePlan } from "../../packages/breakwater/src/plan/plan.ts";
import { cleanup } from "../../packages/breakwater/src/runner/cleanup.ts";
import { resumeRun, rollbackRunById, RunFailure, runPlan, type RunOutcome } from "../../packages/breakwater/src/runner/runner.ts";
import type { BreakwaterEvent } from "../../packages/breakwater/src/runner/events.ts";
import { createTestDatabase, enumLabels, tempProject, type TestDatabase } from "../harness.ts";
import { writer } from "./schema-fixtures.ts";

const rows = 20_000;

async function createUsers(t: TestDatabase): Promise<void> {
  await t.db.query(`
    CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
    CREATE TABLE "User" (id serial PRIMARY KEY, email text NOT NULL UNIQUE, role "Role" NOT NULL DEFAULT 'USER', note text);
    CREATE INDEX "User_role_idx" ON "User" (role);
    INSERT INTO "User" (email, role) SELECT 'u' || i || '@example.com', (CASE WHEN i % 10 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role" FROM generate_series(1, ${rows}) i;
    ANALYZE "User";`);
}

/** Every row as the application reads it: id, email and the role's label. */
async function checksum(db: Database, where = "true"): Promise<string> {
  return (await db.one<{ c: string }>(`SELECT md5(string_agg(id || ':' || email || ':' || role::text, ',' ORDER BY id)) AS c FROM "User" WHERE ${where}`)).c;
}

/** Catalog shape of public: columns, types, enums, indexes, constraints (order aside). */
async function shape(db: Database): Promise<string> {
  const q = async (sql: string) => (await db.query<{ x: string }>(sql)).rows.map((r) => r.x).join("\n");
  return [
    await q(`SELECT format('%s.%s %s null=%s default=%s', table_name, column_name, udt_name, is_nullable, column_default) AS x
               FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name`),
    await q(`SELECT t.typname || ': ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS x FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
              WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname ORDER BY 1`),
    await q(`SELECT indexdef AS x FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`),
    await q(`SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS x FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`),
    await q(`SELECT tgname AS x FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`),
  ].join("\n--\n");
}

/** A connection as an application role with `grants` only (none on the breakwater schema); drop() removes the role. */
async function applicationRole(t: TestDatabase, grants: string): Promise<{ db: Database; drop(): Promise<void> }> {
  const role = `bw_app_${Math.random().toString(36).slice(2, 10)}`;
  await t.db.query(`CREATE ROLE ${role}; ${grants.replaceAll("$role", role)}`);
  const db = await t.connect();
  await db.query(`SET ROLE ${role}`);
  return {
    db,
    drop: async () => {
      await db.query("RESET ROLE");
      await t.db.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    },
  };
}

function options(dir: string, events: BreakwaterEvent[] = []) {
  const config = resolveConfig({ maintenance: { file: path.join(dir, "maintenance.lock") } }, dir, null, {});
  return { config, databaseUrl: "", store: fileStore({ path: config.maintenanceFile }), emit: (e: BreakwaterEvent) => events.push(e) };
}

async function run(t: TestDatabase, plan: MigrationInput, dir: string, events: BreakwaterEvent[] = []): Promise<RunOutcome> {
  return await runPlan({ plan: validatePlan(plan), path: path.join(dir, "plan.ts"), sha256: "" }, { ...options(dir, events), databaseUrl: t.url });
}

const onlinePlan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({
  id,
  online: true,
  // Small batches, so the application's writes land between them.
  batch: { size: 500 },
  steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], appReadsNewValues: true })],
  ...extra,
});

describe("renameEnumValue online", () => {
  let t: TestDatabase;
  let dir: string;
  let original: string;
  let originalShape: string;
  let runId: string;
  before(async () => {
    t = await createTestDatabase();
    dir = await tempProject();
    await createUsers(t);
    original = await checksum(t.db);
    originalShape = await shape(t.db);
  });
  after(async () => t.drop());

  it("runs with the application writing throughout: no maintenance, no fence, no snapshot, no refused write", async () => {
    // The application's role has rights on its table only, none on the breakwater schema.
    const application = await applicationRole(t, `GRANT SELECT, INSERT, UPDATE ON "User" TO $role; GRANT USAGE ON SEQUENCE "User_id_seq" TO $role`);
    const inserts = writer(application.db, (n) => `INSERT INTO "User" (email, role) VALUES ('new${n}@example.com', DEFAULT)`);
    const updates = writer(await t.connect(), (n) => `UPDATE "User" SET note = 'n${n}' WHERE id = ${1 + ((n * 7919) % rows)}`);
    const reads = writer(await t.connect(), (n) => `SELECT id, email, role FROM "User" WHERE id = ${1 + ((n * 104729) % rows)}`);
    const events: BreakwaterEvent[] = [];
    const outcome = await run(t, onlinePlan("online_rename"), dir, events);
    runId = outcome.runId;
    const results = await Promise.all([inserts.stop(), updates.stop(), reads.stop()]);
    await application.drop();
    assert.equal(outcome.state, "completed");
    for (const r of results) {
      assert.deepEqual(r.errors, [], "no write or read failed");
      assert.ok(r.writes > 20, `the client kept working during the run (${r.writes} statements)`);
    }
    assert.ok(!events.some((e) => e.type === "maintenance"), "maintenance mode was never turned on");
    // Rows the application inserts during the fill get their value from the trigger: the batches
    // stop at the end the table had, instead of chasing the inserts (for ever, under steady load).
    // (The fill's end is the last key when it started: rows inserted during expand, before it, count.)
    const fill = await t.db.one<{ scanned: number; last: string }>(
      `SELECT (data->>'scanned')::int AS scanned, cursor->>0 AS last FROM breakwater.steps WHERE run_id = $1 AND phase = 'transform'`,
      [outcome.runId],
    );
    const split = await t.db.one<{ within: number; beyond: number }>(
      `SELECT count(*) FILTER (WHERE id <= $1::int)::int AS within, count(*) FILTER (WHERE id > $1::int)::int AS beyond FROM "User"`,
      [fill.last],
    );
    assert.ok(split.beyond > 0, `the application inserted rows after the fill's last key (${fill.last})`);
    assert.ok(fill.scanned <= split.within, `the fill covered the ${split.within} rows up to its last key, no more (${fill.scanned})`);
    assert.ok(!existsSync(path.join(dir, "maintenance.lock")));
    assert.ok(!events.some((e) => e.type === "step-start" && /fence|snapshot/.test(e.label)), "no fence and no snapshot step");
    const snapshots = await t.db.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'breakwater' AND tablename LIKE 'snap\\_%'`);
    assert.equal(snapshots.rows.length, 0, "no snapshot table");

    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
    const counts = await t.db.one<{ employee: number; admin: number; user: number; total: number }>(
      `SELECT count(*) FILTER (WHERE role = 'EMPLOYEE')::int AS employee, count(*) FILTER (WHERE role = 'ADMIN')::int AS admin, count(*)::int AS total,
              (SELECT count(*)::int FROM "User" WHERE role::text = 'USER') AS "user" FROM "User"`,
    );
    assert.equal(counts.admin, rows / 10);
    assert.equal(counts.employee, counts.total - rows / 10, "every USER row, and every row inserted during the run with the default, reads EMPLOYEE");
    const def = await t.db.one<{ d: string }>(`SELECT column_default AS d FROM information_schema.columns WHERE table_name = 'User' AND column_name = 'role'`);
    assert.equal(def.d, `'EMPLOYEE'::"Role"`);
    // The old column stays beside the new one until cleanup, kept filled by a trigger.
    const aside = await t.db.one<{ n: number; user: number }>(
      `SELECT count(*) FILTER (WHERE role::text <> (CASE role__bw_old::text WHEN 'USER' THEN 'EMPLOYEE' ELSE role__bw_old::text END))::int AS n,
              count(*) FILTER (WHERE role__bw_old::text = 'USER')::int AS "user" FROM "User"`,
    );
    assert.equal(aside.n, 0, "every row's old value maps to its new one");
    assert.ok(aside.user >= rows - rows / 10, "the original USER rows keep USER in the old column");
  });

  it("keeps the set-aside column filled for rows written after the contract, so rollback after completion is a rename", async () => {
    await t.db.query(`INSERT INTO "User" (email, role) VALUES ('late-employee@example.com', 'EMPLOYEE'), ('late-manager@example.com', 'MANAGER')`);
    const { rows: late } = await t.db.query<{ email: string; old: string }>(`SELECT email, role__bw_old::text AS old FROM "User" WHERE email LIKE 'late-%' ORDER BY email`);
    assert.deepEqual(late, [
      { email: "late-employee@example.com", old: "USER" },
      { email: "late-manager@example.com", old: "MANAGER" },
    ]);
    await t.db.query(`DELETE FROM "User" WHERE email LIKE 'late-%' OR email LIKE 'new%'`);
    const writes = writer(await t.connect(), (n) => `UPDATE "User" SET note = 'r${n}' WHERE id = ${1 + ((n * 31) % rows)}`);
    const started = performance.now();
    await rollbackRunById(runId, { ...options(dir), databaseUrl: t.url });
    const rollbackMs = performance.now() - started;
    const { errors } = await writes.stop();
    assert.deepEqual(errors, [], "the application kept writing during the rollback");
    assert.equal(await checksum(t.db), original, "every row reads as before the run");
    // The values added for the window stay (PostgreSQL cannot remove an enum value); nothing else differs.
    assert.equal((await shape(t.db)).replace("Role: USER,ADMIN,EMPLOYEE,MANAGER", "Role: USER,ADMIN"), originalShape, "the original schema is back");
    assert.ok(rollbackMs < 5000, `rollback after completion renames (${Math.round(rollbackMs)} ms)`);
  });
});

describe("renameEnumValue online: the contract and the application", () => {
  it("refuses the contract while the application still writes the old value, then completes on resume", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await createUsers(t);
      // An application role with no right on the breakwater schema: the counting trigger still works.
      const application = await applicationRole(t, `GRANT SELECT, UPDATE ON "User" TO $role`);
      const old = writer(application.db, (n) => `UPDATE "User" SET role = 'USER' WHERE id = ${1 + ((n * 13) % rows)}`);
      let failure: RunFailure | undefined;
      try {
        await run(t, onlinePlan("still_written"), dir);
      } catch (error) {
        failure = error as RunFailure;
      }
      const { errors } = await old.stop();
      await application.drop();
      assert.deepEqual(errors, [], "the old application's writes all succeeded");
      assert.equal(failure?.code, "BW_OLD_FORM_WRITTEN");
      assert.match(failure!.message, /The application still writes USER to User\.role: \d+ write\(s\) in the last 1\.\d s, \d+ since \d{4}-.*when the run began counting/);
      assert.match(failure!.hint ?? "", /breakwater resume/);
      assert.equal(failure!.outcome.state, "failed");
      assert.deepEqual(
        await enumLabels(t.db, '"Role"'),
        ["USER", "ADMIN", "EMPLOYEE", "MANAGER"],
        "the contract did not start: the values added for the window are there, USER too",
      );
      // Rows the old application wrote during the window are carried by the trigger.
      const carried = (await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE role IN ('USER', 'EMPLOYEE')`)).n;
      const outcome = await resumeRun(failure!.outcome.runId, { ...options(dir), databaseUrl: t.url });
      assert.equal(outcome.state, "completed");
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE role = 'EMPLOYEE'`)).n, carried);
    } finally {
      await t.drop();
    }
  });

  it("rolls back before the contract with the application writing, and leaves the rows as they were", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await createUsers(t);
      const original = await checksum(t.db);
      const writes = writer(await t.connect(), (n) => `UPDATE "User" SET note = 'x${n}' WHERE id = ${1 + ((n * 17) % rows)}`);
      await assert.rejects(
        run(t, onlinePlan("fails_check", { checks: [{ name: "impossible", sql: `SELECT count(*) FROM "User"`, expect: 0 }] }), dir),
        (error: RunFailure) => error.code === "BW_CHECK_FAILED" && error.outcome.state === "rolled_back",
      );
      const { errors } = await writes.stop();
      assert.deepEqual(errors, []);
      assert.equal(await checksum(t.db), original);
      const leftovers = await t.db.query(`SELECT attname FROM pg_attribute WHERE attrelid = '"User"'::regclass AND attnum > 0 AND NOT attisdropped AND attname LIKE '%\\_\\_bw%'`);
      assert.equal(leftovers.rows.length, 0, "no shadow column left");
      const def = await t.db.one<{ d: string }>(`SELECT column_default AS d FROM information_schema.columns WHERE table_name = 'User' AND column_name = 'role'`);
      assert.equal(def.d, `'USER'::"Role"`, "the default is the original one again");
    } finally {
      await t.drop();
    }
  });

  it("cleanup drops what the contract set aside; the schema is then the one Prisma's migration builds", async () => {
    const t = await createTestDatabase();
    const expected = await createTestDatabase();
    try {
      const dir = await tempProject();
      await createUsers(t);
      const outcome = await run(t, onlinePlan("to_clean"), dir);
      // Prisma's own migration for the same change, on the same starting schema.
      await createUsers(expected);
      await expected.db.query(`
        ALTER TYPE "Role" ADD VALUE 'EMPLOYEE';
        ALTER TYPE "Role" ADD VALUE 'MANAGER';`);
      await expected.db.query(`
        UPDATE "User" SET role = 'EMPLOYEE' WHERE role = 'USER';
        CREATE TYPE "Role_new" AS ENUM ('EMPLOYEE', 'MANAGER', 'ADMIN');
        ALTER TABLE "User" ALTER COLUMN role DROP DEFAULT;
        ALTER TABLE "User" ALTER COLUMN role TYPE "Role_new" USING (role::text::"Role_new");
        ALTER TYPE "Role" RENAME TO "Role_old";
        ALTER TYPE "Role_new" RENAME TO "Role";
        DROP TYPE "Role_old";
        ALTER TABLE "User" ALTER COLUMN role SET DEFAULT 'EMPLOYEE';`);
      const result = await cleanup(t.url, { olderThanSeconds: 0, dryRun: false, reconnectTimeoutMs: 10_000, lock: options(dir).config.lock });
      assert.deepEqual(
        result.runs.map((r) => [r.id, r.setAside]),
        [[outcome.runId, ["drop the old column and type set aside"]]],
      );
      assert.equal(await shape(t.db), await shape(expected.db));
      assert.equal(await checksum(t.db), await checksum(expected.db));
      const types = await t.db.query(`SELECT 1 FROM pg_type WHERE typnamespace = 'breakwater'::regnamespace AND typtype = 'e'`);
      assert.equal(types.rows.length, 0, "the old type is gone too");
      await assert.rejects(rollbackRunById(outcome.runId, { ...options(dir), databaseUrl: t.url }), (error: { code: string }) => error.code === "BW_ROLLBACK_CONFLICT");
    } finally {
      await t.drop();
      await expected.drop();
    }
  });

  it("renameValue needs no primary key and takes no snapshot, online or not", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await t.db.query(`
        CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
        CREATE TABLE "Log" (role "Role" NOT NULL, at timestamptz NOT NULL DEFAULT now());
        INSERT INTO "Log" (role) SELECT 'USER' FROM generate_series(1, 1000);`);
      for (const online of [false, true]) {
        const from = online ? "EMPLOYEE" : "USER";
        const to = online ? "MEMBER" : "EMPLOYEE";
        const outcome = await run(
          t,
          { id: `in_place_${online}`, online, steps: [renameEnumValue({ enum: "Role", from, to, contract: "renameValue", appReadsNewValues: true })] },
          dir,
        );
        assert.equal(outcome.state, "completed");
        assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Log" WHERE role::text = $1`, [to])).n, 1000);
      }
      const snapshots = await t.db.query(`SELECT 1 FROM pg_tables WHERE schemaname = 'breakwater' AND tablename LIKE 'snap\\_%'`);
      assert.equal(snapshots.rows.length, 0);
    } finally {
      await t.drop();
    }
  });
});

describe("online plans: what cannot run online is refused before anything runs", () => {
  const refused = (plan: MigrationInput, pattern: RegExp) =>
    assert.throws(
      () => validatePlan(plan),
      (error: Error) => pattern.test(error.message),
    );

  it("names each step and why", () => {
    refused(
      { id: "a", online: true, steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE" })] },
      /online: true, but steps\.0 \(renameEnumValue\): the application reads rows holding EMPLOYEE .* set `appReadsNewValues: true`/,
    );
    refused(
      { id: "b", online: true, steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", contract: "typeSwap", appReadsNewValues: true })] },
      /contract "typeSwap" rewrites every table using the enum under ACCESS EXCLUSIVE/,
    );
    refused({ id: "c", online: true, steps: [backfill({ table: "User", set: { note: "'x'" } })] }, /steps\.0 \(backfill\): /);
    refused(
      { id: "d", online: true, steps: [], checks: [{ name: "same count", sql: 'SELECT count(*) FROM "User"', expect: "before" }] },
      /checks\.0: expect "before" compares with a count measured before the transform/,
    );
    refused(
      { id: "e", online: true, keepMaintenance: true, steps: [], checks: [{ name: "x", sql: "SELECT 1", expect: 1 }] },
      /keepMaintenance: an online plan never turns maintenance mode on/,
    );
  });
});
