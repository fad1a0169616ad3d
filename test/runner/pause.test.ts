// `breakwater pause <id>` holds a running transform between two batches (no rows written, the
// runner alive, nothing locked), `breakwater continue <id>` lets it finish with every row written
// once; so does the flag file throttle.pauseFile while it exists; throttle.maxBatchRate spaces
// the batches.
import assert from "node:assert/strict";
import { unlink } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { backfill } from "@breakwater/runtime";
import { quoteRegExp } from "../../packages/breakwater/src/db/quote.ts";
import { createTestDatabase, planSource, runCli, runInProcess, spawnCli, tempProject, waitFor, type TestDatabase } from "../harness.ts";

const rows = 20_000;

describe("pause and continue", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO items (id) SELECT generate_series(1, ${rows});`);
  });
  after(() => t.drop());

  /** Rows the transform has written so far (0 before the journal exists). */
  const written = async () => {
    if (!(await t.db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.steps') IS NOT NULL AS ok")).ok) return 0;
    return Number((await t.db.one<{ rows: number }>("SELECT coalesce(sum(rows), 0) AS rows FROM breakwater.steps WHERE phase = 'transform'")).rows);
  };

  it("holds the transform between batches until continue, then every row is written once", async () => {
    const dir = await tempProject({
      "plan.ts": planSource(`{ id: "paused_fill", steps: [backfill({ table: "items", set: { n: "n + 1" } })], batch: { size: 200, pauseMs: 30 } }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await waitFor(async () => (await written()) > 0);
    const runId = (await t.db.one<{ id: string }>("SELECT id FROM breakwater.runs WHERE plan_id = 'paused_fill'")).id;

    const pause = await runCli(["pause", runId], { cwd: dir, databaseUrl: t.url });
    assert.equal(pause.code, 0, pause.stderr);
    assert.match(pause.stdout, new RegExp(`Run ${runId} pauses after its current batch; \`breakwater continue ${runId}\` goes on\\.`));
    await waitFor(() => Promise.resolve(stderr.includes(`paused "`)));
    const held = await written();
    await sleep(1500);
    assert.equal(await written(), held, "no batch while paused");
    assert.ok(held < rows, "paused before the end");
    assert.equal(child.exitCode, null, "the runner waits, it does not stop");
    const status = await runCli(["status", runId, "--json"], { cwd: dir, databaseUrl: t.url });
    assert.ok((JSON.parse(status.stdout) as { pausedAt: string | null }[])[0]!.pausedAt, "status shows the pause");
    const locks = await t.db.one<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'items' AND l.pid <> pg_backend_pid()",
    );
    assert.equal(locks.n, 0, "nothing locked while paused");

    const again = await runCli(["pause", runId], { cwd: dir, databaseUrl: t.url });
    assert.match(again.stdout, /was already paused/);
    const go = await runCli(["continue", runId], { cwd: dir, databaseUrl: t.url });
    assert.equal(go.code, 0, go.stderr);
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /continued "[^"]+" after \d+\.\d s paused/);
    assert.deepEqual((await t.db.query("SELECT n, count(*)::int AS c FROM items GROUP BY n")).rows, [{ n: 1, c: rows }], "every row written exactly once");

    const done = await runCli(["pause", runId], { cwd: dir, databaseUrl: t.url });
    assert.equal(done.code, 9);
    assert.match(done.stderr, /Run .* is completed; only a running run can be paused/);
    const unknown = await runCli(["continue", "20990101000000-zzzz"], { cwd: dir, databaseUrl: t.url });
    assert.equal(unknown.code, 9);
  });

  it("holds the transform while the flag file throttle.pauseFile exists, then goes on when it is removed", async () => {
    await t.db.query(`CREATE TABLE flagged (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO flagged (id) SELECT generate_series(1, ${rows});`);
    const dir = await tempProject({
      "plan.ts": planSource(`{ id: "flagged_fill", steps: [backfill({ table: "flagged", set: { n: "n + 1" } })], batch: { size: 200 } }`),
      // relative to the working directory
      "breakwater.config.js": `export default { throttle: { pauseFile: "hold.flag" } };\n`,
      "hold.flag": "",
    });
    const flag = path.join(dir, "hold.flag");
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    /** The fill's journal row: rows written and cursor. */
    const fill = async () => {
      if (!(await t.db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.steps') IS NOT NULL AS ok")).ok) return undefined;
      const { rows: found } = await t.db.query<{ run_id: string; state: string; rows: string; cursor: string[] | null }>(
        "SELECT s.run_id, s.state, s.rows, s.cursor FROM breakwater.steps s JOIN breakwater.runs r ON r.id = s.run_id WHERE r.plan_id = 'flagged_fill' AND s.phase = 'transform'",
      );
      return found[0];
    };
    // The runner records in the journal that it holds on the flag file.
    await waitFor(
      async () => (await t.db.query("SELECT 1 FROM breakwater.runs WHERE plan_id = 'flagged_fill' AND pause_file IS NOT NULL").catch(() => ({ rowCount: 0 }))).rowCount > 0,
    );
    const held = await fill();
    assert.ok(held && held.state === "running", "the fill has started");
    await sleep(1200);
    assert.deepEqual(await fill(), held, "no batch while the flag file exists");
    assert.equal(Number(held.rows), 0, "held before its first batch");
    assert.equal(held.cursor, null);
    assert.equal(child.exitCode, null, "the runner waits, it does not stop");
    assert.match(stderr, new RegExp(`"backfill flagged" paused: flag file ${quoteRegExp(flag)} exists`));
    const locks = await t.db.one<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'flagged' AND l.pid <> pg_backend_pid()",
    );
    assert.equal(locks.n, 0, "nothing locked while paused");
    const status = await runCli(["status", held.run_id], { cwd: dir, databaseUrl: t.url });
    assert.match(status.stdout, new RegExp(`paused: flag file ${quoteRegExp(flag)} exists \\(since `));
    const json = JSON.parse((await runCli(["status", held.run_id, "--json"], { cwd: dir, databaseUrl: t.url })).stdout) as {
      pausedAt: string | null;
      pauseFile: { path: string } | null;
    }[];
    assert.deepEqual([json[0]!.pausedAt, json[0]!.pauseFile?.path], [null, flag]);

    await unlink(flag);
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /continued "backfill flagged" after \d+\.\d s paused/);
    assert.deepEqual((await t.db.query("SELECT n, count(*)::int AS c FROM flagged GROUP BY n")).rows, [{ n: 1, c: rows }], "every row written exactly once");
    const after = await t.db.one<{ pause_file: string | null }>("SELECT pause_file FROM breakwater.runs WHERE id = $1", [held.run_id]);
    assert.equal(after.pause_file, null, "the journal no longer says paused");
  });

  it("throttle.maxBatchRate starts at most that many batches per second", async () => {
    await t.db.query("CREATE TABLE paced (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO paced (id) SELECT generate_series(1, 1000);");
    const { events } = await runInProcess(
      t.url,
      { id: "paced_fill", steps: [backfill({ table: "paced", set: { n: "n + 1" } })], batch: { size: 100 } },
      { throttle: { maxBatchRate: 10 } },
    );
    const fill = events.find((e) => e.type === "step-done" && e.phase === "transform");
    const batches = events.filter((e) => e.type === "progress").length;
    assert.ok(fill && fill.type === "step-done");
    assert.ok(batches >= 10, `${batches} batches`);
    // A batch starts every 100 ms at the most: the last one no sooner than (batches - 1) × 100 ms.
    assert.ok(fill.durationMs >= (batches - 1) * 100 * 0.95, `${batches} batches in ${fill.durationMs.toFixed(0)} ms`);
    assert.deepEqual((await t.db.query("SELECT DISTINCT n FROM paced")).rows, [{ n: 1 }]);
  });
});
