// `breakwater cleanup` drops the snapshots of completed runs older than --older-than (never those
// of newer runs), --dry-run drops nothing, and a cleaned run's rollback refuses before changing
// anything instead of failing midway.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";

describe("breakwater cleanup", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query("CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO items (id) SELECT generate_series(1, 500);");
  });
  after(() => t.drop());

  const snapshots = async () =>
    (
      await t.db.query<{ relname: string }>(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'breakwater' AND c.relkind = 'r' AND relname LIKE 'snap%' ORDER BY 1",
      )
    ).rows.map((r) => r.relname);

  it("drops old completed runs' snapshots only, and their rollback then refuses cleanly", async () => {
    const dir = await tempProject({
      "old.ts": planSource(`{ id: "old_fill", steps: [backfill({ table: "items", set: { n: "n + 1" } })] }`),
      "new.ts": planSource(`{ id: "new_fill", steps: [backfill({ table: "items", set: { n: "n + 10" } })] }`),
    });
    const cli = (...args: string[]) => runCli(args, { cwd: dir, databaseUrl: t.url });
    assert.equal((await cli("run", "old.ts")).code, 0);
    const old = (await t.db.one<{ id: string }>("SELECT id FROM breakwater.runs WHERE plan_id = 'old_fill'")).id;
    // The old run finished two days ago.
    await t.db.query("UPDATE breakwater.runs SET started_at = started_at - interval '2 days', finished_at = finished_at - interval '2 days' WHERE id = $1", [old]);
    assert.equal((await cli("run", "new.ts")).code, 0);
    const before = await snapshots();
    assert.equal(before.length, 2, "each completed backfill keeps its snapshot");

    const none = await cli("cleanup", "--older-than", "3d");
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /No completed run older than 3d keeps a snapshot or anything set aside\./);

    const dry = await cli("cleanup", "--older-than", "1d", "--dry-run", "--json");
    assert.equal(dry.code, 0, dry.stderr);
    const listed = JSON.parse(dry.stdout) as { dryRun: boolean; runs: { id: string; tables: { name: string }[] }[] };
    assert.deepEqual(
      listed.runs.map((r) => r.id),
      [old],
    );
    assert.deepEqual(await snapshots(), before, "--dry-run drops nothing");

    const done = await cli("cleanup", "--older-than", "1d");
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, new RegExp(`${old}  old_fill .*dropped breakwater\\.snap_`));
    const after = await snapshots();
    assert.equal(after.length, 1, "the newer run keeps its snapshot");
    assert.ok(!after[0]!.includes(old.replace(/[^a-z0-9]/gi, "").toLowerCase()));

    const checksum = async () => (await t.db.one<{ s: string }>("SELECT sum(n)::text AS s FROM items")).s;
    const sum = await checksum();
    const refused = await cli("rollback", old);
    assert.equal(refused.code, 7, refused.stderr);
    assert.match(
      refused.stderr,
      /snapshots and what it set aside were removed by `breakwater cleanup` on .*: what it changed can no longer be put back from them\. Nothing was changed\./,
    );
    assert.equal(await checksum(), sum, "nothing changed");
    assert.equal((await t.db.one<{ state: string }>("SELECT state FROM breakwater.runs WHERE id = $1", [old])).state, "completed");

    const newer = (await t.db.one<{ id: string }>("SELECT id FROM breakwater.runs WHERE plan_id = 'new_fill'")).id;
    assert.equal((await cli("rollback", newer)).code, 0, "a run that kept its snapshot still rolls back");
    assert.equal((await cli("cleanup", "--older-than", "soon")).code, 2, "an age that does not parse is a usage error");
  });
});
