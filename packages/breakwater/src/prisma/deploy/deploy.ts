// Prisma's migrations folder applied as `prisma migrate deploy` does, leaving `_prisma_migrations`
// exactly as Prisma would (see the contract in the README), plus what Prisma lacks: lock_timeout
// with retries, a file PostgreSQL refuses with 55P04 run in several transactions, files refused
// before anything runs (not UTF-8, or missing), --dry-run and per-file timings.
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { BreakwaterError, Database, describeUrl, sqlErrorInfo } from "@breakwater/runtime/internal";
import { isLockTimeout, type LockPolicy } from "../../db/locks.ts";
import { quoteIdent, quoteLiteral } from "../../db/quote.ts";
import { createBackup, type BackupSettings } from "../../backup/backup.ts";
import { addedEnumValue, decodeSql, destroysData, findInvalidUtf8, isEnumValueAddition, splitStatements, type Statement } from "../../db/sql-statements.ts";

/** Prisma's advisory lock key: breakwater and Prisma exclude each other. */
export const PRISMA_LOCK_KEY = 72707369;

export interface MigrationFolder {
  name: string;
  /** the path of its migration.sql */
  file: string;
  /** the file's bytes; null when the folder has no migration.sql (Prisma's P3015) */
  bytes: Buffer | null;
  /** from the folder's breakwater.json: the id of the plan whose run must complete first */
  requiresPlan: string | null;
}

/** A folder deploy will run: its checksum and the text PostgreSQL is sent. */
interface PendingMigration extends MigrationFolder {
  bytes: Buffer;
  checksum: string;
  sql: string;
  byteOrderMark: boolean;
}

/** Written by `breakwater plan` next to a final (contract) migration.sql; Prisma ignores it. */
export const GATE_FILE = "breakwater.json";

export interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

export type MigrateEvent =
  | { type: "migration-start"; name: string }
  | { type: "migration-done"; name: string; durationMs: number }
  | { type: "migration-note"; name: string; message: string }
  | { type: "migration-waiting"; name: string; planId: string };

type PrismaCode = "P1002" | "P3005" | "P3008" | "P3009" | "P3011" | "P3012" | "P3015" | "P3017" | "P3018" | "P3019";

function prismaError(code: PrismaCode, message: string, hint?: string): BreakwaterError {
  return new BreakwaterError(code, message, hint === undefined ? {} : { hint });
}

/** What Prisma records: sha256 of the file's bytes (a string is taken as its UTF-8 bytes). */
export function checksumOf(content: string | Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

/**
 * Prisma's comparison of a file with a recorded checksum: the file as it is, with CRLF → LF, or
 * with LF → CRLF (git may change line endings), and the unpadded hex of early Prisma versions.
 * Done on bytes: CR and LF never occur inside a UTF-8 sequence, so for a UTF-8 file this is
 * Prisma's comparison of text.
 */
function matchesChecksum(bytes: Buffer, checksum: string): boolean {
  const text = bytes.toString("latin1"); // one character per byte
  return [text, text.replaceAll("\r\n", "\n"), text.replaceAll("\n", "\r\n")].some((variant) => {
    const digest = createHash("sha256").update(variant, "latin1").digest();
    const hex = checksum.length === 64 ? digest.toString("hex") : [...digest].map((b) => b.toString(16)).join("");
    return hex === checksum;
  });
}

function missingFileError(folder: MigrationFolder): BreakwaterError {
  return prismaError("P3015", `Could not find the migration file at ${folder.file}. Please delete the directory or restore the migration file.`);
}

/** A folder ready to run, or the refusal: P3015 without migration.sql, BW_SQL_FAILED when not UTF-8. */
function preparePending(folder: MigrationFolder): PendingMigration {
  if (folder.bytes === null) throw missingFileError(folder);
  const { text, byteOrderMark } = decodeSql(folder.bytes, `${folder.name}/migration.sql`);
  return { ...folder, bytes: folder.bytes, checksum: checksumOf(folder.bytes), sql: text, byteOrderMark };
}

/** The folders, in lexicographic order, each with its migration.sql's bytes. */
export async function readMigrations(dir: string): Promise<MigrationFolder[]> {
  if (!existsSync(dir)) throw new BreakwaterError("BW_CONFIG_INVALID", `No migrations folder at ${dir}.`, { hint: "Give --migrations <dir> (default prisma/migrations)." });
  const lock = path.join(dir, "migration_lock.toml");
  if (existsSync(lock)) {
    const line = (await readFile(lock, "utf8")).split("\n").find((l) => l.trim().startsWith("provider"));
    const provider = line ? /=\s*"([^"]*)"/.exec(line)?.[1] : undefined;
    if (provider !== undefined && provider !== "postgresql") {
      throw prismaError("P3019", `The datasource provider \`postgresql\` specified in your schema does not match the one specified in the migration_lock.toml, \`${provider}\`.`);
    }
  }
  const folders: MigrationFolder[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
    const file = path.join(dir, entry, "migration.sql");
    const bytes = existsSync(file) ? await readFile(file) : null;
    folders.push({ name: entry, file, bytes, requiresPlan: await readGate(path.join(dir, entry, GATE_FILE)) });
  }
  return folders;
}

async function readGate(file: string): Promise<string | null> {
  if (!existsSync(file)) return null;
  try {
    const value = JSON.parse(await readFile(file, "utf8")) as { requiresPlan?: unknown };
    return typeof value.requiresPlan === "string" ? value.requiresPlan : null;
  } catch (error) {
    throw new BreakwaterError("BW_CONFIG_INVALID", `${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Whether a run of this plan completed (the contract migration may follow). */
async function planCompleted(db: Database, planId: string): Promise<boolean> {
  const exists = (await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.runs') IS NOT NULL AS ok")).ok;
  if (!exists) return false;
  return (await db.one<{ ok: boolean }>("SELECT EXISTS (SELECT 1 FROM breakwater.runs WHERE plan_id = $1 AND state = 'completed') AS ok", [planId])).ok;
}

/** Prisma's `?schema=` becomes the search_path (and the schema is created when missing). */
export async function connectForPrisma(url: string): Promise<{ db: Database; schema: string }> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema") ?? "public";
  parsed.searchParams.delete("schema");
  const db = await Database.connect(parsed.toString(), { applicationName: "breakwater deploy" });
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await db.query("SELECT set_config('search_path', $1, false)", [quoteIdent(schema)]);
  return { db, schema };
}

const createTableSql = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

async function migrationsTableExists(db: Database, schema: string): Promise<boolean> {
  return (await db.one<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [`${quoteIdent(schema)}."_prisma_migrations"`])).ok;
}

export async function readRows(db: Database, schema: string): Promise<MigrationRow[]> {
  if (!(await migrationsTableExists(db, schema))) return [];
  return (await db.query<MigrationRow>(`SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name`)).rows;
}

/** Takes Prisma's advisory lock, waiting at most `waitMs` (P1002 after that, as Prisma). */
async function takePrismaLock(db: Database, url: string, waitMs: number): Promise<void> {
  await db.query("SELECT set_config('lock_timeout', $1, false)", [`${waitMs}ms`]);
  try {
    await db.query(`SELECT pg_advisory_lock(${PRISMA_LOCK_KEY})`);
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    const where = describeUrl(url).split("/")[0];
    throw prismaError("P1002", `The database server at \`${where}\` was reached but timed out. Timed out trying to acquire a postgres advisory lock (SELECT pg_advisory_lock(${PRISMA_LOCK_KEY})). Timeout: ${waitMs}ms.`, "Another `prisma migrate` or `breakwater deploy` holds the lock; wait for it to finish.");
  } finally {
    await db.query("SELECT set_config('lock_timeout', '0', false)");
  }
}

export interface DeployOptions {
  migrationsDir: string;
  dryRun?: boolean;
  lock: LockPolicy;
  /** how long to wait for Prisma's advisory lock (default 10 s, as Prisma) */
  advisoryLockWaitMs?: number;
  /** a full pg_dump before the first file that drops or rewrites data ("destructive") or before any file ("always") */
  backup?: { settings: BackupSettings; when: "never" | "destructive" | "always" };
  emit?: (event: MigrateEvent) => void;
}

export interface DeployResult {
  applied: { name: string; durationMs: number }[];
  pending: string[];
  /** deploy stopped before this folder: its plan has not completed yet */
  waiting: { migration: string; planId: string } | null;
  /** the full backup taken (or, with dryRun, that would be taken) before a file */
  backup: { before: string; reason: string; path: string | null } | null;
}

/** The first pending folder that calls for a full backup under the policy, with the reason. */
async function backupTrigger(pending: PendingMigration[], when: "never" | "destructive" | "always"): Promise<{ folder: PendingMigration; reason: string } | null> {
  if (when === "never" || pending.length === 0) return null;
  if (when === "always") return { folder: pending[0]!, reason: "backup.beforeDeploy is \"always\"" };
  for (const folder of pending) {
    const reasons = (await splitStatements(folder.sql, `${folder.name}/migration.sql`)).map(destroysData).filter((r): r is string => r !== null);
    if (reasons.length > 0) return { folder, reason: [...new Set(reasons)].join(", ") };
  }
  return null;
}

function failureLog(error: unknown): string {
  const info = sqlErrorInfo(error);
  return `Database error code: ${info.sqlstate ?? "unknown"}\n\nDatabase error:\n${info.message}`;
}

/** "2", "2 and 5", "2, 5 and 6" */
function listNumbers(numbers: number[]): string {
  return numbers.length === 1 ? String(numbers[0]) : `${numbers.slice(0, -1).join(", ")} and ${numbers.at(-1)}`;
}

/** How far a file run in several transactions got: its first statements committed, of `total`. */
interface FileProgress {
  committed: Statement[];
  total: number;
}

/** What a file split into transactions left committed when a later statement failed. */
function describeCommitted(progress: FileProgress): string {
  const n = progress.committed.length;
  const added = progress.committed.map(addedEnumValue).filter((v) => v !== null).map((v) => `${quoteLiteral(v.value)} to ${v.type.map(quoteIdent).join(".")}`);
  return `Committed before the failure, not rolled back: ${n === 1 ? "statement 1" : `statements 1–${n}`} of ${progress.total}${added.length ? `, which added ${added.join(", ")}` : ""}.`;
}

/** `breakwater deploy` */
export async function deploy(url: string, options: DeployOptions): Promise<DeployResult> {
  const emit = options.emit ?? (() => undefined);
  const folders = await readMigrations(options.migrationsDir);
  const { db, schema } = await connectForPrisma(url);
  try {
    await takePrismaLock(db, url, options.advisoryLockWaitMs ?? 10_000);
    if (!(await migrationsTableExists(db, schema))) {
      const others = await db.one<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm')",
        [schema],
      );
      if (others.n > 0) {
        throw prismaError("P3005", "The database schema is not empty. Read more about how to baseline an existing production database: https://pris.ly/d/migrate-baseline", "Mark the migrations that are already applied with `breakwater migrate resolve --applied <name>`.");
      }
      if (!options.dryRun) await db.query(createTableSql);
    }
    const rows = await readRows(db, schema);
    const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed) {
      throw prismaError(
        "P3009",
        `migrate found failed migrations in the target database, new migrations will not be applied. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\nThe \`${failed.migration_name}\` migration started at ${failed.started_at.toISOString()} failed`,
        `Fix the database, then \`breakwater migrate resolve --rolled-back ${failed.migration_name}\` (to re-run it) or \`--applied ${failed.migration_name}\`.`,
      );
    }
    const applied = new Set(rows.filter((r) => r.rolled_back_at === null).map((r) => r.migration_name));
    // Every pending file is read and checked before any runs (Prisma fails on reaching it).
    const pending = folders.filter((f) => !applied.has(f.name)).map(preparePending);
    // A contract folder waits for its plan's run; nothing after it runs either (order matters).
    let waiting: DeployResult["waiting"] = null;
    for (const [i, folder] of pending.entries()) {
      if (folder.requiresPlan !== null && !(await planCompleted(db, folder.requiresPlan))) {
        waiting = { migration: folder.name, planId: folder.requiresPlan };
        pending.splice(i);
        break;
      }
    }
    const trigger = await backupTrigger(pending, options.backup?.when ?? "never");
    if (options.dryRun) return { applied: [], pending: pending.map((p) => p.name), waiting, backup: trigger ? { before: trigger.folder.name, reason: trigger.reason, path: null } : null };
    let backup: DeployResult["backup"] = null;
    const done: { name: string; durationMs: number }[] = [];
    for (const folder of pending) {
      if (trigger?.folder === folder && options.backup) {
        emit({ type: "migration-note", name: folder.name, message: `full backup first (${trigger.reason})` });
        const plain = new URL(url);
        plain.searchParams.delete("schema");
        const taken = await createBackup(plain.toString(), options.backup.settings, { label: `before_${folder.name}` });
        backup = { before: folder.name, reason: trigger.reason, path: taken.path };
        emit({ type: "migration-note", name: folder.name, message: `backup written: ${taken.path}` });
      }
      emit({ type: "migration-start", name: folder.name });
      if (folder.byteOrderMark) emit({ type: "migration-note", name: folder.name, message: "starts with a UTF-8 byte-order mark: run without it, as psql does (sent as it is, PostgreSQL answers 42601 syntax error)" });
      const started = performance.now();
      const id = randomUUID();
      await db.query(`INSERT INTO "_prisma_migrations" (id, checksum, started_at, migration_name) VALUES ($1, $2, now(), $3)`, [id, folder.checksum, folder.name]);
      const progress: FileProgress = { committed: [], total: 0 };
      try {
        await applyFile(db, folder, progress, options, emit);
      } catch (error) {
        // A file with its own BEGIN leaves the session inside the failed transaction block.
        await db.query("ROLLBACK").catch(() => undefined);
        const kept = progress.committed.length > 0 ? `\n\n${describeCommitted(progress)}` : "";
        await db.query(`UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1`, [id, failureLog(error) + kept]);
        const info = sqlErrorInfo(error);
        throw prismaError(
          "P3018",
          `A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\nMigration name: ${folder.name}\n\nDatabase error code: ${info.sqlstate ?? "unknown"}\n\nDatabase error:\n${info.message}${kept}`,
          kept
            ? `Those statements stay applied. Finish the migration by hand and run \`breakwater migrate resolve --applied ${folder.name}\`, or make the file safe to run again from its start (ADD VALUE IF NOT EXISTS …) and run \`breakwater migrate resolve --rolled-back ${folder.name}\`, then deploy.`
            : undefined,
        );
      }
      await db.query(`UPDATE "_prisma_migrations" SET applied_steps_count = applied_steps_count + 1 WHERE id = $1`, [id]);
      await db.query(`UPDATE "_prisma_migrations" SET finished_at = now() WHERE id = $1`, [id]);
      const durationMs = performance.now() - started;
      done.push({ name: folder.name, durationMs });
      emit({ type: "migration-done", name: folder.name, durationMs });
    }
    if (waiting) emit({ type: "migration-waiting", name: waiting.migration, planId: waiting.planId });
    return { applied: done, pending: [], waiting, backup };
  } finally {
    await db.close();
  }
}

/**
 * Runs `attempt` under lock_timeout; when a lock is busy, again after a backoff, as long as
 * `retryable()` says nothing the attempt did can have been committed.
 */
async function withLockTimeout(db: Database, name: string, options: DeployOptions, emit: (e: MigrateEvent) => void, retryable: () => Promise<boolean>, attempt: () => Promise<void>): Promise<void> {
  for (let n = 0; ; n++) {
    await db.query("SELECT set_config('lock_timeout', $1, false)", [`${options.lock.lockTimeoutMs}ms`]);
    try {
      await attempt();
      return;
    } catch (error) {
      if (!isLockTimeout(error) || n >= options.lock.retries || !(await retryable())) throw error;
      const wait = Math.min(options.lock.maxBackoffMs, options.lock.backoffMs * 2 ** n);
      emit({ type: "migration-note", name, message: `lock busy (lock_timeout ${options.lock.lockTimeoutMs} ms); retrying in ${wait} ms` });
      await new Promise((r) => setTimeout(r, wait));
    } finally {
      await db.query("SELECT set_config('lock_timeout', '0', false)").catch(() => undefined);
    }
  }
}

/**
 * One file as Prisma runs it: one simple query, so PostgreSQL's one implicit transaction. A lock
 * timeout is retried when the file has no transaction control of its own (then nothing of it was
 * committed). Only when PostgreSQL refuses the file with 55P04 (it uses an enum value it adds)
 * is it run again in several transactions (see applyInTransactions).
 */
async function applyFile(db: Database, folder: PendingMigration, progress: FileProgress, options: DeployOptions, emit: (e: MigrateEvent) => void): Promise<void> {
  let parsed: Promise<Statement[]> | undefined;
  const statements = () => (parsed ??= splitStatements(folder.sql, `${folder.name}/migration.sql`));
  const ownTransactions = async () => (await statements().catch(() => null))?.some((s) => s.kind === "TransactionStmt") ?? true;
  try {
    await withLockTimeout(db, folder.name, options, emit, async () => !(await ownTransactions()), () => db.query(folder.sql).then(() => undefined));
  } catch (error) {
    if (sqlErrorInfo(error).sqlstate !== "55P04" || (await ownTransactions())) throw error;
    const list = await statements();
    if (!list.some(isEnumValueAddition)) throw error;
    progress.total = list.length;
    emit({ type: "migration-note", name: folder.name, message: "PostgreSQL refused it as one transaction (55P04: it uses an enum value it adds); running its statements in order, committing after each ALTER TYPE … ADD VALUE a later statement uses" });
    const commits = await applyInTransactions(db, folder.name, list, progress, options, emit);
    emit({ type: "migration-note", name: folder.name, message: `applied in ${commits.length + 1} transactions, committed after statement${commits.length > 1 ? "s" : ""} ${listNumbers(commits.map((i) => i + 1))}` });
  }
}

/**
 * The file's statements in order, in transactions that end after an ADD VALUE only where a later
 * statement needs it committed. PostgreSQL finds those places: when a statement fails with 55P04,
 * its transaction is rolled back and runs again ending after the last ADD VALUE before it.
 * Statements already committed never run again (lock timeouts included). Returns the indexes of
 * the statements committed after.
 */
async function applyInTransactions(db: Database, name: string, statements: Statement[], progress: FileProgress, options: DeployOptions, emit: (e: MigrateEvent) => void): Promise<number[]> {
  const commitAfter = new Set<number>();
  for (;;) {
    let failedAt = -1;
    try {
      await withLockTimeout(db, name, options, emit, async () => true, async () => {
        await db.query("BEGIN");
        try {
          for (let i = progress.committed.length; i < statements.length; i++) {
            failedAt = i;
            await db.query(statements[i]!.text);
            if (commitAfter.has(i) && i < statements.length - 1) {
              await db.query("COMMIT");
              progress.committed.push(...statements.slice(progress.committed.length, i + 1));
              await db.query("BEGIN");
            }
          }
          await db.query("COMMIT");
        } catch (error) {
          await db.query("ROLLBACK").catch(() => undefined);
          throw error;
        }
      });
      return [...commitAfter].sort((a, b) => a - b);
    } catch (error) {
      if (sqlErrorInfo(error).sqlstate !== "55P04") throw error;
      const before = statements.slice(progress.committed.length, failedAt).findLastIndex(isEnumValueAddition);
      if (before < 0) throw error;
      commitAfter.add(progress.committed.length + before);
    }
  }
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
  /** pending contract folders whose plan has not completed (deploy stops before them) */
  waiting: { migration: string; planId: string }[];
  failed: string[];
  /** applied, but the file's bytes changed since (Prisma's comparison: CRLF/LF variants accepted) */
  edited: string[];
  /** rows without a folder */
  missing: string[];
  /** pending folders deploy refuses before running anything: no migration.sql, or not UTF-8 */
  refused: { migration: string; reason: string }[];
}

/** `breakwater migrate status` */
export async function migrationStatus(url: string, migrationsDir: string): Promise<MigrationStatus> {
  const folders = await readMigrations(migrationsDir);
  const { db, schema } = await connectForPrisma(url);
  try {
    const rows = await readRows(db, schema);
    // As Prisma: a folder recorded in the table must have its file (its checksum is compared).
    const unreadable = folders.find((f) => f.bytes === null && rows.some((r) => r.migration_name === f.name));
    if (unreadable) throw missingFileError(unreadable);
    const live = rows.filter((r) => r.rolled_back_at === null);
    const byName = new Map(folders.map((f) => [f.name, f]));
    const editedSince = (row: MigrationRow) => {
      const bytes = byName.get(row.migration_name)?.bytes;
      return bytes != null && !matchesChecksum(bytes, row.checksum);
    };
    const pendingFolders = folders.filter((f) => !live.some((r) => r.migration_name === f.name));
    const refused = pendingFolders.flatMap((f) => {
      const reason = f.bytes === null ? "no migration.sql (P3015)" : findInvalidUtf8(f.bytes)?.reason;
      return reason === undefined ? [] : [{ migration: f.name, reason }];
    });
    const waiting: { migration: string; planId: string }[] = [];
    for (const f of pendingFolders) if (f.requiresPlan !== null && !(await planCompleted(db, f.requiresPlan))) waiting.push({ migration: f.name, planId: f.requiresPlan });
    return {
      applied: live.filter((r) => r.finished_at !== null).map((r) => r.migration_name),
      pending: pendingFolders.map((f) => f.name),
      waiting,
      failed: live.filter((r) => r.finished_at === null).map((r) => r.migration_name),
      edited: live.filter((r) => r.finished_at !== null && editedSince(r)).map((r) => r.migration_name),
      missing: live.filter((r) => !byName.has(r.migration_name)).map((r) => r.migration_name),
      refused,
    };
  } finally {
    await db.close();
  }
}

/** `breakwater migrate resolve --applied NAME | --rolled-back NAME`, with Prisma's semantics and codes. */
export async function resolveMigration(url: string, migrationsDir: string, mode: "applied" | "rolled-back", name: string): Promise<void> {
  const folders = await readMigrations(migrationsDir);
  const { db, schema } = await connectForPrisma(url);
  try {
    await takePrismaLock(db, url, 10_000);
    await db.query(createTableSql);
    const rows = (await readRows(db, schema)).filter((r) => r.migration_name === name);
    if (mode === "rolled-back") {
      if (rows.length === 0) throw prismaError("P3011", `Migration \`${name}\` cannot be rolled back because it was never applied to the database. Hint: did you pass in the whole migration name? (example: "20201207184859_initial_migration")`);
      const unfinished = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
      if (unfinished.length === 0) throw prismaError("P3012", `Migration \`${name}\` cannot be rolled back because it is not in a failed state.`);
      await db.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL`, [name]);
      return;
    }
    // As Prisma: a folder without its file is "not found" here, not P3015.
    const bytes = folders.find((f) => f.name === name)?.bytes;
    if (!bytes) throw prismaError("P3017", `The migration ${name} could not be found. Please make sure that the migration exists, and that you included the whole name of the directory. (example: "20201207184859_initial_migration")`);
    if (rows.some((r) => r.finished_at !== null && r.rolled_back_at === null)) throw prismaError("P3008", `The migration \`${name}\` is already recorded as applied in the database.`);
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL`, [name]);
      await tx.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, started_at, finished_at, migration_name, logs, applied_steps_count) VALUES ($1, $2, now(), now(), $3, '', 0)`,
        [randomUUID(), checksumOf(bytes), name],
      );
    });
  } finally {
    await db.close();
  }
}
