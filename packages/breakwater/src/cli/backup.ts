// `breakwater backup`, `backup verify`, `backup prune`, `backups`, `restore`.
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { createBackup, listBackups, pruneBackups, resolveBackup, restoreBackup, verifyBackup, type BackupFormat } from "../backup/backup.ts";
import { liftHint, liftRestoreFence, writableUrl } from "../backup/restore-fence.ts";
import { databaseOf } from "../backup/tools.ts";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { defineCommand, type OptionSpec } from "./command.ts";
import type { CommandContext, CommandOptions } from "./context.ts";

interface BackupOptions extends CommandOptions {
  dir?: string;
}

/** The backup folder: --dir, else backup.dir in the config. */
function withDir(ctx: CommandContext, options: BackupOptions): CommandContext {
  if (options.dir) ctx.config.backup.dir = options.dir;
  return ctx;
}

const dirOption: OptionSpec = ["--dir <dir>", "backup folder"];

const megabytes = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** "7d", "12h", "30m" → seconds */
export function parseAge(value: string): number {
  const match = /^(\d+)\s*(m|h|d|w)$/.exec(value.trim());
  if (!match) throw new BreakwaterError("BW_CONFIG_INVALID", `--older-than takes a duration like 7d, 12h or 30m, got ${JSON.stringify(value)}`);
  return Number(match[1]) * { m: 60, h: 3600, d: 86400, w: 604800 }[match[2] as "m" | "h" | "d" | "w"];
}

export function registerBackup(program: Command): void {
  const backup = defineCommand<BackupOptions & { format?: string; jobs?: string; label?: string }>(program, {
    name: "backup",
    description:
      "Back up the database with the real pg_dump: timestamped, 0600, with a manifest (sha256, sizes, versions, row counts taken in the dump's snapshot, migration head)",
    options: [
      ["--format <format>", "custom (one file) or directory (parallel with --jobs)"],
      ["--jobs <n>", "parallel jobs for the directory format"],
      ["--dir <dir>", "where backups go (default: backup.dir in the config, else ./backups)"],
      ["--label <label>", "added to the file name, e.g. before-role-rename"],
    ],
    examples: ["npx breakwater backup", "npx breakwater backup --format directory --jobs 4 --label before-role-rename"],
    run: async (ctx, options) => {
      const { config } = withDir(ctx, options);
      if (options.format) {
        if (options.format !== "custom" && options.format !== "directory")
          throw new BreakwaterError("BW_CONFIG_INVALID", `--format must be custom or directory, got ${options.format}`);
        config.backup.format = options.format as BackupFormat;
      }
      if (options.jobs) config.backup.jobs = Math.max(1, Number(options.jobs) || 1);
      const result = await createBackup(ctx.databaseUrl(), config.backup, { label: options.label ?? null, emit: ctx.output.handle });
      ctx.output.result(
        {
          type: "result",
          path: result.path,
          manifest: result.manifestPath,
          sizeBytes: result.manifest.sizeBytes,
          sha256: result.manifest.sha256,
          durationSeconds: result.manifest.durationSeconds,
        },
        `Backup written: ${result.path} (${megabytes(result.manifest.sizeBytes)}, ${result.manifest.durationSeconds} s, sha256 ${result.manifest.sha256.slice(0, 16)}…)\nManifest: ${result.manifestPath}`,
      );
    },
  });

  // `backup` declares --dir too: commander gives `backup verify x --dir d` to `backup`, and a
  // command reads its options with those of its parents.
  defineCommand<BackupOptions>(backup, {
    name: "verify",
    arguments: [["<backup>", "the .dump file or directory (or its name in the backup folder)"]],
    description: "Check a backup: sha256, pg_restore --list, a full restore into a scratch database (dropped afterwards) and row counts against the manifest",
    options: [dirOption],
    examples: ["npx breakwater backup verify backups/backup_20251125_120000.dump"],
    run: async (ctx, options, given: string) => {
      const { config } = withDir(ctx, options);
      const result = await verifyBackup(ctx.databaseUrl(), given, config.backup, ctx.output.handle);
      const { green, red } = ctx.output.palette;
      ctx.output.result(
        { type: "result", ok: result.ok, problems: result.problems, durationSeconds: result.durationSeconds },
        result.ok ?
          `${green("Verified")}: restored into a scratch database, every table's row count matches (${result.durationSeconds} s).`
        : `${red("NOT verified")}:\n  ${result.problems.join("\n  ")}`,
      );
      return result.ok ? 0 : 13;
    },
  });

  defineCommand<BackupOptions & { keep?: string; olderThan?: string; dryRun?: boolean }>(backup, {
    name: "prune",
    description: "Delete old backups (never the newest one, nor the newest verified one)",
    options: [
      ["--keep <n>", "keep the newest N backups"],
      ["--older-than <age>", "delete backups older than this (7d, 12h, 30m)"],
      ["--dry-run", "only list what would be deleted"],
      dirOption,
    ],
    examples: ["npx breakwater backup prune --keep 7", "npx breakwater backup prune --older-than 30d --dry-run"],
    run: async (ctx, options) => {
      const { config } = withDir(ctx, options);
      if (options.keep === undefined && options.olderThan === undefined) throw new BreakwaterError("BW_CONFIG_INVALID", "Give --keep N and/or --older-than AGE.");
      const keep = options.keep === undefined ? undefined : Number(options.keep);
      if (keep !== undefined && (!Number.isInteger(keep) || keep < 0)) throw new BreakwaterError("BW_CONFIG_INVALID", `--keep must be a whole number, got ${options.keep}`);
      const result = await pruneBackups(
        config.backup.dir,
        { ...(keep === undefined ? {} : { keep }), ...(options.olderThan ? { olderThanSeconds: parseAge(options.olderThan) } : {}) },
        options.dryRun ?? false,
      );
      const spared = result.spared.map((s) => `\n  ${s.path} (${s.reason}: never deleted)`).join("");
      ctx.output.result(
        result,
        `${options.dryRun ? "Would delete" : "Deleted"} ${result.removed.length} backup(s)${result.removed.length ? `:\n  ${result.removed.join("\n  ")}` : ""}\nKept ${result.kept.length}.${spared}`,
      );
    },
  });

  defineCommand<BackupOptions>(program, {
    name: "backups",
    description: "List backups with age, size and whether they were verified",
    options: [dirOption],
    examples: ["npx breakwater backups --json"],
    run: async (ctx, options) => {
      const list = await listBackups(withDir(ctx, options).config.backup.dir);
      const { green, red, dim } = ctx.output.palette;
      const lines = list.map((b) => {
        const age =
          b.ageSeconds < 3600 ? `${Math.round(b.ageSeconds / 60)} min`
          : b.ageSeconds < 172800 ? `${Math.round(b.ageSeconds / 3600)} h`
          : `${Math.round(b.ageSeconds / 86400)} d`;
        const verified =
          b.manifest.verified ?
            b.manifest.verified.ok ?
              green(`verified ${b.manifest.verified.at}`)
            : red("verification FAILED")
          : dim("not verified");
        return `${b.path}  ${age} old  ${megabytes(b.manifest.sizeBytes)}  ${verified}`;
      });
      ctx.output.result(
        list.map((b) => ({
          path: b.path,
          ageSeconds: Math.round(b.ageSeconds),
          sizeBytes: b.manifest.sizeBytes,
          format: b.manifest.format,
          label: b.manifest.label,
          verified: b.manifest.verified,
        })),
        lines.length ? lines.join("\n") : "No backups.",
      );
    },
  });

  defineCommand<BackupOptions & { yes?: boolean; liftFence?: boolean }>(program, {
    name: "restore",
    arguments: [["[backup]", "the .dump file or directory (or its name in the backup folder)"]],
    description:
      "Restore a backup: refuse writes in the database (and end its sessions), dump the current (bad) state, pg_restore --clean --if-exists, compare row counts with the manifest, then allow writes again",
    options: [
      ["--yes", "do not ask for confirmation (required when not on a terminal)"],
      ["--lift-fence", "after a restore that failed or was killed: let writes into the database again"],
      dirOption,
    ],
    examples: ["npx breakwater restore backups/backup_20251125_120000.dump --yes", "npx breakwater restore --lift-fence"],
    run: async (ctx, options, given?: string) => {
      const { config } = withDir(ctx, options);
      const url = ctx.databaseUrl();
      if (options.liftFence) {
        const { fence, sessions } = await liftRestoreFence(url);
        const database = databaseOf(url);
        const text =
          fence ?
            `Writes are allowed again on ${database} (refused since ${fence.since} by the restore of ${fence.backup}${fence.badStateBackup ? `; the state before it is in ${fence.badStateBackup}` : ""}). ${sessions.ended} session(s) opened meanwhile were ended so they reconnect writable.${sessions.remaining.length ? `\nCould not end ${sessions.remaining.join("; ")}: they refuse writes until they reconnect.` : ""}\nMaintenance mode is unchanged (breakwater maintenance off).`
          : `No restore fence on ${database}: breakwater was not refusing its writes.`;
        ctx.output.result({ type: "result", lifted: fence !== null, fence, sessionsEnded: sessions.ended, sessionsRemaining: sessions.remaining }, text);
        return;
      }
      if (!given) throw new BreakwaterError("BW_CONFIG_INVALID", "Name the backup to restore (or give --lift-fence).", { hint: "`breakwater backups` lists them." });
      const backup = resolveBackup(given, config.backup.dir);
      if (!options.yes) {
        if (!process.stdin.isTTY) {
          throw new BreakwaterError("BW_CONFIRMATION_NEEDED", `Restoring replaces the data of the database with ${backup}; not on a terminal, so nothing was done.`, {
            hint: "Add --yes to confirm.",
          });
        }
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await rl.question(
          `Replace the database's data with ${backup}? Writes are refused and its sessions ended meanwhile; the current state is dumped first. Type "restore" to go on: `,
        );
        rl.close();
        if (answer.trim() !== "restore") throw new BreakwaterError("BW_CONFIRMATION_NEEDED", "Not confirmed; nothing was done.");
      }
      // Writable under a fence a killed restore left, so a store in the database can still be switched.
      const store = ctx.maintenanceStore(writableUrl(url));
      const turnedOn = await store.enable({ mode: "full", reason: "breakwater restore" });
      const result = await restoreBackup(url, backup, config.backup, ctx.output.handle);
      if (result.problems.length > 0) {
        throw new BreakwaterError("BW_RESTORE_FAILED", `Restored, but the row counts differ from the manifest: ${result.problems.join("; ")}.`, {
          hint: `Maintenance mode stays on. The state before the restore is in ${result.badStateBackup}. ${liftHint(databaseOf(url))}`,
        });
      }
      if (turnedOn) await store.disable();
      ctx.output.result(
        { type: "result", restored: backup, badStateBackup: result.badStateBackup, durationSeconds: result.durationSeconds, writesRefusedSeconds: result.writesRefusedSeconds },
        `Restored ${backup} in ${result.durationSeconds} s; every table's row count matches the manifest.\nThe database refused writes for ${result.writesRefusedSeconds} s, from before the bad-state dump; they are allowed again.\nThe state before the restore was saved to ${result.badStateBackup}.`,
      );
    },
  });
}
