// A plan in maintenance mode (not online) turns maintenance on and raises the write fence only
// when a step needs writers stopped: createIndex and addForeignKey alone never do, so the
// application keeps writing, the journal has no maintenance or fence step, and the report says
// there was no downtime; a step that needs it (sql) or a check of the plan brings both back.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { addForeignKey, createIndex, sql } from "@breakwater/runtime";
import { fileStore } from "@breakwater/runtime/internal";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { renderMarkdown } from "../../packages/breakwater/src/report/migration-log.ts";
import type { BreakwaterEvent } from "../../packages/breakwater/src/runner/events.ts";
import { rollbackRunById } from "../../packages/breakwater/src/runner/runner.ts";
import { createTestDatabase, runInProcess, type TestDatabase } from "../harness.ts";

describe("maintenance only when a step needs it", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`
      CREATE TABLE authors (id int PRIMARY KEY, email text NOT NULL);
      CREATE TABLE posts (id int PRIMARY KEY, author_id int NOT NULL, title text NOT NULL);
      INSERT INTO authors SELECT i, 'a' || i || '@example.com' FROM generate_series(1, 2000) i;
      INSERT INTO posts SELECT i, 1 + i % 2000, 'p' || i FROM generate_series(1, 5000) i;`);
  });
  after(() => t.drop());

  const steps = (suffix: string) => [
    createIndex({ table: "posts", columns: ["author_id"], name: `posts_author_${suffix}` }),
    addForeignKey({ table: "posts", columns: ["author_id"], references: { table: "authors", columns: ["id"] }, name: `posts_author_fk_${suffix}` }),
  ];

  /** The run's steps as the journal has them: phase and label. */
  const journal = async (runId: string) =>
    (await t.db.query<{ phase: string; label: string }>("SELECT phase, label FROM breakwater.steps WHERE run_id = $1 ORDER BY seq", [runId])).rows;

  it("runs createIndex and addForeignKey without maintenance mode or write fence, and reports no downtime", async () => {
    // The application writes beside the run; a fence would refuse these writes.
    const app = await t.connect();
    let writes = 0;
    let stop = false;
    const writer = (async () => {
      for (let n = 0; !stop; n++) {
        await app.query("UPDATE posts SET title = $1 WHERE id = $2", [`w${n}`, 1 + (n % 5000)]);
        writes += 1;
      }
    })();
    const { outcome, events, dir } = await runInProcess(t.url, { id: "index_and_fk", steps: steps("a") });
    stop = true;
    await writer;
    assert.equal(outcome.state, "completed");
    assert.ok(writes > 5, `the application kept writing (${writes} writes)`);
    assert.ok(!events.some((e) => e.type === "maintenance"), "maintenance mode never turned on");
    assert.ok(!existsSync(path.join(dir, "maintenance", "enabled.lock")), "the maintenance store was never written");
    const phases = (await journal(outcome.runId)).map((s) => s.phase);
    assert.ok(!phases.includes("maintenance_on") && !phases.includes("maintenance_off"), `no maintenance step: ${phases.join(", ")}`);
    const run = await t.db.one<{ maintenance_on_at: Date | null }>("SELECT maintenance_on_at FROM breakwater.runs WHERE id = $1", [outcome.runId]);
    assert.equal(run.maintenance_on_at, null);
    const fenced = await t.db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.fences') IS NOT NULL AS ok");
    assert.equal(fenced.ok, false, "no write fence was ever raised in this database");
    assert.equal(outcome.log.writeOutageSeconds, null);
    assert.match(renderMarkdown(outcome.log), /\*\*Downtime\*\*: None \(no step needs writers stopped: no maintenance mode, no write fence\)/);
    assert.deepEqual((await t.db.query("SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = 'posts'::regclass AND indisvalid ORDER BY 1")).rows, [
      { name: "posts_author_a" },
      { name: "posts_pkey" },
    ]);
  });

  it("keeps maintenance mode and the fence when a step needs them, or the plan has checks of its own", async () => {
    const withSql = await runInProcess(t.url, { id: "index_and_sql", steps: [...steps("b"), sql("UPDATE posts SET title = title || '!' WHERE id = 1")] });
    assert.equal(withSql.outcome.state, "completed");
    assert.deepEqual(
      withSql.events.flatMap((e) => (e.type === "maintenance" ? [e.enabled] : [])),
      [true, false],
    );
    assert.ok((await journal(withSql.outcome.runId)).some((s) => s.label === "raise the write fence on the tables the run changes"));

    const withCheck = await runInProcess(t.url, {
      id: "index_and_check",
      steps: [createIndex({ table: "posts", columns: ["title"], name: "posts_title_c" })],
      checks: [{ name: "posts kept", sql: "SELECT count(*) FROM posts", expect: 5000 }],
    });
    assert.equal(withCheck.outcome.state, "completed");
    assert.ok(withCheck.events.some((e) => e.type === "maintenance" && e.enabled));
  });

  it("rolls a run that needed no maintenance back without maintenance mode", async () => {
    const { outcome, dir } = await runInProcess(t.url, { id: "index_to_undo", steps: [createIndex({ table: "authors", columns: ["email"], name: "authors_email_d" })] });
    assert.equal(outcome.state, "completed");
    const events: BreakwaterEvent[] = [];
    const config = resolveConfig({ maintenance: { file: path.join(dir, "maintenance", "enabled.lock") } }, dir, null, {});
    const undone = await rollbackRunById(outcome.runId, { config, databaseUrl: t.url, store: fileStore({ path: config.maintenanceFile }), emit: (e) => events.push(e) });
    assert.equal(undone.state, "rolled_back");
    assert.ok(!events.some((e) => e.type === "maintenance"), "no maintenance mode during the rollback");
    assert.equal((await t.db.one<{ ok: boolean }>("SELECT to_regclass('authors_email_d') IS NULL AS ok")).ok, true, "the index is dropped");
  });
});
