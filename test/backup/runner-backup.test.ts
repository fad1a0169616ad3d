import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { createUsers } from "../../packages/breakwater/src/demo/users.ts";
import { createTestDatabase, enumLabels, planSource, runCli, tableChecksum, tempProject, type TestDatabase } from "../harness.ts";

describe('a plan with backup: "full"', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await createUsers(t.db, 4000);
  });
  after(async () => t.drop());

  it("takes a pg_dump before the transform, names it in the report, and that dump restores the state before the run", async () => {
    const checksum = await tableChecksum(t.db, `"User"`, "id", `id, email, role::text, "createdAt"`);
    const dir = await tempProject({
      "plan.ts": planSource(
        `{ id: "with_full_backup", backup: "full", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "shadow" })] }`,
      ),
    });
    const result = await runCli(["run", "plan.ts", "--json"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    const report = result.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .find((l) => l.type === "report").report;
    assert.ok(report.backup, "the report names the backup");
    assert.match(report.backup.path, /backups\/backup_\d{8}_\d{6}_before-with_full_backup\.dump$/);
    assert.ok(existsSync(report.backup.path));
    const manifest = JSON.parse(await readFile(`${report.backup.path}.manifest.json`, "utf8"));
    assert.equal(manifest.rowCounts["public.User"], 4000);
    assert.equal(manifest.sha256, report.backup.sha256);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);

    const restored = await runCli(["restore", report.backup.path, "--yes"], { cwd: dir, databaseUrl: t.url });
    assert.equal(restored.code, 0, restored.stderr);
    // The restore ended the sessions connected before it.
    const db = await t.connect();
    assert.deepEqual(await enumLabels(db, '"Role"'), ["USER", "ADMIN"]);
    assert.equal(await tableChecksum(db, `"User"`, "id", `id, email, role::text, "createdAt"`), checksum);
  });
});
