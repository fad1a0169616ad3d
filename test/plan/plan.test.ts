import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createUsers } from "../../src/demo/users.ts";
import { createTestDatabase, planSource, runCli, tableChecksum, tempProject, type TestDatabase } from "../harness.ts";

describe("a malformed plan or config", () => {
  let t: TestDatabase;
  let checksum: string;
  before(async () => {
    t = await createTestDatabase();
    await createUsers(t.db, 500);
    checksum = await tableChecksum(t.db, `"User"`, "id");
  });
  after(async () => t.drop());

  const cases: [string, Record<string, string>, RegExp][] = [
    ["a plan without id", { "plan.ts": planSource(`{ steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE" })] }`) }, /Invalid plan plan\.ts: id: /],
    ["an unknown operation", { "plan.ts": planSource(`{ id: "x", steps: [{ op: "dropEverything" }] }`) }, /steps\.0\.op: unknown operation "dropEverything" \(known: renameEnumValue, addEnumValue, backfill, sql\)/],
    ["a misspelled option", { "plan.ts": planSource(`{ id: "x", steps: [{ op: "renameEnumValue", enum: "Role", form: "USER", to: "EMPLOYEE" }] }`) }, /steps\.0\.from: .*expected string/i],
    ["a plan with no steps", { "plan.ts": planSource(`{ id: "x", steps: [] }`) }, /steps: a plan needs at least one step, or at least one check/],
    ["a syntax error", { "plan.ts": `export default {{ id: ` }, /Cannot load plan plan\.ts/],
    ["a missing file", {}, /Plan file not found: plan\.ts/],
    ["an enum that does not exist", { "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "role", from: "USER", to: "EMPLOYEE" })] }`) }, /Enum type public\.role does not exist/],
    ["a value the enum does not have", { "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "Role", from: "GUEST", to: "EMPLOYEE" })] }`) }, /Enum public\.Role has no value "GUEST" \(values: USER, ADMIN\)/],
    ["a backfill with invalid SQL", { "plan.ts": planSource(`{ id: "x", steps: [backfill({ table: "User", set: { email: "no_such_column" } })] }`) }, /The backfill of User is not valid SQL/],
    ["an invalid config", { "breakwater.config.ts": `export default { batch: { size: -1 } };`, "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE" })] }`) }, /Invalid configuration in breakwater\.config\.ts: batch\.size: /],
  ];

  for (const [name, files, message] of cases) {
    it(`reports ${name} clearly and changes nothing`, async () => {
      const dir = await tempProject(files);
      const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(await tableChecksum(t.db, `"User"`, "id"), checksum);
      const schema = await t.db.one<{ ok: boolean }>("SELECT to_regnamespace('breakwater') IS NULL AS ok");
      assert.ok(schema.ok, "not even the journal was created");
    });
  }

  it("says how to set DATABASE_URL when it is missing", async () => {
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "x", steps: [sql("SELECT 1")] }`) });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, env: { DATABASE_URL: "" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /DATABASE_URL is not set/);
    assert.match(result.stderr, /npx breakwater demo/);
  });
});
