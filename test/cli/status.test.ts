import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";

describe("breakwater status", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.drop());

  it("says there are no runs yet, and exits 0, on a database breakwater never ran on", async () => {
    const dir = await tempProject();
    const result = await runCli(["status"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /No breakwater runs in this database yet\./);
    const json = await runCli(["status", "--json"], { cwd: dir, databaseUrl: t.url });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), []);
  });

  it("exits 9 (BW_RUN_NOT_FOUND) for a run id the database does not have, with or without runs", async () => {
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "status_plan", steps: [sql("SELECT 1")] }`) });
    const before = await runCli(["status", "20990101000000-zzzz"], { cwd: dir, databaseUrl: t.url });
    assert.equal(before.code, 9, before.stderr);
    assert.match(before.stderr, /No run 20990101000000-zzzz in this database: breakwater has never run on it\. \[BW_RUN_NOT_FOUND\]/);
    assert.match(before.stderr, /hint: Check DATABASE_URL; `breakwater status` lists the runs/);

    const run = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(run.code, 0, run.stderr);
    const after = await runCli(["status", "20990101000000-zzzz"], { cwd: dir, databaseUrl: t.url });
    assert.equal(after.code, 9, after.stderr);
    assert.match(after.stderr, /No run 20990101000000-zzzz in this database\. \[BW_RUN_NOT_FOUND\]/);
    assert.match(after.stderr, /hint: `breakwater status` lists the runs/);
    assert.doesNotMatch(after.stdout, /status_plan/, "no other run is listed in its place");

    const known = JSON.parse((await runCli(["status", "--json"], { cwd: dir, databaseUrl: t.url })).stdout) as { id: string }[];
    const one = await runCli(["status", known[0]!.id], { cwd: dir, databaseUrl: t.url });
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /status_plan\s+completed/);
  });

  it("prints a JSON error object on stdout for an unknown run id with --json, and exits 9", async () => {
    const result = await runCli(["status", "20990101000000-zzzz", "--json"], { cwd: await tempProject(), databaseUrl: t.url });
    assert.equal(result.code, 9, result.stderr);
    const output = JSON.parse(result.stdout) as { type: string; error: { code: string; message: string; hint: string } };
    assert.equal(output.type, "error");
    assert.equal(output.error.code, "BW_RUN_NOT_FOUND");
    assert.match(output.error.message, /No run 20990101000000-zzzz in this database/);
    assert.match(output.error.hint, /`breakwater status` lists the runs/);
  });
});
