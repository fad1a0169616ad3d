import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { findTool, runTool } from "../../packages/breakwater/src/backup/tools.ts";
import { Database, sqlErrorInfo, withDatabase } from "@breakwater/runtime/internal";
import { startEmbeddedCluster, type EmbeddedCluster } from "../../packages/breakwater/src/db/embedded.ts";
import { quoteIdent } from "../../packages/breakwater/src/db/quote.ts";
import { createTestDatabase, runCli, spawnCli, tempProject, waitFor, type TestDatabase } from "../harness.ts";

async function seed(db: Database): Promise<void> {
  await db.query(`
    CREATE TABLE "User" (id int PRIMARY KEY, email text NOT NULL UNIQUE);
    CREATE TABLE "Post" (id bigint PRIMARY KEY, "authorId" int NOT NULL REFERENCES "User"(id), body text);
    INSERT INTO "User" SELECT i, 'u' || i || '@example.com' FROM generate_series(1, 20000) i;
    INSERT INTO "Post" SELECT i, 1 + i % 20000, repeat('x', i % 200) FROM generate_series(1, 250000) i;`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writer ids start here, above every seeded Post. */
const firstWriterId = 10_000_000;

interface WriterLog {
  /** ids whose INSERT returned success (autocommit: committed) */
  committed: number[];
  /** ids committed after `markEnd()` */
  committedAfterEnd: number[];
  /** ids refused by the database with an error (nothing committed) */
  refused: { id: number; sqlstate: string; message: string }[];
  /** ids whose connection ended while they were sent: outcome unknown to the writer */
  inDoubt: number[];
  reconnects: number;
  /** longest wait for a refusal, ms */
  longestRefusalMs: number;
}

/** Inserts a Post every 10 ms on its own connection; reconnects whenever the connection ends. */
function startWriter(url: string) {
  const log: WriterLog = { committed: [], committedAfterEnd: [], refused: [], inDoubt: [], reconnects: 0, longestRefusalMs: 0 };
  let stopped = false;
  let ended = false;
  let db: Database | null = null;
  let next = firstWriterId;
  const loop = (async () => {
    while (!stopped) {
      const tick = performance.now();
      if (!db) {
        try {
          db = await Database.connect(url, { applicationName: "test writer" });
        } catch {
          await sleep(10);
          continue;
        }
      }
      const id = next++;
      const sent = performance.now();
      try {
        await db.query(`INSERT INTO "Post" (id, "authorId", body) VALUES ($1, 1, 'writer')`, [id]);
        log.committed.push(id);
        if (ended) log.committedAfterEnd.push(id);
      } catch (error) {
        const { sqlstate, message } = sqlErrorInfo(error);
        // 57P01 admin shutdown, 08xxx connection failures, or no SQLSTATE: the connection ended.
        if (sqlstate === undefined || sqlstate.startsWith("57P") || sqlstate.startsWith("08")) {
          log.inDoubt.push(id);
          await db.close();
          db = null;
          log.reconnects++;
        } else {
          log.refused.push({ id, sqlstate, message });
          log.longestRefusalMs = Math.max(log.longestRefusalMs, performance.now() - sent);
        }
      }
      await sleep(Math.max(0, 10 - (performance.now() - tick)));
    }
  })();
  return {
    log,
    markEnd: () => void (ended = true),
    stop: async () => {
      stopped = true;
      await loop;
      await db?.close();
      return log;
    },
  };
}

/** Writer ids in a database. */
async function writerIds(url: string): Promise<Set<number>> {
  const db = await Database.connect(url);
  try {
    const { rows } = await db.query<{ id: number }>(`SELECT id FROM "Post" WHERE id >= $1`, [firstWriterId]);
    return new Set(rows.map((r) => Number(r.id)));
  } finally {
    await db.close();
  }
}

/** Restores a dump into a new database of the same server with the real pg_restore; returns its URL. */
async function restoreIntoScratch(serverUrl: string, dump: string, name: string): Promise<string> {
  const admin = await Database.connect(serverUrl);
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
  } finally {
    await admin.close();
  }
  const url = withDatabase(serverUrl, name);
  const pgRestore = findTool("pg_restore", {}, 15);
  const result = await runTool(pgRestore, ["--exit-on-error", "--no-password", `--dbname=${name}`, dump], url);
  assert.equal(result.code, 0, result.stderr);
  return url;
}

async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = await Database.connect(serverUrl);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.close();
  }
}

function resultOf(stdout: string): { durationSeconds: number } {
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

/** The bad-state dump of the latest restore. */
async function newestBadState(dir: string): Promise<string> {
  const names = (await readdir(path.join(dir, "backups"))).filter((n) => n.endsWith("_bad-state.dump")).sort();
  assert.ok(names.length > 0, "a bad-state dump was written");
  return path.join(dir, "backups", names.at(-1)!);
}

async function newestBackup(dir: string): Promise<string> {
  const names = (await readdir(path.join(dir, "backups"))).filter((n) => n.endsWith(".dump") && !n.includes("bad-state"));
  assert.equal(names.length, 1, names.join(", "));
  return path.join(dir, "backups", names[0]!);
}

/**
 * Restores `backup` while a writer inserts every 10 ms, and checks that every row the writer saw
 * committed is in the bad-state dump or in the database after the restore (committed once writes
 * were allowed again): none lost. Returns the numbers.
 */
async function restoreUnderWriter(t: TestContext, options: { url: string; writerUrl: string; serverUrl: string; dir: string; backup: string }) {
  const writer = startWriter(options.writerUrl);
  await waitFor(async () => writer.log.committed.length >= 20, 30_000, 10);
  const t0 = performance.now();
  const restored = await runCli(["restore", options.backup, "--yes", "--json"], { cwd: options.dir, databaseUrl: options.url });
  const wallSeconds = (performance.now() - t0) / 1000;
  writer.markEnd();
  // Sessions that connected while writes were refused must write again once it is over.
  await waitFor(async () => writer.log.committedAfterEnd.length >= 5, 15_000, 10).catch(() => undefined);
  const log = await writer.stop();
  const badStateBackup = await newestBadState(options.dir);
  const scratch = `bw_test_badstate_${process.pid}_${Date.now()}`;
  try {
    const inDump = await writerIds(await restoreIntoScratch(options.serverUrl, badStateBackup, scratch));
    const inDatabase = await writerIds(options.url);
    const lost = log.committed.filter((id) => !inDump.has(id) && !inDatabase.has(id));
    const numbers = {
      committed: log.committed.length,
      inBadStateDump: log.committed.filter((id) => inDump.has(id)).length,
      committedAfterRestore: log.committed.filter((id) => inDatabase.has(id)).length,
      refused: log.refused.length,
      refusedSqlstates: [...new Set(log.refused.map((r) => r.sqlstate))],
      longestRefusalMs: Math.round(log.longestRefusalMs),
      inDoubt: log.inDoubt.length,
      inDoubtFound: log.inDoubt.filter((id) => inDump.has(id) || inDatabase.has(id)).length,
      reconnects: log.reconnects,
      lost: lost.length,
      restoreSeconds: restored.code === 0 ? resultOf(restored.stdout).durationSeconds : null,
      restoreCommandSeconds: Math.round(wallSeconds * 100) / 100,
    };
    t.diagnostic(JSON.stringify(numbers));
    assert.deepEqual(lost, [], `rows committed but in neither the bad-state dump nor the restored database: ${JSON.stringify(numbers)}`);
    assert.equal(restored.code, 0, restored.stderr);
    assert.ok(log.refused.length > 0, "writes were refused during the restore");
    for (const r of log.refused) {
      assert.equal(r.sqlstate, "25006", r.message);
      assert.match(r.message, /read-only transaction/);
    }
    assert.ok(log.committedAfterEnd.length >= 5, `the writer writes again after the restore (${log.committedAfterEnd.length} rows)`);
    return numbers;
  } finally {
    await dropDatabase(options.serverUrl, scratch);
  }
}

async function assertWriteRefused(url: string): Promise<void> {
  const db = await Database.connect(url);
  try {
    await assert.rejects(db.query(`INSERT INTO "User" VALUES (999999, 'late@example.com')`), (error) => {
      assert.equal(sqlErrorInfo(error).sqlstate, "25006");
      return true;
    });
  } finally {
    await db.close();
  }
}

async function assertWriteAllowed(url: string): Promise<void> {
  const db = await Database.connect(url);
  try {
    await db.query(`INSERT INTO "User" VALUES (999999, 'late@example.com') ON CONFLICT DO NOTHING`);
    await db.query(`DELETE FROM "User" WHERE id = 999999`);
  } finally {
    await db.close();
  }
}

/** Kills `breakwater restore` (SIGKILL) once it has started dumping the bad state. */
async function killMidRestore(backup: string, dir: string, url: string): Promise<void> {
  const child = spawnCli(["restore", backup, "--yes"], { cwd: dir, databaseUrl: url });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => void (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  await waitFor(async () => stderr.includes("dumping the current state"), 60_000, 5);
  child.kill("SIGKILL");
  await exited;
}

describe("restore refuses writes in the database itself", () => {
  let t: TestDatabase;
  let dir: string;
  let backup: string;
  const serverUrl = () => withDatabase(t.url, "postgres");
  before(async () => {
    t = await createTestDatabase();
    await seed(t.db);
    dir = await tempProject();
    const made = await runCli(["backup"], { cwd: dir, databaseUrl: t.url });
    assert.equal(made.code, 0, made.stderr);
    backup = await newestBackup(dir);
  });
  after(async () => t.drop());

  it("loses no row a writer inserting every 10 ms saw committed: each is in the bad-state dump or was written after the restore; the others were refused", async (c) => {
    await restoreUnderWriter(c, { url: t.url, writerUrl: t.url, serverUrl: serverUrl(), dir, backup });
  });

  it("stays closed to writes after a kill -9 mid-restore; restore --lift-fence opens it", async () => {
    await killMidRestore(backup, dir, t.url);
    await assertWriteRefused(t.url);
    const status = await runCli(["restore", "--lift-fence"], { cwd: dir, databaseUrl: t.url });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Writes are allowed again/);
    await assertWriteAllowed(t.url);
    const again = await runCli(["restore", "--lift-fence"], { cwd: dir, databaseUrl: t.url });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /No restore fence/);
  });

  it("after a kill -9 mid-restore, a new restore takes the fence over and opens it when verified", async () => {
    await killMidRestore(backup, dir, t.url);
    await assertWriteRefused(t.url);
    const again = await runCli(["restore", backup, "--yes"], { cwd: dir, databaseUrl: t.url });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /a restore that did not finish/);
    await assertWriteAllowed(t.url);
  });
});

describe("restore by a database owner who is not a superuser (as on managed PostgreSQL)", () => {
  let cluster: EmbeddedCluster;
  let ownerUrl: string;
  let dir: string;
  let backup: string;
  before(async () => {
    cluster = await startEmbeddedCluster();
    const admin = await Database.connect(cluster.url);
    await admin.query(`CREATE ROLE app_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await admin.query(`CREATE DATABASE app OWNER app_owner`);
    await admin.close();
    ownerUrl = withDatabase(cluster.url, "app");
    const u = new URL(ownerUrl);
    u.username = "app_owner";
    ownerUrl = u.toString();
    const db = await Database.connect(ownerUrl);
    await seed(db);
    await db.close();
    dir = await tempProject();
    const made = await runCli(["backup"], { cwd: dir, databaseUrl: ownerUrl });
    assert.equal(made.code, 0, made.stderr);
    backup = await newestBackup(dir);
  });
  after(async () => cluster.stop());

  it("loses no committed row to a writer of the same role", async (c) => {
    await restoreUnderWriter(c, { url: ownerUrl, writerUrl: ownerUrl, serverUrl: cluster.url, dir, backup });
  });

  it("refuses to start when another role's session cannot be ended, and changes nothing", async () => {
    const superuserSession = await Database.connect(withDatabase(cluster.url, "app"));
    try {
      const refused = await runCli(["restore", backup, "--yes"], { cwd: dir, databaseUrl: ownerUrl });
      assert.equal(refused.code, 14, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /Could not end 1 session\(s\) of app that could still write during the restore/);
      assert.match(refused.stderr, /Nothing was changed and writes are allowed again/);
      assert.match(refused.stderr, new RegExp(`pid ${superuserSession.backendPid}`));
      // Still connected and still able to write: nothing was fenced.
      await superuserSession.query(`INSERT INTO "User" VALUES (999998, 'still@example.com')`);
      await superuserSession.query(`DELETE FROM "User" WHERE id = 999998`);
      await assertWriteAllowed(ownerUrl);
    } finally {
      await superuserSession.close();
    }
  });
});
