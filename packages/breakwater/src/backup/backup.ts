// Backups you can restore: pg_dump in the snapshot where the row counts were taken, streamed to
// a 0600 file with its sha256, a manifest beside it; verify by restoring into a scratch database;
// list, prune, restore (under a write fence, after dumping the current "bad state" first). Each
// step is announced and timed through backup events; pg_dump's and pg_restore's --verbose lines
// give the tables done.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { BreakwaterError, Database, describeUrl, errorMessage, withDatabase } from "@breakwater/runtime/internal";
import { quoteIdent, quoteQualified } from "../db/quote.ts";
import { spawn } from "node:child_process";
import { liftHint, lowerRestoreFence, openRestoreSession, raiseRestoreFence, recordBadState, writableSessionOptions } from "./restore-fence.ts";
import { databaseOf, findTool, libpqEnvironment, runTool, stderrCollector, toolConnectionString, type StderrLine, type Tool, type ToolConfig } from "./tools.ts";
import type { BackupEvent, BackupOperation, BackupStep } from "../runner/events.ts";

export type BackupFormat = "custom" | "directory";

export interface Manifest {
  tool: "breakwater";
  manifestVersion: 1;
  /** the dump, relative to the manifest */
  file: string;
  format: BackupFormat;
  label: string | null;
  database: string;
  server: string;
  serverVersion: string;
  pgDumpVersion: string;
  createdAt: string;
  durationSeconds: number;
  sizeBytes: number;
  /** sha256 of the file; for a directory, of its files' names and hashes */
  sha256: string;
  rowCounts: Record<string, number>;
  migrationHead: { prisma: string | null; breakwater: string | null };
  verified: { at: string; ok: boolean; durationSeconds: number; problems: string[] } | null;
}

export interface BackupSettings extends ToolConfig {
  dir: string;
  format: BackupFormat;
  jobs: number;
}

type Emit = (event: BackupEvent) => void;

const noop = () => undefined;

/**
 * Runs one step between its backup-step and backup-step-done events; `done` words what it did
 * (with ok: false when it found a problem). A step that throws has no done event: the error says.
 */
async function step<T>(
  emit: Emit,
  operation: BackupOperation,
  name: BackupStep,
  message: string,
  work: () => Promise<T>,
  done: (result: T) => string | { message: string; ok: boolean },
): Promise<T> {
  emit({ type: "backup-step", operation, step: name, message });
  const t0 = performance.now();
  const result = await work();
  const outcome = done(result);
  const { message: said, ok } = typeof outcome === "string" ? { message: outcome, ok: true } : outcome;
  emit({ type: "backup-step-done", operation, step: name, message: said, durationMs: performance.now() - t0, ok });
  return result;
}

/**
 * The progress of one pg_dump or pg_restore: `bytes` and `tablesDone` as they grow, sent at most
 * once a second (and every second while nothing grows, so a terminal shows the time), and at the end.
 */
function progressTicker(emit: Emit, phase: "dump" | "restore", tablesTotal: number | null) {
  const t0 = performance.now();
  let last = t0;
  const state = { bytes: null as number | null, tablesDone: 0 };
  const send = () => {
    last = performance.now();
    emit({ type: "backup-progress", phase, bytes: state.bytes, elapsedMs: last - t0, tablesDone: state.tablesDone, tablesTotal });
  };
  const timer = setInterval(send, 1000);
  return {
    state,
    tick: () => void (performance.now() - last >= 1000 && send()),
    stop: () => {
      clearInterval(timer);
      send();
    },
  };
}

/**
 * --verbose output of pg_dump / pg_restore: a table whose data starts counts as done; other
 * chatter is dropped; anything else (errors, warnings) is kept for the error message.
 */
function verboseLines(tool: "pg_dump" | "pg_restore", onTable: () => void): StderrLine {
  const table = tool === "pg_dump" ? /^pg_dump: dumping contents of table / : /^pg_restore: processing data for table /;
  const chatter = new RegExp(`^${tool}: (?!error|warning|detail|hint|fatal|while|from TOC|\\[)`, "i");
  return (line) => {
    if (table.test(line)) onTable();
    return chatter.test(line);
  };
}

/** The tables whose data pg_dump writes: ordinary tables and partitions outside the system schemas, breakwater's own and extensions'. */
async function tablesToDump(db: Database): Promise<number> {
  const row = await db.one<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'breakwater') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`,
  );
  return row.n;
}

async function serverMajor(db: Database): Promise<{ major: number; version: string }> {
  const row = await db.one<{ num: string; version: string }>("SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version");
  return { major: Math.floor(Number(row.num) / 10000), version: row.version.split(" ")[0]! };
}

/**
 * breakwater's own schema (journal, snapshots, fences, maintenance row) is not part of backups:
 * the journal keeps the record of every run, including runs a restore undoes, and a restore
 * never fights the objects a run created after the dump.
 */
const journalExcluded = ["--exclude-schema=breakwater"];

/** Exact row counts of every table (breakwater's own schema aside), inside the caller's snapshot. */
async function countRows(db: Database): Promise<Record<string, number>> {
  const { rows } = await db.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'breakwater') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
      ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const t of rows) {
    const row = await db.one<{ n: number }>(`SELECT count(*)::int8 AS n FROM ONLY ${quoteQualified(t.schema, t.name)}`);
    counts[`${t.schema}.${t.name}`] = Number(row.n);
  }
  return counts;
}

async function migrationHead(db: Database): Promise<Manifest["migrationHead"]> {
  const prisma = await db.one<{ ok: boolean }>("SELECT to_regclass('public._prisma_migrations') IS NOT NULL AS ok");
  const breakwater = await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.runs') IS NOT NULL AS ok");
  return {
    prisma:
      prisma.ok ?
        ((
          await db.query<{ name: string }>(
            "SELECT migration_name AS name FROM public._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY finished_at DESC, migration_name DESC LIMIT 1",
          )
        ).rows[0]?.name ?? null)
      : null,
    breakwater:
      breakwater.ok ? ((await db.query<{ id: string }>("SELECT id FROM breakwater.runs WHERE state = 'completed' ORDER BY finished_at DESC LIMIT 1")).rows[0]?.id ?? null) : null,
  };
}

const megabytes = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace("T", "_").slice(0, 15);
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function directoryDigest(dir: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for (const name of (await readdir(dir)).sort()) {
    const file = path.join(dir, name);
    size += (await stat(file)).size;
    hash.update(`${name} ${await hashFile(file)}\n`);
  }
  return { sha256: hash.digest("hex"), size };
}

async function directorySize(dir: string): Promise<number> {
  if (!existsSync(dir)) return 0;
  let size = 0;
  for (const name of await readdir(dir)) size += (await stat(path.join(dir, name)).catch(() => ({ size: 0 }))).size;
  return size;
}

export function manifestPath(backup: string): string {
  return `${backup.replace(/\/$/, "")}.manifest.json`;
}

export async function readManifest(backup: string): Promise<Manifest> {
  const file = backup.endsWith(".manifest.json") ? backup : manifestPath(backup);
  try {
    return JSON.parse(await readFile(file, "utf8")) as Manifest;
  } catch {
    throw new BreakwaterError("BW_BACKUP_INVALID", `No readable manifest for ${backup} (${path.basename(file)}).`, {
      hint: "Give the path of a backup made by `breakwater backup` (the .dump file or the directory).",
    });
  }
}

/** The dump a manifest describes. */
export function backupPathOf(manifestFile: string, manifest: Manifest): string {
  return path.join(path.dirname(manifestFile), manifest.file);
}

export interface BackupResult {
  path: string;
  manifestPath: string;
  manifest: Manifest;
}

/** `breakwater backup` */
export async function createBackup(url: string, settings: BackupSettings, options: { label?: string | null; emit?: Emit } = {}): Promise<BackupResult> {
  const emit = options.emit ?? noop;
  const db = await Database.connect(url, { applicationName: "breakwater backup" });
  try {
    const server = await serverMajor(db);
    const pgDump = findTool("pg_dump", settings, server.major);
    if (settings.format === "directory" && settings.commandPrefix?.length) {
      throw new BreakwaterError("BW_BACKUP_FAILED", "The directory format writes files where pg_dump runs; with a command prefix use the custom format (streamed back).");
    }
    await mkdir(settings.dir, { recursive: true });
    const started = new Date();
    const label = options.label ? `_${options.label.replace(/[^A-Za-z0-9_.-]/g, "-")}` : "";
    const name = `backup_${stamp(started)}${label}${settings.format === "custom" ? ".dump" : ".dir"}`;
    const target = path.join(settings.dir, name);
    if (existsSync(target)) throw new BreakwaterError("BW_BACKUP_FAILED", `${target} already exists.`);
    // One snapshot for the counts and the dump: pg_dump imports it with --snapshot.
    await db.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const snapshot = (await db.one<{ id: string }>("SELECT pg_export_snapshot() AS id")).id;
    const tablesTotal = await tablesToDump(db);
    const t0 = performance.now();
    const format = settings.format === "custom" ? "custom format" : `directory format, ${settings.jobs} jobs`;
    const { digest, rowCounts, head } = await step(
      emit,
      "backup",
      "dump",
      `dumping ${databaseOf(url)} with pg_dump (${format}); counting rows in the dump's snapshot meanwhile`,
      async () => {
        // Counted while pg_dump runs: same snapshot, another backend, no added wall time. Index-only
        // scans of the primary keys where they exist, on one backend: the cheapest exact count,
        // leaving the CPU to pg_dump.
        await db.query("SET LOCAL enable_seqscan = off");
        await db.query("SET LOCAL max_parallel_workers_per_gather = 0");
        const counting = (async () => ({ rowCounts: await countRows(db), head: await migrationHead(db) }))();
        counting.catch(() => undefined);
        const progress = progressTicker(emit, "dump", tablesTotal);
        const verbose = verboseLines("pg_dump", () => void progress.state.tablesDone++);
        let digest: { sha256: string; size: number } | null = null;
        let failure = "";
        try {
          if (settings.format === "custom") {
            const out = createWriteStream(target, { mode: 0o600 });
            const hash = createHash("sha256");
            progress.state.bytes = 0;
            const result = await runTool(pgDump, ["--format=custom", "--verbose", `--snapshot=${snapshot}`, "--no-password", ...journalExcluded], url, {
              onStderrLine: verbose,
              onStdout: (chunk) => {
                hash.update(chunk);
                progress.state.bytes! += chunk.length;
                out.write(chunk);
                progress.tick();
              },
            });
            await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
            if (result.code === 0) digest = { sha256: hash.digest("hex"), size: progress.state.bytes };
            else failure = `pg_dump failed (exit ${result.code}): ${result.stderr.trim().split("\n").slice(-3).join(" ")}`;
          } else {
            const sizer = setInterval(() => void directorySize(target).then((size) => void (progress.state.bytes = size)), 500);
            let result;
            try {
              result = await runTool(
                pgDump,
                ["--format=directory", "--verbose", `--jobs=${settings.jobs}`, `--snapshot=${snapshot}`, "--no-password", ...journalExcluded, `--file=${target}`],
                url,
                { onStderrLine: verbose },
              );
            } finally {
              clearInterval(sizer);
            }
            if (result.code === 0) {
              await chmod(target, 0o700);
              for (const f of await readdir(target)) await chmod(path.join(target, f), 0o600);
              digest = await directoryDigest(target);
              progress.state.bytes = digest.size;
            } else {
              failure = `pg_dump failed (exit ${result.code}): ${result.stderr.trim().split("\n").slice(-3).join(" ")}`;
            }
          }
        } finally {
          progress.stop();
        }
        const { rowCounts, head } = await counting;
        if (!digest) {
          await rm(target, { recursive: true, force: true });
          throw new BreakwaterError("BW_BACKUP_FAILED", failure, { hint: "Nothing was kept; fix the cause and run the backup again." });
        }
        return { digest, rowCounts, head };
      },
      ({ digest }) => `wrote ${name}: ${megabytes(digest.size)}, ${tablesTotal} table${tablesTotal === 1 ? "" : "s"}`,
    );
    const manifest: Manifest = {
      tool: "breakwater",
      manifestVersion: 1,
      file: name,
      format: settings.format,
      label: options.label ?? null,
      database: databaseOf(url),
      server: describeUrl(url),
      serverVersion: server.version,
      pgDumpVersion: pgDump.version,
      createdAt: started.toISOString(),
      durationSeconds: Math.round((performance.now() - t0) / 10) / 100,
      sizeBytes: digest.size,
      sha256: digest.sha256,
      rowCounts,
      migrationHead: head,
      verified: null,
    };
    const file = manifestPath(target);
    await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    return { path: target, manifestPath: file, manifest };
  } finally {
    await db.query("ROLLBACK").catch(() => undefined);
    await db.close();
  }
}

async function checksumOf(backup: string, manifest: Manifest): Promise<string> {
  return manifest.format === "directory" ? (await directoryDigest(backup)).sha256 : await hashFile(backup);
}

/** Resolves a backup given as a path (file, directory or manifest) or a name in the backup folder. */
export function resolveBackup(given: string, dir: string): string {
  const candidates = [given, path.join(dir, given)].map((p) => p.replace(/\.manifest\.json$/, "").replace(/\/$/, ""));
  const found = candidates.find((p) => existsSync(p) || existsSync(manifestPath(p)));
  if (!found) throw new BreakwaterError("BW_BACKUP_INVALID", `No backup ${given} (looked in the working directory and ${dir}).`, { hint: "`breakwater backups` lists them." });
  return path.resolve(found);
}

/** `pg_restore --list`: its exit, and how many tables have data in the backup (null when it failed). */
async function listContents(pgRestore: Tool, backup: string, url: string, settings: BackupSettings): Promise<{ code: number; stderr: string; tables: number | null }> {
  let list = "";
  const onStdout = (chunk: Buffer) => void (list += chunk.toString());
  const result =
    settings.commandPrefix?.length ? await runToolWithStdin(pgRestore, ["--list"], url, backup, { onStdout }) : await runTool(pgRestore, ["--list", backup], url, { onStdout });
  return { ...result, tables: result.code === 0 ? list.split("\n").filter((line) => / TABLE DATA /.test(line)).length : null };
}

/** One pg_restore of `backup`; `dbname` is a database name or a connection string without credentials (see toolConnectionString). */
interface RestoreJob {
  url: string;
  dbname: string;
  backup: string;
  manifest: Manifest;
  settings: BackupSettings;
  pgRestore: Tool;
  extra: string[];
}

async function restoreInto(job: RestoreJob, emit: Emit, tablesTotal: number | null): Promise<void> {
  const { url, dbname, backup, manifest, settings, pgRestore, extra } = job;
  const progress = progressTicker(emit, "restore", tablesTotal);
  const onStderrLine = verboseLines("pg_restore", () => void progress.state.tablesDone++);
  try {
    const jobs = manifest.format === "directory" && settings.jobs > 1 && !extra.includes("--single-transaction") ? [`--jobs=${settings.jobs}`] : [];
    const args = ["--exit-on-error", "--verbose", "--no-password", `--dbname=${dbname}`, ...jobs, ...extra];
    // Through a prefix, the file is streamed on stdin (it lives on this side).
    const result =
      settings.commandPrefix?.length ? await runToolWithStdin(pgRestore, args, url, backup, { onStderrLine }) : await runTool(pgRestore, [...args, backup], url, { onStderrLine });
    if (result.code !== 0) throw new BreakwaterError("BW_RESTORE_FAILED", `pg_restore failed (exit ${result.code}): ${result.stderr.trim().split("\n").slice(-3).join(" ")}`);
  } finally {
    progress.stop();
  }
}

async function runToolWithStdin(
  tool: Tool,
  args: string[],
  url: string,
  file: string,
  options: { onStdout?: (chunk: Buffer) => void; onStderrLine?: StderrLine } = {},
): Promise<{ code: number; stderr: string }> {
  return await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
    const child = spawn(tool.argv[0]!, [...tool.argv.slice(1), ...args], { env: libpqEnvironment(url), stdio: ["pipe", options.onStdout ? "pipe" : "ignore", "pipe"] });
    const stderr = stderrCollector(options.onStderrLine);
    child.stderr!.on("data", stderr.push);
    if (options.onStdout) child.stdout!.on("data", options.onStdout);
    createReadStream(file).pipe(child.stdin!);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stderr: stderr.end() }));
  });
}

async function compareCounts(db: Database, expected: Record<string, number>): Promise<string[]> {
  const actual = await countRows(db);
  const problems: string[] = [];
  for (const [table, n] of Object.entries(expected)) {
    if (!(table in actual)) problems.push(`${table}: missing (expected ${n} rows)`);
    else if (actual[table] !== n) problems.push(`${table}: ${actual[table]} rows, expected ${n}`);
  }
  return problems;
}

/** How a row-count comparison is worded. */
function countOutcome(manifest: Manifest): (problems: string[]) => string | { message: string; ok: boolean } {
  const tables = Object.keys(manifest.rowCounts).length;
  return (problems) =>
    problems.length === 0 ?
      `every table's row count matches the manifest (${tables} table${tables === 1 ? "" : "s"})`
    : { message: `row counts differ from the manifest in ${problems.length} table${problems.length === 1 ? "" : "s"}`, ok: false };
}

export interface VerifyResult {
  ok: boolean;
  problems: string[];
  durationSeconds: number;
  manifest: Manifest;
}

/** The backup file's sha256, checked against its manifest as a step of `operation`. */
async function checksumStep(emit: Emit, operation: "verify" | "restore", backup: string, manifest: Manifest): Promise<string> {
  const sha = await step(
    emit,
    operation,
    "checksum",
    "checking the sha256",
    () => checksumOf(backup, manifest),
    (sha) => (sha === manifest.sha256 ? "sha256 matches the manifest" : { message: "sha256 differs from the manifest", ok: false }),
  );
  return sha;
}

/** `breakwater backup verify`: checksum, `pg_restore --list`, full restore into a scratch database, counts. */
export async function verifyBackup(url: string, given: string, settings: BackupSettings, emit: Emit = noop): Promise<VerifyResult> {
  const backup = resolveBackup(given, settings.dir);
  const manifest = await readManifest(backup);
  const t0 = performance.now();
  const problems: string[] = [];
  const finish = async (): Promise<VerifyResult> => {
    const durationSeconds = Math.round((performance.now() - t0) / 10) / 100;
    manifest.verified = { at: new Date().toISOString(), ok: problems.length === 0, durationSeconds, problems };
    await writeFile(manifestPath(backup), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    return { ok: problems.length === 0, problems, durationSeconds, manifest };
  };
  if (!existsSync(backup)) {
    problems.push(`${manifest.file} is missing`);
    return await finish();
  }
  const sha = await checksumStep(emit, "verify", backup, manifest);
  if (sha !== manifest.sha256) {
    problems.push(`sha256 differs: the file is ${sha}, the manifest says ${manifest.sha256} (the backup is corrupted or was changed)`);
    return await finish();
  }
  const admin = await Database.connect(url, { applicationName: "breakwater backup verify" });
  const scratch = `bw_verify_${randomBytes(5).toString("hex")}`;
  try {
    const server = await serverMajor(admin);
    const pgRestore = findTool("pg_restore", settings, server.major);
    const list = await step(
      emit,
      "verify",
      "list",
      "reading the table of contents (pg_restore --list)",
      () => listContents(pgRestore, backup, url, settings),
      (list) => (list.tables === null ? { message: "pg_restore --list failed", ok: false } : `${list.tables} table${list.tables === 1 ? "" : "s"} with data`),
    );
    if (list.code !== 0) {
      problems.push(`pg_restore --list failed: ${list.stderr.trim().split("\n").slice(-2).join(" ")}`);
      return await finish();
    }
    await admin.query(`CREATE DATABASE ${quoteIdent(scratch)}`);
    try {
      await step(
        emit,
        "verify",
        "restore",
        `restoring into the scratch database ${scratch}`,
        () => restoreInto({ url, dbname: scratch, backup, manifest, settings, pgRestore, extra: [] }, emit, list.tables),
        () => `restored into ${scratch}`,
      );
      const scratchDb = await Database.connect(withDatabase(url, scratch), { applicationName: "breakwater backup verify" });
      try {
        problems.push(
          ...(await step(emit, "verify", "count", "comparing row counts with the manifest", () => compareCounts(scratchDb, manifest.rowCounts), countOutcome(manifest))),
        );
      } finally {
        await scratchDb.close();
      }
    } catch (error) {
      problems.push((error as Error).message);
    }
  } finally {
    // Dropped even when the restore failed.
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)} WITH (FORCE)`).catch(() => undefined);
    await admin.close();
  }
  return await finish();
}

export interface BackupEntry {
  path: string;
  manifest: Manifest;
  ageSeconds: number;
}

/** `breakwater backups`: every backup with a manifest in the folder, newest first. */
export async function listBackups(dir: string): Promise<BackupEntry[]> {
  if (!existsSync(dir)) return [];
  const entries: BackupEntry[] = [];
  for (const name of await readdir(dir)) {
    if (!name.endsWith(".manifest.json")) continue;
    const manifestFile = path.join(dir, name);
    try {
      const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as Manifest;
      entries.push({ path: backupPathOf(manifestFile, manifest), manifest, ageSeconds: Math.max(0, (Date.now() - Date.parse(manifest.createdAt)) / 1000) });
    } catch {
      // not ours
    }
  }
  return entries.sort((a, b) => Date.parse(b.manifest.createdAt) - Date.parse(a.manifest.createdAt));
}

export interface PruneResult {
  removed: string[];
  kept: string[];
  /** backups the rule matched but prune never deletes, with the reason */
  spared: { path: string; reason: string }[];
}

/**
 * `breakwater backup prune`: removes old backups, but never the newest one (so a folder is never
 * emptied, whatever --keep or --older-than say) nor the newest verified one.
 */
export async function pruneBackups(dir: string, rule: { keep?: number; olderThanSeconds?: number }, dryRun = false): Promise<PruneResult> {
  const all = await listBackups(dir);
  const neverDeleted = new Map<BackupEntry, string>();
  const newestVerified = all.find((b) => b.manifest.verified?.ok);
  if (newestVerified) neverDeleted.set(newestVerified, "the newest verified backup");
  if (all[0]) neverDeleted.set(all[0], all[0] === newestVerified ? "the newest backup, verified" : "the newest backup");
  const removed: string[] = [];
  const kept: string[] = [];
  const spared: PruneResult["spared"] = [];
  all.forEach((b, index) => {
    const tooMany = rule.keep !== undefined && index >= rule.keep;
    const tooOld = rule.olderThanSeconds !== undefined && b.ageSeconds > rule.olderThanSeconds;
    const reason = neverDeleted.get(b);
    if ((tooMany || tooOld) && reason) spared.push({ path: b.path, reason });
    if ((tooMany || tooOld) && !reason) removed.push(b.path);
    else kept.push(b.path);
  });
  if (!dryRun) {
    for (const p of removed) {
      await rm(p, { recursive: true, force: true });
      await rm(manifestPath(p), { force: true });
    }
  }
  return { removed, kept, spared };
}

export interface RestoreResult {
  badStateBackup: string;
  problems: string[];
  /** pg_restore and the count comparison */
  durationSeconds: number;
  /** how long the database refused writes; null when it still does (the counts differ) */
  writesRefusedSeconds: number | null;
}

/**
 * `breakwater restore`: makes the database refuse writes (restore-fence.ts), dumps the current
 * ("bad") state, restores, checks the counts, and lets writes in again only if they match.
 */
export async function restoreBackup(url: string, given: string, settings: BackupSettings, emit: Emit = noop): Promise<RestoreResult> {
  const backup = resolveBackup(given, settings.dir);
  const manifest = await readManifest(backup);
  if (!existsSync(backup)) throw new BreakwaterError("BW_BACKUP_INVALID", `${manifest.file} is missing next to its manifest.`);
  const sha = await checksumStep(emit, "restore", backup, manifest);
  if (sha !== manifest.sha256) throw new BreakwaterError("BW_BACKUP_INVALID", `${manifest.file} does not match its manifest's sha256; refusing to restore a corrupted backup.`);
  const database = databaseOf(url);
  const db = await openRestoreSession(url, "breakwater restore");
  try {
    const pgRestore = findTool("pg_restore", settings, (await serverMajor(db)).major);
    const fenceRaised = performance.now();
    const fence = await step(
      emit,
      "restore",
      "fence",
      `refusing writes to ${database} (default_transaction_read_only) and ending the sessions connected before`,
      () => raiseRestoreFence(db, backup),
      (fence) =>
        `${fence.takenOver ? `a restore that did not finish (of ${path.basename(fence.takenOver.backup)}) left writes refused since ${fence.takenOver.since}; this restore takes its fence over. ` : ""}writes refused; ${fence.ended} session(s) ended`,
    );
    let bad: BackupResult;
    try {
      // Its pg_dump progress shows; its own step lines would repeat this one.
      bad = await step(
        emit,
        "restore",
        "bad-state",
        "dumping the current state first (bad-state backup)",
        () => createBackup(url, { ...settings, format: "custom" }, { label: "bad-state", emit: (e) => e.type === "backup-progress" && emit(e) }),
        (bad) => `the current state saved to ${bad.path}`,
      );
      await recordBadState(db, bad.path);
    } catch (error) {
      // Nothing restored yet: the database is as it was, and takes writes again.
      if (!fence.takenOver) {
        await lowerRestoreFence(db);
        throw error;
      }
      throw new BreakwaterError("BW_RESTORE_FAILED", `The bad-state dump failed: ${errorMessage(error)}`, { hint: liftHint(database) });
    }
    const t0 = performance.now();
    const single = manifest.format === "custom" || settings.jobs <= 1 ? ["--single-transaction"] : [];
    try {
      const { tables } = await listContents(pgRestore, backup, url, settings);
      await step(
        emit,
        "restore",
        "restore",
        `restoring ${manifest.file} (pg_restore --clean --if-exists${single.length ? ", one transaction" : ""})`,
        () =>
          restoreInto(
            { url, dbname: toolConnectionString(database, writableSessionOptions), backup, manifest, settings, pgRestore, extra: ["--clean", "--if-exists", ...single] },
            emit,
            tables,
          ),
        () => `restored ${manifest.file}`,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new BreakwaterError("BW_RESTORE_FAILED", message, {
        hint: `Maintenance mode stays on. ${single.length ? "The restore ran in one transaction, so the database is as it was; " : ""}the state before the restore is in ${bad.path}. Fix the cause and run the restore again. ${liftHint(database)}`,
      });
    }
    const problems = await step(emit, "restore", "count", "comparing row counts with the manifest", () => compareCounts(db, manifest.rowCounts), countOutcome(manifest));
    const durationSeconds = Math.round((performance.now() - t0) / 10) / 100;
    if (problems.length > 0) return { badStateBackup: bad.path, problems, durationSeconds, writesRefusedSeconds: null };
    await step(
      emit,
      "restore",
      "unfence",
      "allowing writes again",
      () => lowerRestoreFence(db),
      (lowered) =>
        `writes allowed again; ${lowered.sessions.ended} session(s) opened meanwhile ended so they reconnect writable${lowered.sessions.remaining.length > 0 ? `; could not end ${lowered.sessions.remaining.join("; ")}: they refuse writes until they reconnect` : ""}`,
    );
    const writesRefusedSeconds = Math.round((performance.now() - fenceRaised) / 10) / 100;
    return { badStateBackup: bad.path, problems, durationSeconds, writesRefusedSeconds };
  } finally {
    await db.close();
  }
}
