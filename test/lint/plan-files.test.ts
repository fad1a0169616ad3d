// `breakwater lint plan.ts`: a plan's sql steps are linted as breakwater runs them — each step in
// one transaction of its own, with lock_timeout set — and findings point at the plan's own lines
// when the step's SQL stands there verbatim.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";

interface JsonFinding {
  rule: string;
  severity: string;
  file: string;
  line: number;
  column: number;
  message: string;
  fix: string;
}

async function lintJson(dir: string, args: string[]): Promise<{ code: number; findings: JsonFinding[]; stderr: string }> {
  const result = await runCli(["lint", "--format", "json", "--no-catalog", ...args], { cwd: dir });
  return { code: result.code, findings: result.stdout ? (JSON.parse(result.stdout) as { findings: JsonFinding[] }).findings : [], stderr: result.stderr };
}

// The step's SQL in a template literal: it stands in the file as written.
const verbatimPlan = planSource(`{
  id: "plan_lint_verbatim",
  steps: [
    sql(\`SET statement_timeout = '1min';
CREATE INDEX "Item_name_idx" ON "Item" ("name");\`, { down: 'DROP INDEX "Item_name_idx"' }),
  ],
}`);

describe("breakwater lint <plan file>", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TYPE "Kind" AS ENUM ('A', 'B'); CREATE TABLE "Item" (id int PRIMARY KEY, name text, kind "Kind" NOT NULL DEFAULT 'A')`);
    await t.db.query(`INSERT INTO "Item" SELECT i, 'n' || i FROM generate_series(1, 100) AS i`);
  });
  after(() => t.drop());

  it("places a finding on the plan's own line and column when the step's SQL stands there verbatim", async () => {
    const dir = await tempProject({ "plan.ts": verbatimPlan });
    const { code, findings, stderr } = await lintJson(dir, ["plan.ts"]);
    assert.equal(code, 1, stderr);
    const lines = verbatimPlan.split("\n");
    const expectedLine = lines.findIndex((l) => l.startsWith('CREATE INDEX "Item_name_idx"')) + 1;
    assert.deepEqual(
      findings.map((f) => [f.rule, f.file, f.line, f.column]),
      [["index-not-concurrent", "plan.ts", expectedLine, 1]],
    );
  });

  it("names the step when its SQL is an escaped string; a plan step never gets missing-lock-timeout (the runner sets it)", async () => {
    const escaped = planSource(`{ id: "plan_lint_escaped", steps: [sql(${JSON.stringify('ALTER TABLE "Item" ALTER COLUMN "name" SET NOT NULL')}, { label: "name required" })] }`);
    const dir = await tempProject({ "plan.ts": escaped });
    const { code, findings } = await lintJson(dir, ["plan.ts"]);
    assert.equal(code, 1);
    assert.deepEqual(
      findings.map((f) => [f.rule, f.file, f.line]),
      [["set-not-null", 'plan.ts (steps.0 "name required")', 1]],
    );
  });

  it("an enum value added and used in one step is an error (the step is one transaction), and run refuses it at preflight", async () => {
    const plan = planSource(`{ id: "plan_lint_enum", steps: [sql(\`ALTER TYPE "Kind" ADD VALUE 'C';
UPDATE "Item" SET kind = 'C' WHERE id = 1;\`)] }`);
    const dir = await tempProject({ "plan.ts": plan });
    const { code, findings } = await lintJson(dir, ["plan.ts"]);
    assert.equal(code, 1);
    const used = findings.find((f) => f.rule === "prisma-enum-value-added-and-used");
    assert.ok(used, JSON.stringify(findings));
    assert.match(used.message, /breakwater run/);
    assert.match(used.fix, /step of its own/);
    const run = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /prisma-enum-value-added-and-used/);
    // What the finding predicts: with the rule allowed, PostgreSQL refuses the step (55P04) and nothing is left behind.
    const allowed = await runCli(["run", "plan.ts", "--allow", "prisma-enum-value-added-and-used", "--json"], { cwd: dir, databaseUrl: t.url });
    assert.notEqual(allowed.code, 0);
    assert.match(allowed.stdout + allowed.stderr, /55P04|unsafe use of new value/);
    const labels = await t.db.query<{ label: string }>(`SELECT enumlabel AS label FROM pg_enum WHERE enumtypid = '"Kind"'::regtype ORDER BY enumsortorder`);
    assert.deepEqual(
      labels.rows.map((r) => r.label),
      ["A", "B"],
    );
  });

  it("CREATE INDEX CONCURRENTLY in a sql step fails in its transaction: the linter says so", async () => {
    const plan = planSource(`{ id: "plan_lint_concurrently", steps: [sql(\`CREATE INDEX CONCURRENTLY "Item_kind_idx" ON "Item" (kind);\`)] }`);
    const dir = await tempProject({ "plan.ts": plan });
    const { code, findings } = await lintJson(dir, ["plan.ts"]);
    assert.equal(code, 1);
    assert.deepEqual(
      findings.map((f) => f.rule),
      ["concurrently-in-transaction"],
    );
  });

  it("an ignore with a reason in the step's SQL suppresses; a parse error points into the plan; a missing plan exits 2", async () => {
    const ignored = planSource(`{ id: "plan_lint_ignored", steps: [sql(\`-- breakwater-ignore index-not-concurrent: Item holds 100 rows
CREATE INDEX "Item_name_idx" ON "Item" ("name");\`)] }`);
    const broken = planSource(`{ id: "plan_lint_broken", steps: [sql(\`SELECT 1;
ALTER TABLE "Item" ADD COLUMN;\`)] }`);
    const dir = await tempProject({ "ignored.ts": ignored, "broken.ts": broken });
    const clean = await lintJson(dir, ["ignored.ts"]);
    assert.equal(clean.code, 0, JSON.stringify(clean.findings));
    const parse = await lintJson(dir, ["broken.ts"]);
    assert.equal(parse.code, 1);
    const lines = broken.split("\n");
    assert.deepEqual(
      parse.findings.map((f) => [f.rule, f.file, f.line]),
      [["parse-error", "broken.ts", lines.findIndex((l) => l.startsWith('ALTER TABLE "Item" ADD COLUMN;')) + 1]],
    );
    const missing = await runCli(["lint", "--no-catalog", "nowhere.ts"], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nowhere\.ts/);
  });
});
