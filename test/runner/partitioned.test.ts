import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Database } from "@breakwater/runtime/internal";
import { attempt, createTestDatabase, enumLabels, planSource, runCli, spawnCli, tempProject, transformingRun, waitFor, type TestDatabase } from "../harness.ts";

const slow = `export default { batch: { size: 300, pauseMs: 20 } };\n`;

describe("a partitioned table", () => {
  let t: TestDatabase;
  let app: Database;
  before(async () => {
    t = await createTestDatabase();
    app = await t.connect();
    await t.db.query(`
      CREATE TYPE "Kind" AS ENUM ('USER', 'ADMIN');
      CREATE TABLE "Event" (id int NOT NULL, year int NOT NULL, kind "Kind" NOT NULL DEFAULT 'USER', hits int NOT NULL DEFAULT 0, PRIMARY KEY (id, year)) PARTITION BY RANGE (year);
      CREATE TABLE "Event_2024" PARTITION OF "Event" FOR VALUES FROM (2024) TO (2025);
      CREATE TABLE "Event_2025" PARTITION OF "Event" FOR VALUES FROM (2025) TO (2026);
      INSERT INTO "Event" (id, year, kind) SELECT i, 2024 + i % 2, (CASE WHEN i % 5 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Kind" FROM generate_series(1, 12000) AS i;
      CREATE TABLE "Event_2026" (LIKE "Event");
      ANALYZE "Event";`);
  });
  after(async () => t.drop());

  it("is fenced partition by partition, and its partitions cannot change during the run", async () => {
    const dir = await tempProject({
      "breakwater.config.ts": slow,
      "plan.ts": planSource(`{ id: "events_hit", steps: [backfill({ table: "Event", set: { hits: "hits + 1" } })] }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    const runId = await waitFor(() => transformingRun(t));
    const writes = [
      `INSERT INTO "Event_2025" (id, year) VALUES (100001, 2025)`,
      `UPDATE "Event_2024" SET hits = 99 WHERE id = 2`,
      `DELETE FROM "Event_2024" WHERE id = 4`,
      `INSERT INTO "Event" (id, year) VALUES (100003, 2025)`,
    ];
    for (const sql of writes) {
      const refused = await attempt(app, sql);
      assert.equal(refused?.code, "BW001", `${sql} is refused`);
      assert.match(refused!.message, new RegExp(`are paused while breakwater run ${runId} migrates it`));
    }
    const attach = await attempt(app, `ALTER TABLE "Event" ATTACH PARTITION "Event_2026" FOR VALUES FROM (2026) TO (2027)`);
    assert.equal(attach?.code, "BW001", "ATTACH PARTITION is refused");
    assert.match(attach!.message, /"Event_2026" cannot become a partition of (public\.)?"Event" while breakwater run/);
    assert.equal((await attempt(app, `CREATE TABLE "Event_2027" PARTITION OF "Event" FOR VALUES FROM (2027) TO (2028)`))?.code, "BW001", "a new partition is refused");
    const detach = await attempt(app, `ALTER TABLE "Event" DETACH PARTITION "Event_2024"`);
    assert.equal(detach?.code, "BW001", "DETACH PARTITION is refused");
    assert.equal((await attempt(app, `DROP TABLE "Event_2025"`))?.code, "BW001", "dropping a partition is refused");

    assert.equal(await exited, 0);
    const hits = await t.db.one<{ once: number; other: number }>(
      `SELECT count(*) FILTER (WHERE hits = 1)::int AS once, count(*) FILTER (WHERE hits <> 1)::int AS other FROM "Event"`,
    );
    assert.deepEqual(hits, { once: 12000, other: 0 }, "every row changed exactly once, none by the refused writes");
    assert.equal((await t.db.query(`SELECT 1 FROM pg_trigger WHERE tgname = 'breakwater_write_fence'`)).rowCount, 0, "no fence trigger left on any partition");
    assert.equal((await t.db.query(`SELECT 1 FROM pg_event_trigger WHERE evtname = 'breakwater_partition_guard'`)).rowCount, 0, "the partition guard is gone");
    assert.equal(await attempt(app, `INSERT INTO "Event_2025" (id, year) VALUES (100001, 2025)`), null, "writes work again");
    assert.equal(await attempt(app, `ALTER TABLE "Event" ATTACH PARTITION "Event_2026" FOR VALUES FROM (2026) TO (2027)`), null, "partitions can change again");
    await t.db.query(`DELETE FROM "Event" WHERE id = 100001; ALTER TABLE "Event" DETACH PARTITION "Event_2026"; DROP TABLE "Event_2026"`);
  });

  it("gets the enum rename's shadow column filled partition by partition", async () => {
    const before = await t.db.one<{ user: number; admin: number }>(
      `SELECT count(*) FILTER (WHERE kind = 'USER')::int AS user, count(*) FILTER (WHERE kind = 'ADMIN')::int AS admin FROM "Event"`,
    );
    const dir = await tempProject({
      "breakwater.config.ts": `export default { batch: { size: 500 } };\n`,
      "plan.ts": planSource(`{ id: "events_kind", steps: [renameEnumValue({ enum: "Kind", from: "USER", to: "EMPLOYEE", contract: "shadow" })] }`),
    });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await enumLabels(t.db, '"Kind"'), ["EMPLOYEE", "ADMIN"]);
    const after = await t.db.one<{ employee: number; admin: number }>(
      `SELECT count(*) FILTER (WHERE kind = 'EMPLOYEE')::int AS employee, count(*) FILTER (WHERE kind = 'ADMIN')::int AS admin FROM "Event"`,
    );
    assert.deepEqual(after, { employee: before.user, admin: before.admin });
    const fill = await t.db.one<{ rows: number }>(
      `SELECT rows::int AS rows FROM breakwater.steps s JOIN breakwater.runs r ON r.id = s.run_id WHERE r.plan_id = 'events_kind' AND s.phase = 'transform'`,
    );
    assert.equal(fill.rows, before.admin, "the fill wrote every row the constant default (EMPLOYEE) does not already hold");
  });

  it("resumes a partition-by-partition fill after kill -9 from the partition and block it stopped at", async () => {
    // A type change in maintenance mode fills its new column behind the write fence, block range
    // by block range, partition by partition.
    const before = await t.db.one<{ sum: string; n: number }>(`SELECT sum(hits)::text AS sum, count(*)::int AS n FROM "Event"`);
    const dir = await tempProject({
      "breakwater.config.ts": `export default { batch: { size: 100, pauseMs: 25 } };\n`,
      "plan.ts": planSource(`{ id: "events_hits", steps: [changeColumnType({ table: "Event", column: "hits", type: "bigint" })] }`),
    });
    const child = spawnCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url });
    const cursor = await waitFor(async () => {
      const { rows } = await t.db.query<{ cursor: string[] }>(
        `SELECT cursor FROM breakwater.steps s JOIN breakwater.runs r ON r.id = s.run_id WHERE r.plan_id = 'events_hits' AND s.phase = 'transform' AND s.cursor IS NOT NULL AND s.cursor->>0 LIKE '%2025%'`,
      );
      return rows[0]?.cursor;
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    assert.match(cursor[0]!, /Event_2025/, "the cursor names the partition the fill is in");
    const resumed = await runCli(["resume"], { cwd: dir, databaseUrl: t.url });
    assert.equal(resumed.code, 0, resumed.stderr);
    const after = await t.db.one<{ sum: string; n: number; type: string }>(
      `SELECT sum(hits)::text AS sum, count(*)::int AS n, (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '"Event"'::regclass AND attname = 'hits') AS type FROM "Event"`,
    );
    assert.deepEqual(after, { sum: before.sum, n: before.n, type: "bigint" });
  });
});
