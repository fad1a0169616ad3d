// bench/backup.ts — backups and rollbacks on a database of about 1 GB, in one run:
//   raw `pg_dump -Fc` wall time; breakwater backup (custom) and (directory, jobs = 2); verify;
//   restore (pg_restore part and the whole command with its bad-state dump); then a failed
//   transform on the 1,000,000-row table: rollback from breakwater's targeted snapshot vs a full
//   `pg_restore --clean` of the backup. Goals: custom ≤ 1.05 × raw pg_dump; snapshot rollback
//   ≥ 10 × faster than the full restore.
// Usage: npm run bench:backup [-- --scale 1]   (scale 1 ≈ 1 GB; 0.1 for a quick look)
// Uses BENCH_DATABASE_URL when set, otherwise a throwaway embedded PostgreSQL 15.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createBackup, restoreBackup, verifyBackup, type BackupSettings } from "../packages/breakwater/src/backup/backup.ts";
import { findTool, libpqEnvironment } from "../packages/breakwater/src/backup/tools.ts";
import { resolveConfig } from "../packages/breakwater/src/config/config.ts";
import { Database, fileStore } from "@breakwater/runtime/internal";
import { benchDatabase } from "./fixtures/database.ts";
import { backfill } from "@breakwater/runtime";
import { renameEnumValue } from "@breakwater/runtime";
import { validatePlan, type MigrationInput } from "../packages/breakwater/src/plan/plan.ts";
import { RunFailure, runPlan } from "../packages/breakwater/src/runner/runner.ts";

const { values } = parseArgs({ options: { scale: { type: "string", default: "1" } } });
const scale = Number(values.scale);
const log = (text: string) => process.stderr.write(`${text}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const database = await benchDatabase(log);
const url = database.url;
const dbName = database.name;
let db = await Database.connect(url);
const work = await mkdtemp(path.join(tmpdir(), "breakwater-bench-backup-"));
try {
  const users = Math.round(1_000_000 * Math.min(1, scale));
  log(`Creating the database (scale ${scale})…`);
  await db.query(`
    CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
    CREATE TABLE "User" (id int PRIMARY KEY, email text NOT NULL UNIQUE, role "Role" NOT NULL DEFAULT 'USER', score int NOT NULL DEFAULT 0, "createdAt" timestamptz NOT NULL DEFAULT now());
    CREATE TABLE "Post" (id bigint PRIMARY KEY, "authorId" int NOT NULL, title text NOT NULL, body text NOT NULL, "createdAt" timestamptz NOT NULL DEFAULT now());
    CREATE TABLE "Event" (id bigint PRIMARY KEY, "userId" int NOT NULL, kind text NOT NULL, payload text NOT NULL, at timestamptz NOT NULL DEFAULT now());`);
  await db.query(
    `INSERT INTO "User" (id, email, role, score) SELECT i, 'user' || i || '@example.com', (CASE WHEN i % 10 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role", i % 1000 FROM generate_series(1, $1::int) i`,
    [users],
  );
  await db.query(
    `INSERT INTO "Post" (id, "authorId", title, body) SELECT i, 1 + i % $2::int, md5(i::text), md5(i::text) || md5((i + 1)::text) || md5((i * 7)::text) || md5((i * 13)::text) FROM generate_series(1, $1::int) i`,
    [Math.round(2_500_000 * scale), users],
  );
  await db.query(
    `INSERT INTO "Event" (id, "userId", kind, payload) SELECT i, 1 + i % $2::int, (ARRAY['login','view','click','logout'])[1 + i % 4], md5(i::text) || md5((i * 3)::text) FROM generate_series(1, $1::int) i`,
    [Math.round(1_500_000 * scale), users],
  );
  await db.query(`VACUUM ANALYZE`);
  const size = (await db.one<{ size: string }>("SELECT pg_size_pretty(pg_database_size(current_database())) AS size")).size;
  log(`  database size: ${size}`);

  const settings = (dir: string, format: "custom" | "directory" = "custom"): BackupSettings => ({
    dir,
    format,
    jobs: 2,
    pgDump: undefined,
    pgRestore: undefined,
    commandPrefix: undefined,
  });
  const serverMajor = Number((await db.one<{ v: string }>("SELECT current_setting('server_version_num') AS v")).v.slice(0, -4));
  const pgDump = findTool("pg_dump", {}, serverMajor);
  const pgRestore = findTool("pg_restore", {}, serverMajor);

  // Interleaved twice, best of two each: the machine is shared.
  const raw: number[] = [];
  const custom: number[] = [];
  let customPath = "";
  for (let round = 0; round < 2; round++) {
    log(`round ${round + 1}: raw pg_dump -Fc…`);
    let t = performance.now();
    const result = spawnSync(pgDump.argv[0]!, ["--format=custom", "--no-password", `--file=${path.join(work, `raw${round}.dump`)}`], { env: libpqEnvironment(url) });
    if (result.status !== 0) throw new Error(String(result.stderr));
    raw.push(performance.now() - t);
    log(`round ${round + 1}: breakwater backup (custom)…`);
    t = performance.now();
    const backup = await createBackup(url, settings(path.join(work, `custom${round}`)));
    custom.push(performance.now() - t);
    customPath = backup.path;
  }
  log("breakwater backup (directory, jobs = 2)…");
  let t = performance.now();
  await createBackup(url, settings(path.join(work, "directory"), "directory"));
  const directory = performance.now() - t;

  log("verify…");
  t = performance.now();
  const verified = await verifyBackup(url, customPath, settings(path.join(work, "custom1")));
  const verify = performance.now() - t;
  if (!verified.ok) throw new Error(`verify failed: ${verified.problems.join("; ")}`);

  log("full restore with raw pg_restore --clean --if-exists --single-transaction…");
  t = performance.now();
  const restoreRun = spawnSync(pgRestore.argv[0]!, ["--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-password", `--dbname=${dbName}`, customPath], {
    env: libpqEnvironment(url),
  });
  if (restoreRun.status !== 0) throw new Error(String(restoreRun.stderr));
  const fullRestore = performance.now() - t;

  log("breakwater restore (bad-state dump + restore + counts)…");
  t = performance.now();
  const restored = await restoreBackup(url, customPath, settings(path.join(work, "custom1")));
  const breakwaterRestore = performance.now() - t;
  if (restored.problems.length) throw new Error(restored.problems.join("; "));
  // The restore ended every other session of the database, this one too.
  await db.close();
  db = await Database.connect(url);

  const config = resolveConfig({ maintenance: { file: path.join(work, "maintenance", "enabled.lock") } }, work, null, {});
  const failing = async (plan: MigrationInput) => {
    try {
      await runPlan({ plan: validatePlan(plan), path: "bench", sha256: "" }, { config, databaseUrl: url, store: fileStore({ path: config.maintenanceFile }) });
      throw new Error("the plan was meant to fail");
    } catch (error) {
      if (!(error instanceof RunFailure) || error.outcome.state !== "rolled_back") throw error;
      const steps = await db.query<{ duration_ms: number }>(`SELECT duration_ms FROM breakwater.steps WHERE run_id = $1 AND phase = 'rollback'`, [error.outcome.runId]);
      return steps.rows.reduce((sum, s) => sum + Number(s.duration_ms), 0);
    }
  };
  log("failed transform 1: the seeds' enum rename on User (default contract), a check fails…");
  const renameRollback = await failing({
    id: "bench_failed_rename",
    steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"] })],
    checks: [{ name: "fails on purpose", sql: "SELECT 1", expect: 2 }],
  });
  log("failed transform 2: a backfill of every row of User, a check fails…");
  const backfillRollback = await failing({
    id: "bench_failed_backfill",
    steps: [backfill({ table: "User", set: { score: "score + 1" } })],
    checks: [{ name: "fails on purpose", sql: "SELECT 1", expect: 2 }],
  });

  const best = (xs: number[]) => Math.min(...xs);
  const lines = [
    "",
    `bench/backup.ts — database of ${size} (User ${users.toLocaleString("en-US")} rows, Post, Event), PostgreSQL ${serverMajor}, pg_dump ${pgDump.version}`,
    "",
    `raw pg_dump -Fc                          ${seconds(best(raw)).padStart(9)}   (runs: ${raw.map(seconds).join(", ")})`,
    `breakwater backup (custom)               ${seconds(best(custom)).padStart(9)}   (runs: ${custom.map(seconds).join(", ")})   ${(best(custom) / best(raw)).toFixed(2)} × raw pg_dump  [goal ≤ 1.05]`,
    `breakwater backup (directory, jobs = 2)  ${seconds(directory).padStart(9)}`,
    `verify (sha256 + list + scratch restore) ${seconds(verify).padStart(9)}`,
    `full restore (pg_restore --clean)        ${seconds(fullRestore).padStart(9)}`,
    `breakwater restore (with bad-state dump) ${seconds(breakwaterRestore).padStart(9)}`,
    "",
    `failed transform on User (${users.toLocaleString("en-US")} rows), rollback:`,
    `  enum rename, default contract          ${(renameRollback / 1000).toFixed(3).padStart(9)} s   ${(fullRestore / renameRollback).toFixed(0)} × faster than the full restore  [goal ≥ 10]`,
    `  backfill of every row (snapshot restore) ${(backfillRollback / 1000).toFixed(3).padStart(7)} s   ${(fullRestore / backfillRollback).toFixed(1)} × faster than the full restore`,
    "",
  ];
  process.stdout.write(lines.join("\n"));
} finally {
  await db.close();
  await rm(work, { recursive: true, force: true });
  await database.drop();
  process.exit(process.exitCode ?? 0);
}
