// `breakwater backup`, `backup verify`, `backup prune`, `backups`, `restore`.
import { createInterface } from "node:readline/promises";
import type { Command, OptionValues } from "commander";
import { loadConfig, requireDatabaseUrl, type ResolvedConfig } from "../config/config.ts";
import { createBackup, listBackups, pruneBackups, resolveBackup, restoreBackup, verifyBackup, type BackupEvent, type BackupFormat } from "../backup/backup.ts";
import { liftHint, liftRestoreFence, writableUrl } from "../backup/restore-fence.ts";
import { databaseOf } from "../backup/tools.ts";
import { BreakwaterError } from "@breakwater/runtime/internal";
import { maintenanceStoreFor } from "./context.ts";
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

/**
 * A subcommand's options with those of `backup`, which declares the same ones: commander gives
 * `backup verify x --json` to `backup` unless read this way.
 */
function subcommandOptions<T extends OptionValues>(command: Command): T {
  return command.optsWithGlobals<T>();
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
    .action(async (given: string, _options: Common, command: Command) => {
      const options = subcommandOptions<Common>(command);
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
    .description("Delete old backups (never the newest one, nor the newest verified one)")
    .option("--keep <n>", "keep the newest N backups")
    .option("--older-than <age>", "delete backups older than this (7d, 12h, 30m)")
    .option("--dry-run", "only list what would be deleted")
    .option("--dir <dir>", "backup folder")
    .option("--config <file>", "config file")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExamples:\n  npx breakwater backup prune --keep 7\n  npx breakwater backup prune --older-than 30d --dry-run")
    .action(async (_options: Common, command: Command) => {
      const options = subcommandOptions<Common & { keep?: string; olderThan?: string; dryRun?: boolean }>(command);
      try {
        const config = await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
        const dir = options.dir ?? config.backup.dir;
        if (options.keep === undefined && options.olderThan === undefined) throw new BreakwaterError("BW_CONFIG_INVALID", "Give --keep N and/or --older-than AGE.");
        const keep = options.keep === undefined ? undefined : Number(options.keep);
        if (keep !== undefined && (!Number.isInteger(keep) || keep < 0)) throw new BreakwaterError("BW_CONFIG_INVALID", `--keep must be a whole number, got ${options.keep}`);
        const result = await pruneBackups(dir, { ...(keep === undefined ? {} : { keep }), ...(options.olderThan ? { olderThanSeconds: parseAge(options.olderThan) } : {}) }, options.dryRun ?? false);
        const spared = result.spared.map((s) => `\n  ${s.path} (${s.reason}: never deleted)`).join("");
        out(options, result, `${options.dryRun ? "Would delete" : "Deleted"} ${result.removed.length} backup(s)${result.removed.length ? `:\n  ${result.removed.join("\n  ")}` : ""}\nKept ${result.kept.length}.${spared}`);
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
    .description("Restore a backup: refuse writes in the database (and end its sessions), dump the current (bad) state, pg_restore --clean --if-exists, compare row counts with the manifest, then allow writes again")
    .argument("[backup]", "the .dump file or directory (or its name in the backup folder)")
    .option("--yes", "do not ask for confirmation (required when not on a terminal)")
    .option("--lift-fence", "after a restore that failed or was killed: let writes into the database again")
    .option("--dir <dir>", "backup folder")
    .option("--config <file>", "config file")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExamples:\n  npx breakwater restore backups/backup_20251125_120000.dump --yes\n  npx breakwater restore --lift-fence")
    .action(async (given: string | undefined, options: Common & { yes?: boolean; liftFence?: boolean }) => {
      try {
        const { config, url } = await context(options);
        if (options.liftFence) {
          const { fence, sessions } = await liftRestoreFence(url);
          const database = databaseOf(url);
          const text = fence
            ? `Writes are allowed again on ${database} (refused since ${fence.since} by the restore of ${fence.backup}${fence.badStateBackup ? `; the state before it is in ${fence.badStateBackup}` : ""}). ${sessions.ended} session(s) opened meanwhile were ended so they reconnect writable.${sessions.remaining.length ? `\nCould not end ${sessions.remaining.join("; ")}: they refuse writes until they reconnect.` : ""}\nMaintenance mode is unchanged (breakwater maintenance off).`
            : `No restore fence on ${database}: breakwater was not refusing its writes.`;
          out(options, { type: "result", lifted: fence !== null, fence, sessionsEnded: sessions.ended, sessionsRemaining: sessions.remaining }, text);
          return;
        }
        if (!given) throw new BreakwaterError("BW_CONFIG_INVALID", "Name the backup to restore (or give --lift-fence).", { hint: "`breakwater backups` lists them." });
        const backup = resolveBackup(given, config.backup.dir);
        if (!options.yes) {
          if (!process.stdin.isTTY) {
            throw new BreakwaterError("BW_CONFIRMATION_NEEDED", `Restoring replaces the data of the database with ${backup}; not on a terminal, so nothing was done.`, { hint: "Add --yes to confirm." });
          }
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question(`Replace the database's data with ${backup}? Writes are refused and its sessions ended meanwhile; the current state is dumped first. Type "restore" to go on: `);
          rl.close();
          if (answer.trim() !== "restore") throw new BreakwaterError("BW_CONFIRMATION_NEEDED", "Not confirmed; nothing was done.");
        }
        // Writable under a fence a killed restore left, so a store in the database can still be switched.
        const store = maintenanceStoreFor(config, writableUrl(url));
        const turnedOn = await store.enable({ mode: "full", reason: "breakwater restore" });
        const result = await restoreBackup(url, backup, config.backup, progress(options));
        if (result.problems.length > 0) {
          throw new BreakwaterError("BW_RESTORE_FAILED", `Restored, but the row counts differ from the manifest: ${result.problems.join("; ")}.`, {
            hint: `Maintenance mode stays on. The state before the restore is in ${result.badStateBackup}. ${liftHint(databaseOf(url))}`,
          });
        }
        if (turnedOn) await store.disable();
        out(options, { type: "result", restored: backup, badStateBackup: result.badStateBackup, durationSeconds: result.durationSeconds, writesRefusedSeconds: result.writesRefusedSeconds },
          `Restored ${backup} in ${result.durationSeconds} s; every table's row count matches the manifest.\nThe database refused writes for ${result.writesRefusedSeconds} s, from before the bad-state dump; they are allowed again.\nThe state before the restore was saved to ${result.badStateBackup}.`);
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });
}
