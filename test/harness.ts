// Each test gets its own real database: on TEST_DATABASE_URL's server (set by `npm test`), or on
// a private embedded cluster started for this process when a file is run alone.
import { execFile, spawn } from "node:child_process";
import { run } from "./fixtures/packages.ts";
import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Database, fileStore, withDatabase } from "@breakwater/runtime/internal";
import { startEmbeddedCluster, type EmbeddedCluster } from "../packages/breakwater/src/db/embedded.ts";
import { quoteIdent } from "../packages/breakwater/src/db/quote.ts";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** What plan files in tests import: the built @breakwater/runtime, as an installed app would. */
export const indexUrl = pathToFileURL(path.join(root, "packages", "runtime", "dist", "index.js")).href;

let serverUrl: Promise<string> | undefined;
let ownCluster: EmbeddedCluster | undefined;

async function server(): Promise<string> {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  serverUrl ??= startEmbeddedCluster().then((cluster) => {
    ownCluster = cluster;
    process.once("beforeExit", () => void cluster.stop());
    return cluster.url;
  });
  return serverUrl;
}

export interface TestDatabase {
  url: string;
  db: Database;
  /** a new connection of its own (for a second session) */
  connect(): Promise<Database>;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const base = await server();
  const name = `bw_test_${randomBytes(5).toString("hex")}`;
  const admin = await Database.connect(base);
  await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
  await admin.close();
  const url = withDatabase(base, name);
  const db = await Database.connect(url);
  const extra: Database[] = [];
  return {
    url,
    db,
    connect: async () => {
      const c = await Database.connect(url);
      extra.push(c);
      return c;
    },
    drop: async () => {
      await db.close();
      for (const c of extra) await c.close();
      const a = await Database.connect(base);
      await a.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      await a.close();
    },
  };
}

export function stopOwnCluster(): Promise<void> {
  return ownCluster?.stop() ?? Promise.resolve();
}

/** A temp project folder (ESM) for plan and config files. */
export async function tempProject(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "breakwater-test-"));
  await writeFile(path.join(dir, "package.json"), '{ "type": "module" }\n');
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
}

/** A plan file importing breakwater from this checkout. */
export function planSource(body: string): string {
  return `import { defineMigration, renameEnumValue, addEnumValue, backfill, sql, changeColumnType } from ${JSON.stringify(indexUrl)};\nexport default defineMigration(${body});\n`;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const bin = path.join(root, "packages", "breakwater", "bin", "breakwater.js");

/**
 * The CLI's environment: the test's, as in CI, with `env` on top. node --test forces colour in
 * test processes when it writes to a terminal; the CLI under test gets it only when a test asks.
 */
function cliEnvironment(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited: NodeJS.ProcessEnv = { ...process.env, CI: "true" };
  delete inherited.FORCE_COLOR;
  return { ...inherited, ...env };
}

export async function runCli(args: string[], options: { cwd: string; databaseUrl?: string; env?: Record<string, string> }): Promise<CliResult> {
  const env = cliEnvironment({ ...options.env, ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}) });
  const { code, stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd: options.cwd, env, timeoutMs: 0 });
  return { code, stdout, stderr };
}

/** Starts the CLI without waiting (to kill it or race it). */
export function spawnCli(args: string[], options: { cwd: string; databaseUrl: string }) {
  return spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env: cliEnvironment({ DATABASE_URL: options.databaseUrl }), stdio: ["ignore", "pipe", "pipe"] });
}

/** md5 of every row, in key order: equal checksums mean identical contents. */
export async function tableChecksum(db: Database, table: string, orderBy: string, columns = "*"): Promise<string> {
  const row = await db.one<{ sum: string }>(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY ${orderBy}), '')) AS sum FROM (SELECT ${columns} FROM ${table}) AS t`);
  return row.sum;
}

export async function enumLabels(db: Database, type: string): Promise<string[]> {
  const { rows } = await db.query<{ label: string }>("SELECT enumlabel::text AS label FROM pg_enum WHERE enumtypid = $1::regtype ORDER BY enumsortorder", [type]);
  return rows.map((r) => r.label);
}

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, intervalMs = 50): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() - start > timeoutMs) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export { execFile };

/** Runs one statement; the PostgreSQL error it gets (SQLSTATE and text) instead of a throw, or null. */
export async function attempt(db: Database, sql: string): Promise<{ code: string | undefined; message: string } | null> {
  try {
    await db.query(sql);
    return null;
  } catch (error) {
    const e = error as { code?: string; message: string };
    return { code: e.code, message: e.message };
  }
}

/** The id of the run whose transform is under way (a cursor committed), if any. */
export async function transformingRun(t: TestDatabase): Promise<string | undefined> {
  const ok = await t.db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.steps') IS NOT NULL AS ok");
  if (!ok.ok) return undefined;
  const { rows } = await t.db.query<{ run_id: string }>(`SELECT run_id FROM breakwater.steps WHERE phase = 'transform' AND state = 'running' AND cursor IS NOT NULL`);
  return rows[0]?.run_id;
}

import { resolveConfig, type BreakwaterConfigInput } from "../packages/breakwater/src/config/config.ts";
import { validatePlan, type MigrationInput } from "../packages/breakwater/src/plan/plan.ts";
import { runPlan, type RunOutcome } from "../packages/breakwater/src/runner/runner.ts";
import type { BreakwaterEvent } from "../packages/breakwater/src/runner/events.ts";

/** Runs a plan through the library with a private maintenance file; returns outcome and events. */
export async function runInProcess(
  url: string,
  plan: MigrationInput,
  config: BreakwaterConfigInput = {},
): Promise<{ outcome: RunOutcome; events: BreakwaterEvent[]; dir: string }> {
  const dir = await tempProject();
  const events: BreakwaterEvent[] = [];
  const resolved = resolveConfig({ maintenance: { file: path.join(dir, "maintenance", "enabled.lock") }, ...config }, dir, null, {});
  const outcome = await runPlan(
    { plan: validatePlan(plan), path: path.join(dir, "plan.ts"), sha256: "" },
    { config: resolved, databaseUrl: url, store: fileStore({ path: resolved.maintenanceFile }), emit: (e) => events.push(e) },
  );
  return { outcome, events, dir };
}
