// A transaction-mode pooler (a real PgBouncer) in front of the database: breakwater notices it
// before taking any session-level lock, then uses DIRECT_URL for the runner, deploy and the
// postgres maintenance store, or refuses before changing anything; no advisory lock is left behind.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Database } from "@breakwater/runtime/internal";
import { detectTransactionPooler } from "../../packages/breakwater/src/db/pooler.ts";
import { startPgBouncer, type PgBouncer, type PgBouncerSettings } from "../fixtures/pgbouncer.ts";
import { createTestDatabase, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";
import { writeMigrations } from "../prisma/deploy-project.ts";

describe("a transaction-mode pooler (PgBouncer) in front of the database", () => {
  let bouncer: PgBouncer;
  const databases: TestDatabase[] = [];

  /** A database of its own, with 200 rows in `items` (or empty, for Prisma). */
  const fresh = async (items = true) => {
    const t = await createTestDatabase();
    databases.push(t);
    if (items) await t.db.query("CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO items (id) SELECT generate_series(1, 200);");
    return t;
  };
  /** Advisory locks held in the database, by any session: through PgBouncer's server connections too. */
  const advisoryLocks = async (t: TestDatabase) =>
    (
      await t.db.one<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      )
    ).n;
  const sumOfN = async (t: TestDatabase) => (await t.db.one<{ n: number }>("SELECT sum(n)::int AS n FROM items")).n;
  const exists = async (t: TestDatabase, name: string) => (await t.db.one<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [name])).ok;

  const plan = planSource(`{
    id: "pooler_fill",
    steps: [
      sql("CREATE TABLE runner_session AS SELECT current_setting('bw.via', true) AS via, EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()) AS holds_runner_lock", { down: "DROP TABLE runner_session" }),
      backfill({ table: "items", set: { n: "n + 1" } }),
    ],
  }`);
  // The postgres maintenance store, so the run turns maintenance on and off in the database too.
  const postgresStoreConfig = `export default { maintenance: { store: "postgres" } };\n`;

  before(async () => {
    const t = await fresh();
    bouncer = await startPgBouncer(t.url);
  });
  after(async () => {
    await bouncer?.stop();
    for (const t of databases) await t.drop();
  });

  it("tells PgBouncer in transaction mode (any pool size) from PostgreSQL itself and from session mode, in a few milliseconds", async (context) => {
    const t = databases[0]!;
    const pooled = bouncer.through(t.url);
    const viaPooler = await Database.connect(pooled);
    try {
      assert.equal((await viaPooler.one<{ via: string | null }>("SELECT current_setting('bw.via', true) AS via")).via, "pgbouncer", "the URL goes through PgBouncer");
    } finally {
      await viaPooler.close();
    }
    const found = await detectTransactionPooler(pooled);
    assert.match(found.transactionPooler ?? "", /two connections were served by the same backend|the backend pid changed between transactions/, JSON.stringify(found));

    const direct: number[] = [];
    for (let i = 0; i < 5; i++) {
      const probe = await detectTransactionPooler(t.url);
      assert.equal(probe.transactionPooler, null, `PostgreSQL itself is not a pooler: ${JSON.stringify(probe)}`);
      assert.notEqual(probe.pids[0][0], probe.pids[1][0]);
      direct.push(probe.durationMs);
    }
    direct.sort((a, b) => a - b);
    context.diagnostic(`detection: ${direct[2]!.toFixed(1)} ms median on a direct URL (2 connections, 5 round trips), ${found.durationMs.toFixed(1)} ms through PgBouncer`);

    const variants: [string, PgBouncerSettings, boolean][] = [
      ["a pool of one server connection", { poolSize: 1 }, true],
      ["server_round_robin", { roundRobin: true }, true],
      ["session mode", { poolMode: "session" }, false],
    ];
    for (const [label, settings, pooler] of variants) {
      const other = await startPgBouncer(t.url, settings);
      try {
        const probe = await detectTransactionPooler(other.through(t.url));
        assert.equal(probe.transactionPooler !== null, pooler, `${label}: ${JSON.stringify(probe)}\n${other.log()}`);
      } finally {
        await other.stop();
      }
    }
    assert.equal((await detectTransactionPooler(`${t.url}?pgbouncer=true`)).transactionPooler, "the URL says ?pgbouncer=true");
    assert.equal(await advisoryLocks(t), 0);
  });

  it("runs a plan on DIRECT_URL when DATABASE_URL goes through PgBouncer, and completes", async () => {
    const t = await fresh();
    const dir = await tempProject({ "plan.ts": plan, "breakwater.config.mjs": postgresStoreConfig });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: bouncer.through(t.url), env: { DIRECT_URL: t.url } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /DATABASE_URL \(127\.0\.0\.1:\d+\/bw_test_\w+\) goes through a transaction-mode connection pooler such as PgBouncer: .*; using DIRECT_URL/);
    assert.equal(await sumOfN(t), 200, "every row was backfilled");
    assert.equal((await t.db.one<{ state: string }>("SELECT state FROM breakwater.runs")).state, "completed");
    // The runner's steps ran in the session that holds the runner lock, and not through PgBouncer.
    assert.deepEqual(await t.db.one("SELECT via, holds_runner_lock FROM runner_session"), { via: null, holds_runner_lock: true });
    assert.equal((await t.db.one<{ enabled: boolean }>("SELECT enabled FROM breakwater.maintenance")).enabled, false, "maintenance on and off again");
    assert.equal(await advisoryLocks(t), 0);
  });

  it("refuses before changing anything when there is no DIRECT_URL, or when it goes through the pooler too", async () => {
    const t = await fresh();
    const dir = await tempProject({ "plan.ts": plan, "breakwater.config.mjs": postgresStoreConfig });
    const pooled = bouncer.through(t.url);
    const refused = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: pooled, env: { DIRECT_URL: "" } });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /DATABASE_URL \(127\.0\.0\.1:\d+\/bw_test_\w+\) goes through a transaction-mode connection pooler such as PgBouncer: .*, and DIRECT_URL is not set\. Nothing was changed\. \[BW_TRANSACTION_POOLER\]/,
    );
    assert.match(refused.stderr, /hint: Set DIRECT_URL \(or directUrl in breakwater\.config\.ts\) to a URL that reaches PostgreSQL directly/);

    const bothPooled = await runCli(["run", "plan.ts", "--json"], { cwd: dir, databaseUrl: pooled, env: { DIRECT_URL: `${pooled}?application_name=direct` } });
    assert.equal(bothPooled.code, 2, bothPooled.stderr);
    const error = (JSON.parse(bothPooled.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, "BW_TRANSACTION_POOLER");
    assert.match(error.message, /, and so does DIRECT_URL \(127\.0\.0\.1:\d+\/bw_test_\w+\): /);

    assert.equal(await exists(t, "breakwater.runs"), false, "no journal");
    assert.equal((await t.db.one<{ n: number }>("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'breakwater'")).n, 0, "no breakwater schema");
    assert.equal(await exists(t, "runner_session"), false);
    assert.equal(await sumOfN(t), 0, "the table is unchanged");
    assert.equal(await advisoryLocks(t), 0);
  });

  it("deploys Prisma migrations on DIRECT_URL when DATABASE_URL goes through PgBouncer, and refuses without it", async () => {
    const t = await fresh(false);
    const dir = await tempProject();
    await writeMigrations(dir, [
      ["20250101000000_init", `CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY, "title" TEXT NOT NULL);\n`],
      ["20250102000000_posts", `INSERT INTO "Post" ("title") SELECT 'post ' || i FROM generate_series(1, 10) i;\n`],
    ]);
    const withSchema = (url: string) => {
      const parsed = new URL(url);
      parsed.searchParams.set("schema", "public");
      return parsed.toString();
    };
    const pooled = withSchema(bouncer.through(t.url));

    const refused = await runCli(["deploy"], { cwd: dir, databaseUrl: pooled, env: { DIRECT_URL: "" } });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /goes through a transaction-mode connection pooler[\s\S]*hint: Set DIRECT_URL/);
    assert.equal(await exists(t, '"_prisma_migrations"'), false, "nothing was changed");
    assert.equal(await exists(t, '"Post"'), false);

    const deployed = await runCli(["deploy"], { cwd: dir, databaseUrl: pooled, env: { DIRECT_URL: withSchema(t.url) } });
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stdout, /Applied 2 migration\(s\)/);
    assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`)).n, 2);
    assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Post"`)).n, 10);

    const status = await runCli(["migrate", "status"], { cwd: dir, databaseUrl: pooled, env: { DIRECT_URL: withSchema(t.url) } });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Applied \(2\)/);
    assert.equal(await advisoryLocks(t), 0);
  });

  it("takes a direct DATABASE_URL as it is, with no DIRECT_URL", async () => {
    const t = await fresh();
    const dir = await tempProject({ "plan.ts": plan });
    const result = await runCli(["run", "plan.ts"], { cwd: dir, databaseUrl: t.url, env: { DIRECT_URL: "" } });
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /transaction-mode|DIRECT_URL/);
    assert.equal(await sumOfN(t), 200);
    assert.deepEqual(await t.db.one("SELECT via, holds_runner_lock FROM runner_session"), { via: null, holds_runner_lock: true });
    assert.equal(await advisoryLocks(t), 0);
  });
});
