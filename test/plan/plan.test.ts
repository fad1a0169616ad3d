import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createUsers } from "../../packages/breakwater/src/demo/users.ts";
import { createTestDatabase, enumLabels, indexUrl, planSource, runCli, tableChecksum, tempProject, type TestDatabase } from "../harness.ts";

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
    [
      "an unknown operation",
      { "plan.ts": planSource(`{ id: "x", steps: [{ op: "dropEverything" }] }`) },
      /steps\.0\.op: unknown operation "dropEverything" \(known: renameEnumValue, addEnumValue, backfill, [^)]*\bsql\b[^)]*\)/,
    ],
    [
      "a misspelled option",
      { "plan.ts": planSource(`{ id: "x", steps: [{ op: "renameEnumValue", enum: "Role", form: "USER", to: "EMPLOYEE" }] }`) },
      /steps\.0\.from: .*expected string/i,
    ],
    ["a plan with no steps", { "plan.ts": planSource(`{ id: "x", steps: [] }`) }, /steps: a plan needs at least one step, or at least one check/],
    [
      "a syntax error, with its position and line",
      {
        "plan.ts": `import { defineMigration } from ${JSON.stringify(indexUrl)};\nexport default defineMigration({\n  id: "x",\n  steps: [ { op: "sql" sql: "SELECT 1" } ],\n});\n`,
      },
      /Cannot load plan plan\.ts: plan\.ts:4:24: syntax error: Expected "}" but found "sql" \[BW_PLAN_INVALID\]\n\s+4 \| {3}steps: \[ \{ op: "sql" sql: "SELECT 1" \} \],\n\s+\| {24}\^\n/,
    ],
    [
      "a syntax error at the end of the file",
      { "plan.ts": 'export default {\n  id: "x",\n' },
      /Cannot load plan plan\.ts: plan\.ts:3:1: syntax error: Expected identifier but found end of file/,
    ],
    [
      "a syntax error in a module the plan imports",
      { "plan.ts": `import { steps } from "./steps.ts";\nexport default { id: "x", steps };\n`, "steps.ts": "export const steps = [\n  { op: 'sql', sql: 'SELECT 1' ]\n];\n" },
      /Cannot load plan plan\.ts: steps\.ts:2:32: syntax error: Expected "}" but found "\]"/,
    ],
    [
      "an error thrown while the plan loads",
      { "plan.ts": `${planSource(`{ id: "x", steps: [sql("SELECT 1")] }`)}\nthrow new Error("no plan today");\n` },
      /Cannot load plan plan\.ts: plan\.ts:4:7: Error: no plan today \[BW_PLAN_INVALID\]\n\s+4 \| throw new Error\("no plan today"\);\n\s+\| {7}\^/,
    ],
    [
      "an import of a file that does not exist",
      { "plan.ts": `// the steps live next door\nimport { steps } from "./steps.ts";\nexport default { id: "x", steps };\n` },
      /Cannot load plan plan\.ts: plan\.ts:2:23: Error: Cannot find module 'steps\.ts' imported from plan\.ts/,
    ],
    [
      "an import of a name the module does not export",
      { "plan.ts": `import { defineMigration, renameEnumValues } from ${JSON.stringify(indexUrl)};\nexport default defineMigration({ id: "x", steps: [renameEnumValues()] });\n` },
      /Cannot load plan plan\.ts: plan\.ts:1: SyntaxError: The requested module '.*' does not provide an export named 'renameEnumValues'/,
    ],
    ["a missing file", {}, /Plan file not found: plan\.ts/],
    [
      "an enum that does not exist",
      { "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "role", from: "USER", to: "EMPLOYEE" })] }`) },
      /Enum type public\.role does not exist/,
    ],
    [
      "a value the enum does not have",
      { "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "Role", from: "GUEST", to: "EMPLOYEE" })] }`) },
      /Enum public\.Role has no value "GUEST" \(values: USER, ADMIN\)/,
    ],
    [
      "a backfill with invalid SQL",
      { "plan.ts": planSource(`{ id: "x", steps: [backfill({ table: "User", set: { email: "no_such_column" } })] }`) },
      /The backfill of User is not valid SQL/,
    ],
    [
      "a value added twice",
      { "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER", "MANAGER"] })] }`) },
      /Invalid plan plan\.ts: steps\.0\.add: "MANAGER" is listed twice/,
    ],
    [
      "a value listed twice in `values`",
      { "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", values: ["EMPLOYEE", "ADMIN", "EMPLOYEE"] })] }`) },
      /Invalid plan plan\.ts: steps\.0\.values: "EMPLOYEE" is listed twice/,
    ],
    [
      "the renamed value added back",
      { "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["USER", "MANAGER"] })] }`) },
      /Invalid plan plan\.ts: steps\.0\.add: "USER" is the value renamed by `from`/,
    ],
    [
      "a syntax error in breakwater.config.ts",
      { "breakwater.config.ts": "export default {\n  lock: { timeoutMs: 100 \n};\n", "plan.ts": planSource(`{ id: "x", steps: [sql("SELECT 1")] }`) },
      /Cannot load breakwater\.config\.ts: breakwater\.config\.ts:3:2: syntax error: Expected "}" but found ";" \[BW_CONFIG_INVALID\]\n\s+3 \| \};\n\s+\| {2}\^/,
    ],
    [
      "an error thrown while breakwater.config.ts loads",
      {
        "breakwater.config.ts": "const url: string | undefined = undefined;\nexport default { databaseUrl: url!.trim() };\n",
        "plan.ts": planSource(`{ id: "x", steps: [sql("SELECT 1")] }`),
      },
      /Cannot load breakwater\.config\.ts: breakwater\.config\.ts:2:\d+: TypeError: Cannot read properties of undefined \(reading 'trim'\)/,
    ],
    [
      "an invalid config",
      {
        "breakwater.config.ts": `export default { batch: { size: -1 } };`,
        "plan.ts": planSource(`{ id: "x", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE" })] }`),
      },
      /Invalid configuration in breakwater\.config\.ts: batch\.size: /,
    ],
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

describe("renameEnumValue's add", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await createUsers(t.db, 200);
  });
  after(async () => t.drop());

  it("takes `to` listed in `add` as already wanted: the value is created once", async () => {
    const dir = await tempProject({
      "plan.ts": planSource(`{ id: "to_in_add", steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["EMPLOYEE", "MANAGER"] })] }`),
    });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
  });
});
