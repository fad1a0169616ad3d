import assert from "node:assert/strict";
import { chmod, open, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Database, withDatabase } from "@breakwater/runtime/internal";
import { startEmbeddedCluster, type EmbeddedCluster } from "../../packages/breakwater/src/db/embedded.ts";
import { createTestDatabase, runCli, spawnCli, tableChecksum, tempProject, waitFor, type TestDatabase } from "../harness.ts";

async function seed(db: Database): Promise<void> {
  await db.query(`
    CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
    CREATE TABLE "User" (id int PRIMARY KEY, email text NOT NULL UNIQUE, role "Role" NOT NULL DEFAULT 'USER');
    CREATE TABLE "Post" (id bigserial PRIMARY KEY, "authorId" int NOT NULL REFERENCES "User"(id), body text);
    CREATE TABLE "_prisma_migrations" (id text PRIMARY KEY, checksum text NOT NULL, finished_at timestamptz, migration_name text NOT NULL, logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count int NOT NULL DEFAULT 0);
    INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name) VALUES ('a', 'x', now(), '20251125120000_init');
    INSERT INTO "User" SELECT i, 'u' || i || '@example.com', (CASE WHEN i % 5 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role" FROM generate_series(1, 3000) i;
    INSERT INTO "Post" ("authorId", body) SELECT 1 + i % 3000, repeat('x', i % 100) FROM generate_series(1, 5000) i;`);
}

const tables = [`"User"`, `"Post"`, `"_prisma_migrations"`];
async function checksums(db: Database): Promise<string[]> {
  return Promise.all(tables.map((t) => tableChecksum(db, t, "t::text")));
}

async function onlyBackup(dir: string, suffix = ".dump"): Promise<string> {
  const names = (await readdir(path.join(dir, "backups"))).filter((n) => n.endsWith(suffix) && !n.includes("bad-state"));
  assert.equal(names.length, 1, names.join(", "));
  return path.join(dir, "backups", names[0]!);
}

describe("backup and restore with the real pg_dump / pg_restore", () => {
  let t: TestDatabase;
  /** a session of the test's own; a restore ends it, so it is opened again after each */
  let db: Database;
  before(async () => {
    t = await createTestDatabase();
    db = t.db;
    await seed(db);
  });
  after(async () => t.drop());

  for (const format of ["custom", "directory"]) {
    it(`backs up (${format}), then restores a dropped table with identical contents`, async () => {
      const before = await checksums(db);
      const dir = await tempProject();
      const made = await runCli(["backup", "--format", format, "--jobs", "2", "--label", "test", "--json"], { cwd: dir, databaseUrl: t.url });
      assert.equal(made.code, 0, made.stderr);
      const file = await onlyBackup(dir, format === "custom" ? ".dump" : ".dir");
      assert.match(path.basename(file), /^backup_\d{8}_\d{6}_test\.(dump|dir)$/);
      const manifest = JSON.parse(await readFile(`${file}.manifest.json`, "utf8"));
      assert.deepEqual(manifest.rowCounts["public.User"], 3000);
      assert.deepEqual(manifest.rowCounts["public.Post"], 5000);
      assert.equal(manifest.migrationHead.prisma, "20251125120000_init");
      assert.match(manifest.sha256, /^[0-9a-f]{64}$/);
      assert.match(manifest.pgDumpVersion, /^\d+\.\d+$/);
      const mode = (await import("node:fs")).statSync(format === "custom" ? file : path.join(file, "toc.dat")).mode & 0o777;
      assert.equal(mode, 0o600);
      await db.query(`DROP TABLE "Post"`);
      await db.query(`UPDATE "User" SET email = 'changed' || id`);
      const restored = await runCli(["restore", file, "--yes"], { cwd: dir, databaseUrl: t.url });
      assert.equal(restored.code, 0, restored.stderr);
      assert.match(restored.stdout, /every table's row count matches the manifest/);
      await assert.rejects(db.query("SELECT 1"), "the restore ended the sessions connected before it");
      db = await t.connect();
      assert.deepEqual(await checksums(db), before);
      const bad = (await readdir(path.join(dir, "backups"))).filter((n) => n.includes("bad-state") && n.endsWith(".dump"));
      assert.equal(bad.length, 1, "the bad state was dumped first");
    });
  }

  it("verify passes on a good backup, and catches flipped bytes and a manifest whose counts disagree", async () => {
    const dir = await tempProject();
    assert.equal((await runCli(["backup"], { cwd: dir, databaseUrl: t.url })).code, 0);
    const file = await onlyBackup(dir);
    const good = await runCli(["backup", "verify", file, "--json"], { cwd: dir, databaseUrl: t.url });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.equal(JSON.parse(good.stdout.trim().split("\n").at(-1)!).ok, true, "--json reaches the subcommand");
    const databases = await db.query(`SELECT datname FROM pg_database WHERE datname LIKE 'bw_verify_%'`);
    assert.equal(databases.rowCount, 0, "the scratch database is dropped");
    // A manifest that disagrees with the data.
    const manifestFile = `${file}.manifest.json`;
    const manifest = JSON.parse(await readFile(manifestFile, "utf8"));
    manifest.rowCounts["public.User"] = 2999;
    await writeFile(manifestFile, JSON.stringify(manifest));
    const counts = await runCli(["backup", "verify", file], { cwd: dir, databaseUrl: t.url });
    assert.equal(counts.code, 13);
    assert.match(counts.stdout, /public\.User: 3000 rows, expected 2999/);
    // Flipped bytes in the middle of the dump.
    manifest.rowCounts["public.User"] = 3000;
    await writeFile(manifestFile, JSON.stringify(manifest));
    const handle = await open(file, "r+");
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(16);
    await handle.read(buffer, 0, 16, Math.floor(size / 2));
    for (let i = 0; i < 16; i++) buffer[i] = buffer[i]! ^ 0xff;
    await handle.write(buffer, 0, 16, Math.floor(size / 2));
    await handle.close();
    const corrupted = await runCli(["backup", "verify", file], { cwd: dir, databaseUrl: t.url });
    assert.equal(corrupted.code, 13);
    assert.match(corrupted.stdout, /sha256 differs/);
    const listed = JSON.parse((await runCli(["backups", "--json"], { cwd: dir })).stdout);
    assert.equal(listed[0].verified.ok, false);
    const refused = await runCli(["restore", file, "--yes"], { cwd: dir, databaseUrl: t.url });
    assert.equal(refused.code, 13);
    assert.match(refused.stderr, /does not match its manifest's sha256; refusing to restore a corrupted backup/);
  });

  it("prune keeps the newest verified backup", async () => {
    const dir = await tempProject();
    for (const label of ["one", "two", "three"]) {
      assert.equal((await runCli(["backup", "--label", label], { cwd: dir, databaseUrl: t.url })).code, 0);
      await new Promise((r) => setTimeout(r, 1100)); // distinct timestamps in the names
      if (label === "one") {
        const first = (await readdir(path.join(dir, "backups"))).find((n) => n.endsWith("_one.dump"))!;
        assert.equal((await runCli(["backup", "verify", path.join(dir, "backups", first)], { cwd: dir, databaseUrl: t.url })).code, 0);
      }
    }
    const pruned = await runCli(["backup", "prune", "--keep", "1", "--json"], { cwd: dir });
    assert.equal(pruned.code, 0, pruned.stderr);
    const left = (await readdir(path.join(dir, "backups"))).filter((n) => n.endsWith(".dump")).sort();
    assert.equal(left.length, 2);
    assert.ok(
      left.some((n) => n.endsWith("_three.dump")),
      "the newest",
    );
    assert.ok(
      left.some((n) => n.endsWith("_one.dump")),
      "the newest verified, though older",
    );
  });

  /** Three real backups, a (oldest) to c (newest), made `ageHours` hours apart as their manifests say. */
  async function threeBackups(ageHours: number[]): Promise<{ dir: string; files: string[] }> {
    const dir = await tempProject();
    const files: string[] = [];
    for (const [i, label] of ["a", "b", "c"].entries()) {
      const made = await runCli(["backup", "--label", label, "--json"], { cwd: dir, databaseUrl: t.url });
      assert.equal(made.code, 0, made.stderr);
      const file = JSON.parse(made.stdout.trim().split("\n").at(-1)!).path as string;
      const manifest = JSON.parse(await readFile(`${file}.manifest.json`, "utf8"));
      manifest.createdAt = new Date(Date.now() - ageHours[i]! * 3600_000).toISOString();
      await writeFile(`${file}.manifest.json`, JSON.stringify(manifest));
      files.push(file);
    }
    return { dir, files };
  }
  const remaining = async (dir: string) =>
    (await readdir(path.join(dir, "backups")))
      .filter((n) => n.endsWith(".dump"))
      .map((n) => /_([abc])\.dump$/.exec(n)![1])
      .sort();

  it("prune --keep 0 keeps the newest backup when none is verified, and --dry-run deletes nothing", async () => {
    const { dir, files } = await threeBackups([3, 2, 1]);
    const dry = await runCli(["backup", "prune", "--keep", "0", "--dry-run", "--json"], { cwd: dir });
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout).removed, [files[1], files[0]]);
    assert.deepEqual(await remaining(dir), ["a", "b", "c"], "a dry run deletes nothing");
    // From elsewhere, by --dir (which `backup` itself also declares).
    const pruned = await runCli(["backup", "prune", "--keep", "0", "--dir", path.join(dir, "backups")], { cwd: await tempProject() });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /the newest backup/);
    assert.deepEqual(await remaining(dir), ["c"]);
  });

  it("prune --older-than alone keeps the newest backup and the newest verified one, however old", async () => {
    const { dir, files } = await threeBackups([72, 48, 24]);
    assert.equal((await runCli(["backup", "verify", files[0]!], { cwd: dir, databaseUrl: t.url })).code, 0);
    const dry = await runCli(["backup", "prune", "--older-than", "12h", "--dry-run", "--json"], { cwd: dir });
    assert.deepEqual(JSON.parse(dry.stdout).removed, [files[1]]);
    const pruned = await runCli(["backup", "prune", "--older-than", "12h"], { cwd: dir });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(await remaining(dir), ["a", "c"]);
    // Pruning again removes nothing more: the last backup stays.
    assert.equal((await runCli(["backup", "prune", "--older-than", "12h", "--keep", "0"], { cwd: dir })).code, 0);
    assert.deepEqual(await remaining(dir), ["a", "c"]);
  });

  it("restore refuses without --yes when not on a terminal", async () => {
    const dir = await tempProject();
    assert.equal((await runCli(["backup"], { cwd: dir, databaseUrl: t.url })).code, 0);
    const file = await onlyBackup(dir);
    const before = await checksums(db);
    await db.query(`INSERT INTO "User" VALUES (99999, 'extra@example.com', 'USER')`);
    const result = await runCli(["restore", file], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 15);
    assert.match(result.stderr, /not on a terminal, so nothing was done/);
    const still = await db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE id = 99999`);
    assert.equal(still.n, 1);
    await db.query(`DELETE FROM "User" WHERE id = 99999`);
    assert.deepEqual(await checksums(db), before);
  });
});

describe("pg_dump discovery", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.drop());

  it("says clearly when pg_dump is missing", async () => {
    const dir = await tempProject({ "breakwater.config.ts": `export default { backup: { pgDump: "/nonexistent/bin/pg_dump" } };\n` });
    const result = await runCli(["backup"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 11);
    assert.match(result.stderr, /pg_dump was not found at \/nonexistent\/bin\/pg_dump/);
  });

  it("refuses a pg_dump older than the server", async () => {
    // Stands in for an old client: it only answers --version, as pg_dump 12 would.
    const dir = await tempProject({ "old-pg_dump": `#!/bin/sh\necho "pg_dump (PostgreSQL) 12.22"\n` });
    await chmod(path.join(dir, "old-pg_dump"), 0o755);
    await writeFile(path.join(dir, "breakwater.config.ts"), `export default { backup: { pgDump: ${JSON.stringify(path.join(dir, "old-pg_dump"))} } };\n`);
    const result = await runCli(["backup"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 11);
    assert.match(result.stderr, /pg_dump 12\.22 .* is older than the server \(PostgreSQL 15\)/);
  });

  it("works through a command prefix, as with docker exec", async () => {
    await seed(t.db);
    const before = await checksums(t.db);
    // A stand-in for `docker exec -i <container>`: runs the real binary by name, on its own PATH.
    const dir = await tempProject({ "prefix.sh": `#!/bin/sh\necho "$@" >> "$(dirname "$0")/prefix.log"\nPATH=/usr/lib/postgresql/15/bin:$PATH exec "$@"\n` });
    await chmod(path.join(dir, "prefix.sh"), 0o755);
    await writeFile(path.join(dir, "breakwater.config.ts"), `export default { backup: { commandPrefix: [${JSON.stringify(path.join(dir, "prefix.sh"))}] } };\n`);
    assert.equal((await runCli(["backup"], { cwd: dir, databaseUrl: t.url })).code, 0);
    const file = await onlyBackup(dir);
    const verified = await runCli(["backup", "verify", file], { cwd: dir, databaseUrl: t.url });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    await t.db.query(`DELETE FROM "Post"`);
    assert.equal((await runCli(["restore", file, "--yes"], { cwd: dir, databaseUrl: t.url })).code, 0);
    assert.deepEqual(await checksums(await t.connect()), before);
    const calls = await readFile(path.join(dir, "prefix.log"), "utf8");
    assert.match(calls, /^pg_dump --version/m);
    assert.match(calls, /^pg_dump --format=custom/m);
    assert.match(calls, /^pg_restore .*--clean --if-exists/m);
  });
});

describe("a password in DATABASE_URL", () => {
  let cluster: EmbeddedCluster;
  let url: string;
  let password: string;
  before(async () => {
    cluster = await startEmbeddedCluster({ auth: "password" });
    await cluster.createDatabase("app");
    url = withDatabase(cluster.url, "app");
    password = new URL(url).password;
    const db = await Database.connect(url);
    await db.query(`CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT i, repeat(md5(i::text), 8) FROM generate_series(1, 200000) i`);
    await db.close();
  });
  after(async () => cluster.stop());

  it("appears in no output, manifest or process listing", async () => {
    const dir = await tempProject();
    const child = spawnCli(["backup", "--json"], { cwd: dir, databaseUrl: url });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => void (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => void (stderr += c.toString()));
    const exited = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
    // While pg_dump runs, read every process's command line.
    let sawPgDump = false;
    let leaked = false;
    let done = false;
    void exited.then(() => (done = true));
    await waitFor(
      async () => {
        for (const pid of await readdir("/proc").catch(() => [])) {
          if (!/^\d+$/.test(pid)) continue;
          const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
          if (cmdline.includes("pg_dump") && cmdline.includes("--snapshot")) sawPgDump = true;
          if (cmdline.includes(password)) leaked = true;
        }
        return done;
      },
      60_000,
      5,
    );
    assert.equal(await exited, 0, stderr);
    assert.ok(sawPgDump, "pg_dump was seen running");
    assert.equal(leaked, false, "no command line holds the password");
    const manifests = (await readdir(path.join(dir, "backups"))).filter((n) => n.endsWith(".manifest.json"));
    const manifest = await readFile(path.join(dir, "backups", manifests[0]!), "utf8");
    for (const text of [stdout, stderr, manifest]) assert.ok(!text.includes(password), "no password in output or manifest");
    const verify = await runCli(["backup", "verify", path.join(dir, "backups", manifests[0]!.replace(".manifest.json", ""))], { cwd: dir, databaseUrl: url });
    assert.equal(verify.code, 0);
    assert.ok(!(verify.stdout + verify.stderr).includes(password));
  });
});
