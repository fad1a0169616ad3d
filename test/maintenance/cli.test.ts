import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { postgresStore } from "@breakwater/runtime/internal";
import { createTestDatabase, planSource, runCli, spawnCli, tempProject, waitFor, type TestDatabase } from "../harness.ts";

describe("breakwater maintenance", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.drop());

  it("turns the file store on and off, with reason, retry-after and expiry", async () => {
    const dir = await tempProject();
    const on = await runCli(["maintenance", "on", "--read-only", "--reason", "Role migration", "--retry-after", "90", "--until", "30m"], { cwd: dir });
    assert.equal(on.code, 0, on.stderr);
    const file = path.join(dir, "maintenance", "enabled.lock");
    const content = JSON.parse(await readFile(file, "utf8"));
    assert.deepEqual([content.mode, content.reason, content.retryAfter], ["read-only", "Role migration", 90]);
    assert.ok(Math.abs(Date.parse(content.until) - Date.now() - 30 * 60_000) < 60_000);
    const status = JSON.parse((await runCli(["maintenance", "status", "--json"], { cwd: dir })).stdout);
    assert.deepEqual([status.active, status.mode, status.store], [true, "read-only", "file"]);
    assert.equal((await runCli(["maintenance", "off"], { cwd: dir })).code, 0);
    assert.equal(existsSync(file), false);
    const bad = await runCli(["maintenance", "on", "--until", "tomorrow-ish"], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--until must be an ISO date-time or a duration like 30m/);
  });

  it("turns the postgres store on and off", async () => {
    const dir = await tempProject();
    assert.equal((await runCli(["maintenance", "on", "--store", "postgres", "--reason", "x"], { cwd: dir, databaseUrl: t.url })).code, 0);
    const state = await postgresStore({ url: t.url }).read();
    assert.deepEqual([state.enabled, state.mode, state.reason], [true, "full", "x"]);
    const status = await runCli(["maintenance", "status", "--store", "postgres"], { cwd: dir, databaseUrl: t.url });
    assert.match(status.stdout, /Maintenance ON \(full\) — x/);
    assert.doesNotMatch(status.stdout, /postgres:\/\//, "no URL (and so no credentials) in the output");
    assert.equal((await runCli(["maintenance", "off", "--store", "postgres"], { cwd: dir, databaseUrl: t.url })).code, 0);
    assert.equal((await postgresStore({ url: t.url }).read()).enabled, false);
  });

  it("prints a bypass link with the configured secret", async () => {
    const dir = await tempProject();
    const result = await runCli(["maintenance", "secret", "--base-url", "https://app.example.com/"], { cwd: dir, env: { BREAKWATER_MAINTENANCE_SECRET: "abc123" } });
    assert.equal(result.stdout.trim(), "https://app.example.com/__maintenance/bypass/abc123");
  });

  it("is what a run uses: the configured store and mode, on during the run and off after", async () => {
    await t.db.query(`CREATE TABLE "Thing" (id int PRIMARY KEY, v int NOT NULL DEFAULT 0); INSERT INTO "Thing" (id) SELECT generate_series(1, 6000)`);
    const dir = await tempProject({
      "breakwater.config.ts": `export default { maintenance: { store: "postgres", mode: "full" }, batch: { size: 200, pauseMs: 20 } };\n`,
      "plan.ts": planSource(`{ id: "with_pg_store", steps: [backfill({ table: "Thing", set: { v: "v + 1" } })] }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    const during = await waitFor(async () => {
      const s = await postgresStore({ url: t.url }).read();
      return s.enabled ? s : undefined;
    });
    assert.equal(during.mode, "full");
    assert.match(during.reason ?? "", /breakwater run \S+ \(with_pg_store\)/);
    assert.equal(await exited, 0);
    assert.equal((await postgresStore({ url: t.url }).read()).enabled, false);
    assert.equal(existsSync(path.join(dir, "maintenance", "enabled.lock")), false, "the file store was not used");
  });
});
