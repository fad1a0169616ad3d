// Prisma's migrations folder applied as `prisma migrate deploy` does, leaving `_prisma_migrations`
// exactly as Prisma would (see the contract in the README), plus what Prisma lacks: lock_timeout
// with retries, a file PostgreSQL refuses with 55P04 run in several transactions, files refused
// before anything runs (not UTF-8, or missing), --dry-run and per-file timings.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { sqlErrorInfo, type Database } from "@breakwater/runtime/internal";
import type { LockPolicy } from "../../db/locks.ts";
import { createBackup, type BackupSettings } from "../../backup/backup.ts";
import type { BackupEvent, MigrationEvent } from "../../runner/events.ts";
import { destroysData, splitStatements } from "../../db/sql-statements.ts";
import type { LintGate } from "../../lint/gate.ts";
import type { CatalogFacts } from "../../lint/types.ts";
import { planCompleted } from "../plan-gate.ts";
import { applyFile, describeCommitted, type FileProgress } from "./apply-file.ts";
import {
  connectForPrisma,
  createMigrationsTable,
  migrationsTableExists,
  preparePending,
  prismaError,
  readMigrations,
  readRows,
  takePrismaLock,
  type PendingMigration,
} from "./migrations.ts";

/** What deploy emits: each migration folder, and the full backup it may take first. */
export type MigrateEvent = MigrationEvent | BackupEvent;

export interface DeployOptions {
  migrationsDir: string;
  dryRun?: boolean;
  lock: LockPolicy;
  /** how long to wait for Prisma's advisory lock (default 10 s, as Prisma) */
  advisoryLockWaitMs?: number;
  /** a full pg_dump before the first file that drops or rewrites data ("destructive") or before any file ("always") */
  backup?: { settings: BackupSettings; when: "never" | "destructive" | "always" };
  emit?: (event: MigrateEvent) => void;
  /** lint the files about to run first, and refuse error findings not ignored nor allowed (absent: no lint) */
  lint?: LintGate;
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
  if (when === "always") return { folder: pending[0]!, reason: 'backup.beforeDeploy is "always"' };
  for (const folder of pending.filter((f) => !f.appliedByPlan)) {
    const reasons = (await splitStatements(folder.sql, `${folder.name}/migration.sql`)).map(destroysData).filter((r): r is string => r !== null);
    if (reasons.length > 0) return { folder, reason: [...new Set(reasons)].join(", ") };
  }
  return null;
}

/**
 * Lints the files this deploy will run (Prisma's runner; the catalog read on the deploy's own
 * connection, read-only under 5 s timeouts): warnings become notes, errors refuse the deploy
 * before anything runs.
 */
async function lintPending(db: Database, folders: PendingMigration[], gate: LintGate, emit: (event: MigrateEvent) => void): Promise<void> {
  if (folders.length === 0) return;
  // The linter (its rules, PostgreSQL's parser) loads only when there is something to lint.
  const [{ readCatalog }, { describeFinding, lintBeforeApply, lintRefusal }, { readLintFile }] = await Promise.all([
    import("../../lint/catalog.ts"),
    import("../../lint/gate.ts"),
    import("../../lint/source.ts"),
  ]);
  const names = new Map<string, string>();
  const files = [];
  for (const folder of folders) {
    const display = (path.relative(process.cwd(), folder.file) || folder.file).split(path.sep).join("/");
    names.set(display, folder.name);
    files.push(await readLintFile(display, folder.sql, "prisma"));
  }
  let catalog: CatalogFacts | null = null;
  try {
    catalog = await readCatalog(db, files);
  } catch (error) {
    if (sqlErrorInfo(error).sqlstate === undefined) throw error;
    emit({ type: "migration-note", name: folders[0]!.name, message: `lint: the catalog could not be read (${sqlErrorInfo(error).message}): linting the files alone` });
  }
  const { refused, passed } = await lintBeforeApply(files, gate, catalog);
  for (const finding of passed)
    emit({ type: "migration-note", name: names.get(finding.file) ?? finding.file, message: `lint: ${describeFinding(finding, finding.severity === "error")}` });
  if (refused.length > 0) throw lintRefusal(refused, "deploy");
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
        throw prismaError(
          "P3005",
          "The database schema is not empty. Read more about how to baseline an existing production database: https://pris.ly/d/migrate-baseline",
          "Mark the migrations that are already applied with `breakwater migrate resolve --applied <name>`.",
        );
      }
      if (!options.dryRun) await createMigrationsTable(db);
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
    if (options.lint)
      await lintPending(
        db,
        pending.filter((f) => !f.appliedByPlan),
        options.lint,
        emit,
      );
    const trigger = await backupTrigger(pending, options.backup?.when ?? "never");
    if (options.dryRun)
      return { applied: [], pending: pending.map((p) => p.name), waiting, backup: trigger ? { before: trigger.folder.name, reason: trigger.reason, path: null } : null };
    let backup: DeployResult["backup"] = null;
    const done: { name: string; durationMs: number }[] = [];
    for (const folder of pending) {
      if (trigger?.folder === folder && options.backup) {
        emit({ type: "migration-note", name: folder.name, message: `full backup first (${trigger.reason})` });
        const plain = new URL(url);
        plain.searchParams.delete("schema");
        const taken = await createBackup(plain.toString(), options.backup.settings, { label: `before_${folder.name}`, emit });
        backup = { before: folder.name, reason: trigger.reason, path: taken.path };
        emit({ type: "migration-note", name: folder.name, message: `backup written: ${taken.path}` });
      }
      emit({ type: "migration-start", name: folder.name });
      if (folder.appliedByPlan) {
        // The plan's operations made these changes (its run completed above): recorded, as
        // `migrate resolve --applied` records a migration, so Prisma's history matches the schema.
        const started = performance.now();
        await db.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, started_at, finished_at, migration_name, logs, applied_steps_count) VALUES ($1, $2, now(), now(), $3, '', 0)`,
          [randomUUID(), folder.checksum, folder.name],
        );
        emit({ type: "migration-note", name: folder.name, message: `recorded as applied: plan ${folder.requiresPlan} made its changes` });
        const durationMs = performance.now() - started;
        done.push({ name: folder.name, durationMs });
        emit({ type: "migration-done", name: folder.name, durationMs });
        continue;
      }
      if (folder.byteOrderMark)
        emit({
          type: "migration-note",
          name: folder.name,
          message: "starts with a UTF-8 byte-order mark: run without it, as psql does (sent as it is, PostgreSQL answers 42601 syntax error)",
        });
      const started = performance.now();
      const id = randomUUID();
      await db.query(`INSERT INTO "_prisma_migrations" (id, checksum, started_at, migration_name) VALUES ($1, $2, now(), $3)`, [id, folder.checksum, folder.name]);
      const progress: FileProgress = { committed: [], total: 0 };
      try {
        await applyFile(db, folder, progress, options.lock, emit);
      } catch (error) {
        // A file with its own BEGIN leaves the session inside the failed transaction block.
        await db.query("ROLLBACK").catch(() => undefined);
        const kept = progress.committed.length > 0 ? `\n\n${describeCommitted(progress)}` : "";
        await db.query(`UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1`, [id, failureLog(error) + kept]);
        const info = sqlErrorInfo(error);
        throw prismaError(
          "P3018",
          `A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\nMigration name: ${folder.name}\n\nDatabase error code: ${info.sqlstate ?? "unknown"}\n\nDatabase error:\n${info.message}${kept}`,
          kept ?
            `Those statements stay applied. Finish the migration by hand and run \`breakwater migrate resolve --applied ${folder.name}\`, or make the file safe to run again from its start (ADD VALUE IF NOT EXISTS …) and run \`breakwater migrate resolve --rolled-back ${folder.name}\`, then deploy.`
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
