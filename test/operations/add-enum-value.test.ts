import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { addEnumValue, backfill } from "../../packages/breakwater/src/index.ts";
import { createTestDatabase, enumLabels, runInProcess, type TestDatabase } from "../harness.ts";

describe("addEnumValue", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN'); CREATE TABLE "User" (id int PRIMARY KEY, role "Role" NOT NULL)`);
    await t.db.query(`INSERT INTO "User" SELECT i, 'USER' FROM generate_series(1, 100) i`);
  });
  after(async () => t.drop());

  it("commits the new value before a later step uses it (no 55P04)", async () => {
    // In one transaction PostgreSQL refuses this: unsafe use of new value "MANAGER" (55P04).
    const tx = await t.connect();
    await tx.query("BEGIN");
    await tx.query(`ALTER TYPE "Role" ADD VALUE 'MANAGER'`);
    await assert.rejects(tx.query(`UPDATE "User" SET role = 'MANAGER' WHERE id = 1`), (e: { code?: string }) => e.code === "55P04");
    await tx.query("ROLLBACK");

    const { outcome } = await runInProcess(t.url, {
      id: "add_and_use",
      steps: [addEnumValue({ enum: "Role", value: "MANAGER", before: "ADMIN" }), backfill({ table: "User", set: { role: "'MANAGER'" }, where: "id <= 10" })],
    });
    assert.equal(outcome.state, "completed");
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["USER", "MANAGER", "ADMIN"]);
    const managers = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE role = 'MANAGER'`);
    assert.equal(managers.n, 10);
    assert.equal(outcome.log.totalRowsChanged, 10);
  });
});
