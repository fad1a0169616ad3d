import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileStore, renameEnumValue } from "../../packages/breakwater/src/index.ts";
import path from "node:path";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { cleanup } from "../../packages/breakwater/src/runner/cleanup.ts";
import { RunFailure, rollbackRunById } from "../../packages/breakwater/src/runner/runner.ts";
import { createTestDatabase, enumLabels, runInProcess, tempProject, type TestDatabase } from "../harness.ts";

describe("lock_timeout with retries", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN'); CREATE TABLE "User" (id int PRIMARY KEY, role "Role" NOT NULL DEFAULT 'USER')`);
    await t.db.query(`INSERT INTO "User" SELECT i, (CASE WHEN i % 2 = 0 THEN 'USER' ELSE 'ADMIN' END)::"Role" FROM generate_series(1, 1000) i`);
  });
  after(async () => t.drop());

  it("waits and retries while another session holds the table, without making the application queue", async () => {
    const holder = await t.connect();
    await holder.query("BEGIN");
    await holder.query(`SELECT count(*) FROM "User"`); // ACCESS SHARE until COMMIT
    const app = await t.connect();
    const appLatencies: number[] = [];
    let stop = false;
    const appLoop = (async () => {
      while (!stop) {
        const start = performance.now();
        await app.query(`SELECT role FROM "User" WHERE id = 7`);
        appLatencies.push(performance.now() - start);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    setTimeout(() => void holder.query("COMMIT"), 1200);
    const { outcome, events } = await runInProcess(
      t.url,
      { id: "waits", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", contract: "shadow" })] },
      {
        lock: { timeoutMs: 100, retries: 50, backoffMs: 50, maxBackoffMs: 200 },
      },
    );
    stop = true;
    await appLoop;
    assert.equal(outcome.state, "completed");
    const retries = events.filter((e) => e.type === "lock-retry");
    assert.ok(retries.length >= 1, "retried at least once");
    const first = retries[0];
    assert.ok(first?.type === "lock-retry" && first.info.blockers.some((b) => b.pid === holder.backendPid), "names the blocking session");
    assert.ok(Math.max(...appLatencies) < 500, `application queries never waited behind the migration (max ${Math.max(...appLatencies).toFixed(0)} ms)`);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "ADMIN"]);
  });

  it("gives up with BW_LOCK_TIMEOUT after the last retry, leaves the table as it was, and rollback clears the rest", async () => {
    // The first run set the old column aside until cleanup: the column's type changes again after it.
    await cleanup(t.url, { olderThanSeconds: 0, dryRun: false, reconnectTimeoutMs: 10_000, lock: resolveConfig({}, "/", null, {}).lock });
    const holder = await t.connect();
    await holder.query("BEGIN");
    await holder.query(`SELECT count(*) FROM "User"`);
    try {
      await assert.rejects(
        runInProcess(
          t.url,
          { id: "gives_up", steps: [renameEnumValue({ enum: "Role", from: "EMPLOYEE", to: "STAFF", contract: "shadow" })] },
          { lock: { timeoutMs: 50, retries: 2, backoffMs: 10 } },
        ),
        (error: unknown) => error instanceof RunFailure && error.code === "BW_LOCK_TIMEOUT" && /after 3 attempts/.test(error.message) && error.outcome.state === "failed",
      );
    } finally {
      await holder.query("COMMIT");
    }
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "ADMIN"]);
    const columns = await t.db.query(`SELECT attname FROM pg_attribute WHERE attrelid = '"User"'::regclass AND attnum > 0 AND NOT attisdropped`);
    assert.deepEqual(
      columns.rows.map((r) => r.attname),
      ["id", "role"],
    );
    const run = await t.db.one<{ id: string; state: string }>(`SELECT id, state FROM breakwater.runs WHERE plan_id = 'gives_up'`);
    assert.equal(run.state, "failed");
    const config = resolveConfig({ maintenance: { file: path.join(await tempProject(), "m.lock") } }, "/", null, {});
    await rollbackRunById(run.id, { config, databaseUrl: t.url, store: fileStore({ path: config.maintenanceFile }) });
    const types = await t.db.query(`SELECT typname FROM pg_type WHERE typname LIKE 'Role%' AND typtype = 'e'`);
    assert.deepEqual(types.rows, [{ typname: "Role" }]);
  });
});
