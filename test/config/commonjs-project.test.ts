// TypeScript plan and config files in a project whose package.json has no "type": "module" (what
// create-next-app writes): tsx compiles them to CommonJS, and breakwater must load them all the same.
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";

describe('a project without "type": "module"', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(() => t.drop());

  it("loads breakwater.config.ts and a TypeScript plan, and runs the plan", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": 'const config: { reportDir: string } = { reportDir: "reports-from-config" };\nexport default config;\n',
      "plan.ts": planSource('{ id: "commonjs_project", steps: [sql("CREATE TABLE made_by_plan (id int PRIMARY KEY)", { down: "DROP TABLE made_by_plan" })] }'),
    });
    await writeFile(path.join(dir, "package.json"), '{ "name": "next-app", "private": true }\n');
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await t.db.query("SELECT to_regclass('made_by_plan') IS NOT NULL AS made")).rows[0]?.made, true);
    assert.equal((await readdir(path.join(dir, "reports-from-config"))).filter((f) => f.endsWith(".md")).length, 1, "the config's reportDir was used");
  });

  it("says where a syntax error is in such a plan", async () => {
    const dir = await tempProject({ "plan.ts": 'export default {\n  id: "x",\n  steps: [ { op: "sql" up: "SELECT 1" } ],\n};\n' });
    await writeFile(path.join(dir, "package.json"), '{ "private": true }\n');
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /plan\.ts:3:\d+/);
  });
});
