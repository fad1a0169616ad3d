import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createUsers } from "../../packages/breakwater/src/demo/users.ts";
import { createTestDatabase, enumLabels, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";

// An application built before EMPLOYEE existed fails on every row holding it (Prisma: P2023).
// Unless the plan says the serving application reads the new values, the rename keeps full
// maintenance (reads refused too) from the start of the run until `breakwater maintenance off`.
describe("renameEnumValue and the application that serves meanwhile", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await createUsers(t.db, 3000);
  });
  after(async () => t.drop());

  async function report(dir: string, planId: string): Promise<Record<string, unknown>> {
    const id = (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs WHERE plan_id = $1`, [planId])).id;
    return JSON.parse(await readFile(path.join(dir, "breakwater-reports", `${id}.json`), "utf8")) as Record<string, unknown>;
  }

  it("holds full maintenance until `maintenance off` when the plan does not say the application reads the new values", async () => {
    const dir = await tempProject({
      "plan.ts": planSource(`{ id: "old_app", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", contract: "renameValue" })] }`),
    });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "ADMIN"]);
    assert.match(
      result.stderr,
      /Maintenance is full \(reads refused too\) and stays on after the run until `breakwater maintenance off`: the run writes Role\.EMPLOYEE, which an application built before that value existed cannot read \(Prisma fails with P2023/,
    );
    const lock = path.join(dir, "maintenance", "enabled.lock");
    assert.ok(existsSync(lock), "maintenance stays on after the run");
    assert.equal(JSON.parse(await readFile(lock, "utf8")).mode, "full", "reads are refused too");
    const log = await report(dir, "old_app");
    assert.deepEqual([log.maintenanceMode, log.maintenanceKept], ["full", true]);
    assert.match(String(log.maintenanceReason), /appReadsNewValues: true/);
    assert.match(result.stdout, /\*\*Why full maintenance\*\*: the run writes Role\.EMPLOYEE/);
    assert.match(result.stdout, /maintenance stays on until `breakwater maintenance off`, after the application that reads the new values is deployed/);
    assert.equal((await t.db.query(`SELECT 1 FROM pg_trigger WHERE tgname = 'breakwater_write_fence'`)).rowCount, 0, "the write fence is down");
    assert.equal((await runCli(["maintenance", "off"], { cwd: dir })).code, 0);
    assert.equal(existsSync(lock), false);
  });

  it("uses the configured read-only maintenance and ends it with the run when the application reads the new values", async () => {
    const dir = await tempProject({
      "plan.ts": planSource(
        `{ id: "new_app", steps: [renameEnumValue({ enum: "Role", from: "EMPLOYEE", to: "STAFF", add: ["MANAGER"], contract: "shadow", appReadsNewValues: true })] }`,
      ),
    });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["STAFF", "MANAGER", "ADMIN"]);
    assert.doesNotMatch(result.stderr, /Maintenance is full/);
    assert.equal(existsSync(path.join(dir, "maintenance", "enabled.lock")), false, "maintenance is off after the run");
    const log = await report(dir, "new_app");
    assert.deepEqual([log.maintenanceMode, log.maintenanceKept, log.maintenanceReason], ["read-only", false, null]);
  });
});
