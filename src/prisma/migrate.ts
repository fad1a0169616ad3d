// Prisma's migrations folder applied as `prisma migrate deploy` does, leaving `_prisma_migrations`
// exactly as Prisma would (see the contract in the README), plus what Prisma lacks: lock_timeout
// with retries, the enum ADD VALUE split (55P04), --dry-run and per-file timings.
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { Database, describeUrl, sqlErrorInfo } from "../db/database.ts";
import { isLockTimeout, type LockPolicy } from "../db/locks.ts";
import { quoteIdent } from "../db/quote.ts";
import { createBackup, type BackupSettings } from "../backup/backup.ts";
import { destroysData, isEnumValueAddition, splitStatements } from "../db/sql-statements.ts";
import { BreakwaterError } from "../errors.ts";

/** Prisma's advisory lock key: breakwater and Prisma exclude each other. */
export const PRISMA_LOCK_KEY = 72707369;

export interface MigrationFolder {
  name: string;
  sql: string;
  checksum: string;
  /** from the folder's breakwater.json: the id of the plan whose run must complete first */
  requiresPlan: string | null;
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

type PrismaCode = "P1002" | "P3005" | "P3008" | "P3009" | "P3011" | "P3012" | "P3017" | "P3018" | "P3019";

function prismaError(code: PrismaCode, message: string, hint?: string): BreakwaterError {
  return new BreakwaterError(code, message, hint === undefined ? {} : { hint });
}

export function checksumOf(sql: string): string {
  return createHash("sha256").update(sql, "utf8").digest("hex");
}

/** The folders, in lexicographic order, each with its migration.sql and checksum. */
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
    if (!existsSync(file)) continue;
    const sql = await readFile(file, "utf8");
    folders.push({ name: entry, sql, checksum: checksumOf(sql), requiresPlan: await readGate(path.join(dir, entry, GATE_FILE)) });
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
async function backupTrigger(pending: MigrationFolder[], when: "never" | "destructive" | "always"): Promise<{ folder: MigrationFolder; reason: string } | null> {
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
    const pending = folders.filter((f) => !applied.has(f.name));
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
      const started = performance.now();
      const id = randomUUID();
      await db.query(`INSERT INTO "_prisma_migrations" (id, checksum, started_at, migration_name) VALUES ($1, $2, now(), $3)`, [id, folder.checksum, folder.name]);
      try {
        await applyFile(db, folder, options, emit);
      } catch (error) {
        // A file with its own BEGIN leaves the session inside the failed transaction block.
        await db.query("ROLLBACK").catch(() => undefined);
        await db.query(`UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1`, [id, failureLog(error)]);
        const info = sqlErrorInfo(error);
        throw prismaError("P3018", `A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\nMigration name: ${folder.name}\n\nDatabase error code: ${info.sqlstate ?? "unknown"}\n\nDatabase error:\n${info.message}`);
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
 * One file as one simple query (PostgreSQL's implicit transaction), under lock_timeout. A file
 * that adds enum values and also does other things runs the additions first, each committed,
 * then the rest (the 55P04 trap). A lock timeout is retried when the file has no explicit
 * transaction control (so nothing of it was committed).
 */
async function applyFile(db: Database, folder: MigrationFolder, options: DeployOptions, emit: (e: MigrateEvent) => void): Promise<void> {
  const statements = await splitStatements(folder.sql, `${folder.name}/migration.sql`);
  const additions = statements.filter(isEnumValueAddition);
  const rest = statements.filter((s) => !isEnumValueAddition(s));
  const retryable = !statements.some((s) => s.kind === "TransactionStmt");
  const run = async (sql: string) => {
    for (let attempt = 0; ; attempt++) {
      await db.query("SELECT set_config('lock_timeout', $1, false)", [`${options.lock.lockTimeoutMs}ms`]);
      try {
        await db.query(sql);
        return;
      } catch (error) {
        if (!isLockTimeout(error) || !retryable || attempt >= options.lock.retries) throw error;
        const wait = Math.min(options.lock.maxBackoffMs, options.lock.backoffMs * 2 ** attempt);
        emit({ type: "migration-note", name: folder.name, message: `lock busy (lock_timeout ${options.lock.lockTimeoutMs} ms); retrying in ${wait} ms` });
        await new Promise((r) => setTimeout(r, wait));
      } finally {
        await db.query("SELECT set_config('lock_timeout', '0', false)").catch(() => undefined);
      }
    }
  };
  if (additions.length > 0 && rest.length > 0) {
    emit({ type: "migration-note", name: folder.name, message: `adds enum values and uses them: running the ${additions.length} ALTER TYPE … ADD VALUE first, each committed, then the rest (avoids 55P04)` });
    for (const addition of additions) await run(`${addition.text.replace(/ADD\s+VALUE\s+(?!IF\s+NOT\s+EXISTS)/i, "ADD VALUE IF NOT EXISTS ")}`);
    await run(rest.map((s) => `${s.text};`).join("\n"));
    return;
  }
  await run(folder.sql);
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
  /** pending contract folders whose plan has not completed (deploy stops before them) */
  waiting: { migration: string; planId: string }[];
  failed: string[];
  /** applied, but the file changed since (checksum, with CRLF/LF variants accepted) */
  edited: string[];
  /** rows without a folder */
  missing: string[];
}

/** `breakwater migrate status` */
export async function migrationStatus(url: string, migrationsDir: string): Promise<MigrationStatus> {
  const folders = await readMigrations(migrationsDir);
  const { db, schema } = await connectForPrisma(url);
  try {
    const rows = await readRows(db, schema);
    const live = rows.filter((r) => r.rolled_back_at === null);
    const byName = new Map(folders.map((f) => [f.name, f]));
    const variants = (sql: string) => [checksumOf(sql), checksumOf(sql.replace(/\r\n/g, "\n")), checksumOf(sql.replace(/\r?\n/g, "\r\n"))];
    const pendingFolders = folders.filter((f) => !live.some((r) => r.migration_name === f.name));
    const waiting: { migration: string; planId: string }[] = [];
    for (const f of pendingFolders) if (f.requiresPlan !== null && !(await planCompleted(db, f.requiresPlan))) waiting.push({ migration: f.name, planId: f.requiresPlan });
    return {
      applied: live.filter((r) => r.finished_at !== null).map((r) => r.migration_name),
      pending: pendingFolders.map((f) => f.name),
      waiting,
      failed: live.filter((r) => r.finished_at === null).map((r) => r.migration_name),
      edited: live.filter((r) => r.finished_at !== null && byName.has(r.migration_name) && !variants(byName.get(r.migration_name)!.sql).includes(r.checksum)).map((r) => r.migration_name),
      missing: live.filter((r) => !byName.has(r.migration_name)).map((r) => r.migration_name),
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
    const folder = folders.find((f) => f.name === name);
    if (!folder) throw prismaError("P3017", `The migration ${name} could not be found. Please make sure that the migration exists, and that you included the whole name of the directory. (example: "20201207184859_initial_migration")`);
    if (rows.some((r) => r.finished_at !== null && r.rolled_back_at === null)) throw prismaError("P3008", `The migration \`${name}\` is already recorded as applied in the database.`);
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL`, [name]);
      await tx.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, started_at, finished_at, migration_name, logs, applied_steps_count) VALUES ($1, $2, now(), now(), $3, '', 0)`,
        [randomUUID(), folder.checksum, name],
      );
    });
  } finally {
    await db.close();
  }
}
