import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createUsers } from "../../packages/breakwater/src/demo/users.ts";
import { createTestDatabase, enumLabels, planSource, runCli, tableChecksum, tempProject, type TestDatabase } from "../harness.ts";

const config = `export default { batch: { size: 500 } };\n`;

describe("a plan whose check fails", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await createUsers(t.db, 5000);
    await t.db.query(`ALTER TABLE "User" ADD COLUMN score int NOT NULL DEFAULT 0`);
    await t.db.query(`UPDATE "User" SET score = length(id)`);
  });
  after(async () => t.drop());

  for (const contract of ["shadow", "typeSwap"]) {
    it(`restores every row and leaves the enum unchanged (${contract} contract, with a backfill)`, async () => {
      const checksum = await tableChecksum(t.db, `"User"`, "id");
      const dir = await tempProject({
        "breakwater.config.ts": config,
        "plan.ts": planSource(`{
          id: "failing_${contract}",
          steps: [
            backfill({ table: "User", set: { score: "score + 1000" }, where: "role = 'ADMIN'" }),
            renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "${contract}" }),
          ],
          checks: [{ name: "impossible", sql: 'SELECT count(*) FROM "User"', expect: 4999 }],
        }`),
      });
      const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /Check failed: impossible \(expected 4999, got 5000\)/);
      assert.match(result.stdout, /\*\*Rollback\*\*: Needed — data and schema restored/);
      assert.match(result.stdout, /\*\*Status\*\*: Rolled back — data restored/);
      assert.equal(await tableChecksum(t.db, `"User"`, "id"), checksum);
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "ADMIN"]);
      const columns = await t.db.query(`SELECT attname FROM pg_attribute WHERE attrelid = '"User"'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`);
      assert.deepEqual(
        columns.rows.map((r) => r.attname),
        ["id", "email", "role", "createdAt", "score"],
      );
      const types = await t.db.query(`SELECT typname FROM pg_type WHERE typname LIKE 'Role%' AND typtype = 'e'`);
      assert.equal(types.rowCount, 1);
      const snapshots = await t.db.query(`SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'breakwater' AND relname LIKE 'snap_%'`);
      assert.equal(snapshots.rowCount, 0);
      assert.equal(existsSync(path.join(dir, "maintenance", "enabled.lock")), false, "maintenance is off again");
      const run = await t.db.one<{ state: string }>(`SELECT state FROM breakwater.runs WHERE plan_id = $1`, [`failing_${contract}`]);
      assert.equal(run.state, "rolled_back");
      const reports = path.join(dir, "breakwater-reports");
      const id = (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs WHERE plan_id = $1`, [`failing_${contract}`])).id;
      const json = JSON.parse(await readFile(path.join(reports, `${id}.json`), "utf8"));
      assert.equal(json.status, "rolled back");
      assert.equal(json.rollback.restored, true);
    });
  }

  it("undoes the run when a transform hits a data error (SQLSTATE 22P02)", async () => {
    const checksum = await tableChecksum(t.db, `"User"`, "id");
    const dir = await tempProject({
      "breakwater.config.ts": config,
      "plan.ts": planSource(`{ id: "bad_value", steps: [
        backfill({ table: "User", set: { score: "score + 1" } }),
        backfill({ table: "User", set: { role: "'NOPE'" }, where: "role = 'ADMIN'" }),
      ] }`),
    });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /invalid input value for enum "Role": "NOPE" \(SQLSTATE 22P02\)/);
    assert.match(result.stdout, /Rolled back — data restored/);
    assert.equal(await tableChecksum(t.db, `"User"`, "id"), checksum);
  });

  it("snapshots a backfilled enum column as text (a later enum swap is not blocked) and restores it on rollback", async () => {
    const checksum = await tableChecksum(t.db, `"User"`, "id");
    const dir = await tempProject({
      "breakwater.config.ts": config,
      "plan.ts": planSource(`{ id: "enum_backfill", steps: [backfill({ table: "User", set: { role: "'ADMIN'" }, where: "role = 'USER'" })] }`),
    });
    const result = await runCli(["run", "plan.ts", "--json"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    const runId = (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs WHERE plan_id = 'enum_backfill'`)).id;
    const types = await t.db.query<{ type: string }>(
      `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'breakwater' AND c.relname LIKE 'snap_%' AND a.attname = 'role' AND NOT a.attisdropped`,
    );
    assert.ok(types.rows.length > 0, "a snapshot of role was kept");
    assert.ok(
      types.rows.every((r) => r.type === "text"),
      "the snapshot does not depend on the enum type",
    );
    const undone = await runCli(["rollback", runId], { cwd: dir, databaseUrl: t.url });
    assert.equal(undone.code, 0, undone.stderr);
    assert.equal(await tableChecksum(t.db, `"User"`, "id"), checksum);
  });

  it("rollback <id> after a completed run returns data and schema to before", async () => {
    const checksum = await tableChecksum(t.db, `"User"`, "id", `id, email, role::text, "createdAt", score`);
    const dir = await tempProject({
      "breakwater.config.ts": config,
      "plan.ts": planSource(`{ id: "done_then_undone", steps: [
        backfill({ table: "User", set: { score: "score * 2" } }),
        renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "shadow" }),
      ] }`),
    });
    const run = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
    const id = (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs WHERE plan_id = 'done_then_undone'`)).id;
    const undo = await runCli(["rollback", id], { cwd: dir, databaseUrl: t.url });
    assert.equal(undo.code, 0, undo.stderr);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "ADMIN"]);
    assert.equal(await tableChecksum(t.db, `"User"`, "id", `id, email, role::text, "createdAt", score`), checksum);
    const def = await t.db.one<{ def: string }>(
      `SELECT pg_get_expr(adbin, adrelid) AS def FROM pg_attrdef WHERE adrelid = '"User"'::regclass AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = '"User"'::regclass AND attname = 'role')`,
    );
    assert.equal(def.def, `'USER'::"Role"`);
    const state = await t.db.one<{ state: string }>(`SELECT state FROM breakwater.runs WHERE id = $1`, [id]);
    assert.equal(state.state, "rolled_back");
  });

  it("refuses to apply a plan twice, and to start one whose earlier run is unfinished", async () => {
    const dir = await tempProject({ "breakwater.config.ts": config, "plan.ts": planSource(`{ id: "once", steps: [backfill({ table: "User", set: { score: "score + 1" } })] }`) });
    assert.equal((await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url })).code, 0);
    const again = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /Plan once was already applied by run \S+ on /);
    await t.db.query(`UPDATE breakwater.runs SET state = 'failed' WHERE plan_id = 'once'`);
    const unfinished = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(unfinished.code, 2);
    assert.match(unfinished.stderr, /is unfinished \(failed\)/);
    assert.match(unfinished.stderr, /breakwater resume/);
  });

  it("refuses to roll back a completed rename when rows use a value the old type lacks, changing nothing", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": config,
      "plan.ts": planSource(`{ id: "no_way_back", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "typeSwap" })] }`),
    });
    assert.equal((await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url })).code, 0);
    await t.db.query(`UPDATE "User" SET role = 'MANAGER' WHERE id = (SELECT min(id) FROM "User")`);
    const checksum = await tableChecksum(t.db, `"User"`, "id");
    const id = (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs WHERE plan_id = 'no_way_back'`)).id;
    const undo = await runCli(["rollback", id], { cwd: dir, databaseUrl: t.url });
    assert.equal(undo.code, 7, undo.stderr);
    assert.match(undo.stderr, /Rows written after the migration use values the old schema does not have/);
    assert.equal(await tableChecksum(t.db, `"User"`, "id"), checksum);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
    assert.ok(existsSync(path.join(dir, "maintenance", "enabled.lock")), "maintenance stays on");
  });
});

describe("a refused rollback", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await createUsers(t.db, 2000);
  });
  after(async () => t.drop());

  it("lowers the write fence when it refuses a rollback, so the rows can be fixed as the message asks (maintenance stays on)", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": config,
      "plan.ts": planSource(`{ id: "fix_then_back", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "typeSwap" })] }`),
    });
    assert.equal((await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url })).code, 0);
    await t.db.query(`UPDATE "User" SET role = 'MANAGER' WHERE id IN (SELECT id FROM "User" ORDER BY id LIMIT 3)`);
    const id = (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs WHERE plan_id = 'fix_then_back'`)).id;
    const refused = await runCli(["rollback", id], { cwd: dir, databaseUrl: t.url });
    assert.equal(refused.code, 7, refused.stderr);
    assert.match(refused.stderr, /the write fence is lowered so that you can/);
    assert.ok(existsSync(path.join(dir, "maintenance", "enabled.lock")), "maintenance stays on");
    const fixed = await t.db.query(`UPDATE "User" SET role = 'ADMIN' WHERE role = 'MANAGER'`);
    assert.equal(fixed.rowCount, 3, "another session can fix the rows");
    const again = await runCli(["rollback", id], { cwd: dir, databaseUrl: t.url });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "ADMIN"]);
    assert.equal((await t.db.query(`SELECT 1 FROM pg_trigger WHERE tgname = 'breakwater_write_fence'`)).rowCount, 0);
    assert.equal(existsSync(path.join(dir, "maintenance", "enabled.lock")), false, "maintenance is off after the rollback");
  });
});
