// `breakwater backup`, `backup verify`, `backup prune`, `backups`, `restore`.
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { loadConfig, maintenanceStoreFor, requireDatabaseUrl, type ResolvedConfig } from "../config/config.ts";
import { createBackup, listBackups, pruneBackups, resolveBackup, restoreBackup, verifyBackup, type BackupEvent, type BackupFormat } from "../backup/backup.ts";
import { BreakwaterError } from "../errors.ts";
import { reportError } from "./render.ts";

interface Common {
  config?: string;
  json?: boolean;
  dir?: string;
}

async function context(options: Common): Promise<{ config: ResolvedConfig; url: string }> {
  const config = await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
  if (options.dir) config.backup.dir = options.dir;
  return { config, url: requireDatabaseUrl(config) };
}

const megabytes = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

function progress(options: Common): (e: BackupEvent) => void {
  return (e) => {
    if (options.json) process.stdout.write(`${JSON.stringify(e)}\n`);
    else if (e.type === "backup-step") process.stderr.write(`  … ${e.message}\n`);
    else process.stderr.write(`  ${e.phase}: ${e.bytes === null ? "" : `${megabytes(e.bytes)} in `}${(e.elapsedMs / 1000).toFixed(1)} s${e.bytes === null ? " elapsed" : ""}\n`);
  };
}

function out(options: Common, value: unknown, text: string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

/** "7d", "12h", "30m" → seconds */
function parseAge(value: string): number {
  const match = /^(\d+)\s*(m|h|d|w)$/.exec(value.trim());
  if (!match) throw new BreakwaterError("BW_CONFIG_INVALID", `--older-than takes a duration like 7d, 12h or 30m, got ${JSON.stringify(value)}`);
  return Number(match[1]) * { m: 60, h: 3600, d: 86400, w: 604800 }[match[2] as "m" | "h" | "d" | "w"];
}

export function registerBackup(program: Command): void {
  const backup = program
    .command("backup")
    .description("Back up the database with the real pg_dump: timestamped, 0600, with a manifest (sha256, sizes, versions, row counts taken in the dump's snapshot, migration head)")
    .option("--format <format>", "custom (one file) or directory (parallel with --jobs)")
    .option("--jobs <n>", "parallel jobs for the directory format")
    .option("--dir <dir>", "where backups go (default: backup.dir in the config, else ./backups)")
    .option("--label <label>", "added to the file name, e.g. before-role-rename")
    .option("--config <file>", "config file")
    .option("--json", "progress and result as JSON lines")
    .addHelpText("after", "\nExamples:\n  npx breakwater backup\n  npx breakwater backup --format directory --jobs 4 --label before-role-rename")
    .action(async (options: Common & { format?: string; jobs?: string; label?: string }) => {
      try {
        const { config, url } = await context(options);
        if (options.format) {
          if (options.format !== "custom" && options.format !== "directory") throw new BreakwaterError("BW_CONFIG_INVALID", `--format must be custom or directory, got ${options.format}`);
          config.backup.format = options.format as BackupFormat;
        }
        if (options.jobs) config.backup.jobs = Math.max(1, Number(options.jobs) || 1);
        const result = await createBackup(url, config.backup, { label: options.label ?? null, emit: progress(options) });
        out(options, { type: "result", path: result.path, manifest: result.manifestPath, sizeBytes: result.manifest.sizeBytes, sha256: result.manifest.sha256, durationSeconds: result.manifest.durationSeconds },
          `Backup written: ${result.path} (${megabytes(result.manifest.sizeBytes)}, ${result.manifest.durationSeconds} s, sha256 ${result.manifest.sha256.slice(0, 16)}…)\nManifest: ${result.manifestPath}`);
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });

  backup
    .command("verify")
    .description("Check a backup: sha256, pg_restore --list, a full restore into a scratch database (dropped afterwards) and row counts against the manifest")
    .argument("<backup>", "the .dump file or directory (or its name in the backup folder)")
    .option("--dir <dir>", "backup folder")
    .option("--config <file>", "config file")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExample:\n  npx breakwater backup verify backups/backup_20251125_120000.dump")
    .action(async (given: string, options: Common) => {
      try {
        const { config, url } = await context(options);
        const result = await verifyBackup(url, given, config.backup, progress(options));
        out(options, { type: "result", ok: result.ok, problems: result.problems, durationSeconds: result.durationSeconds }, result.ok ? `Verified: restored into a scratch database, every table's row count matches (${result.durationSeconds} s).` : `NOT verified:\n  ${result.problems.join("\n  ")}`);
        if (!result.ok) process.exitCode = 13;
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });

  backup
    .command("prune")
    .description("Delete old backups (never the newest verified one)")
    .option("--keep <n>", "keep the newest N backups")
    .option("--older-than <age>", "delete backups older than this (7d, 12h, 30m)")
    .option("--dry-run", "only list what would be deleted")
    .option("--dir <dir>", "backup folder")
    .option("--config <file>", "config file")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExamples:\n  npx breakwater backup prune --keep 7\n  npx breakwater backup prune --older-than 30d --dry-run")
    .action(async (options: Common & { keep?: string; olderThan?: string; dryRun?: boolean }) => {
      try {
        const config = await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
        const dir = options.dir ?? config.backup.dir;
        if (options.keep === undefined && options.olderThan === undefined) throw new BreakwaterError("BW_CONFIG_INVALID", "Give --keep N and/or --older-than AGE.");
        const keep = options.keep === undefined ? undefined : Number(options.keep);
        if (keep !== undefined && (!Number.isInteger(keep) || keep < 0)) throw new BreakwaterError("BW_CONFIG_INVALID", `--keep must be a whole number, got ${options.keep}`);
        const result = await pruneBackups(dir, { ...(keep === undefined ? {} : { keep }), ...(options.olderThan ? { olderThanSeconds: parseAge(options.olderThan) } : {}) }, options.dryRun ?? false);
        out(options, result, `${options.dryRun ? "Would delete" : "Deleted"} ${result.removed.length} backup(s)${result.removed.length ? `:\n  ${result.removed.join("\n  ")}` : ""}\nKept ${result.kept.length}.`);
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });

  program
    .command("backups")
    .description("List backups with age, size and whether they were verified")
    .option("--dir <dir>", "backup folder")
    .option("--config <file>", "config file")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExample:\n  npx breakwater backups --json")
    .action(async (options: Common) => {
      try {
        const config = await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
        const list = await listBackups(options.dir ?? config.backup.dir);
        if (options.json) {
          process.stdout.write(`${JSON.stringify(list.map((b) => ({ path: b.path, ageSeconds: Math.round(b.ageSeconds), sizeBytes: b.manifest.sizeBytes, format: b.manifest.format, label: b.manifest.label, verified: b.manifest.verified })))}\n`);
          return;
        }
        if (list.length === 0) process.stdout.write("No backups.\n");
        for (const b of list) {
          const age = b.ageSeconds < 3600 ? `${Math.round(b.ageSeconds / 60)} min` : b.ageSeconds < 172800 ? `${Math.round(b.ageSeconds / 3600)} h` : `${Math.round(b.ageSeconds / 86400)} d`;
          const verified = b.manifest.verified ? (b.manifest.verified.ok ? `verified ${b.manifest.verified.at}` : "verification FAILED") : "not verified";
          process.stdout.write(`${b.path}  ${age} old  ${megabytes(b.manifest.sizeBytes)}  ${verified}\n`);
        }
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });

  program
    .command("restore")
    .description("Restore a backup: dump the current (bad) state first, block writes with maintenance mode, pg_restore --clean --if-exists, then compare row counts with the manifest")
    .argument("<backup>", "the .dump file or directory (or its name in the backup folder)")
    .option("--yes", "do not ask for confirmation (required when not on a terminal)")
    .option("--dir <dir>", "backup folder")
    .option("--config <file>", "config file")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExample:\n  npx breakwater restore backups/backup_20251125_120000.dump --yes")
    .action(async (given: string, options: Common & { yes?: boolean }) => {
      try {
        const { config, url } = await context(options);
        const backup = resolveBackup(given, config.backup.dir);
        if (!options.yes) {
          if (!process.stdin.isTTY) {
            throw new BreakwaterError("BW_CONFIRMATION_NEEDED", `Restoring replaces the data of the database with ${backup}; not on a terminal, so nothing was done.`, { hint: "Add --yes to confirm." });
          }
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question(`Replace the database's data with ${backup}? The current state is dumped first. Type "restore" to go on: `);
          rl.close();
          if (answer.trim() !== "restore") throw new BreakwaterError("BW_CONFIRMATION_NEEDED", "Not confirmed; nothing was done.");
        }
        const store = await maintenanceStoreFor(config, url);
        const turnedOn = await store.enable({ mode: "full", reason: "breakwater restore" });
        const result = await restoreBackup(url, backup, config.backup, progress(options));
        if (result.problems.length > 0) {
          throw new BreakwaterError("BW_RESTORE_FAILED", `Restored, but the row counts differ from the manifest: ${result.problems.join("; ")}.`, {
            hint: `Maintenance mode stays on. The state before the restore is in ${result.badStateBackup}.`,
          });
        }
        if (turnedOn) await store.disable();
        out(options, { type: "result", restored: backup, badStateBackup: result.badStateBackup, durationSeconds: result.durationSeconds }, `Restored ${backup} in ${result.durationSeconds} s; every table's row count matches the manifest.\nThe state before the restore was saved to ${result.badStateBackup}.`);
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });
}
