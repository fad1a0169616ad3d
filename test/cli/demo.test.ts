import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { root, runCli } from "../harness.ts";

describe("breakwater demo", () => {
  it("renames USER to EMPLOYEE in a User table's Role enum on a throwaway PostgreSQL and reports the counts before and after", async () => {
    const result = await runCli(["demo", "--rows", "20000"], { cwd: root, env: { DATABASE_URL: "" } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\| USER before = EMPLOYEE after \(User\.role\) \| 18000 \| 18000 \| pass \|/);
    assert.match(result.stdout, /\| USER left \(User\.role\) \| 0 \| 0 \| pass \|/);
    assert.match(result.stdout, /\| values of Role \| EMPLOYEE, MANAGER, ADMIN \| EMPLOYEE, MANAGER, ADMIN \| pass \|/);
    assert.match(result.stdout, /\*\*Status\*\*: Successful/);
    assert.match(result.stdout, /\*\*Rows changed\*\*: 18,000/);
  });

  it("--fail-check shows the automatic rollback and exits 3", async () => {
    const result = await runCli(["demo", "--rows", "3000", "--fail-check"], { cwd: root, env: { DATABASE_URL: "" } });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stdout, /\*\*Status\*\*: Rolled back — data restored/);
    assert.match(result.stderr, /After the rollback: 3000 users, 2700 with USER, Role values: USER, ADMIN\./);
  });

  it("--json prints events and the report as JSON lines", async () => {
    const result = await runCli(["demo", "--rows", "1000", "--json"], { cwd: root, env: { DATABASE_URL: "" } });
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const report = lines.find((l) => l.type === "report").report;
    assert.equal(report.status, "successful");
    assert.ok(lines.some((l) => l.type === "step-done" && l.phase === "contract"));
  });
});
