import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";

describe("a lock that stays busy", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN'); CREATE TABLE "User" (id int PRIMARY KEY, role "Role" NOT NULL DEFAULT 'USER')`);
    await t.db.query(`INSERT INTO "User" SELECT i, 'USER' FROM generate_series(1, 100) i`);
  });
  after(async () => t.drop());

  it("exits 5 with a hint naming the config keys that raise the timeout and the retries", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": "export default { lock: { timeoutMs: 50, retries: 1, backoffMs: 10 } };\n",
      "plan.ts": planSource(`{ id: "busy", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", contract: "typeSwap" })] }`),
    });
    const holder = await t.connect();
    await holder.query("BEGIN");
    await holder.query(`SELECT count(*) FROM "User"`); // ACCESS SHARE until COMMIT
    try {
      const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 5, result.stderr);
      assert.match(result.stderr, /\[BW_LOCK_TIMEOUT\]/);
      assert.match(result.stderr, /hint: .*raise lock\.timeoutMs or lock\.retries in breakwater\.config\.ts/);
    } finally {
      await holder.query("COMMIT");
    }
  });
});
