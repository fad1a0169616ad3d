// `breakwater deploy`, `breakwater migrate status`, `breakwater migrate resolve`: Prisma's
// migrations folder, applied the way `prisma migrate deploy` does.
import type { Command } from "commander";
import path from "node:path";
import { loadConfig, requireDatabaseUrl } from "../config/config.ts";
import { BreakwaterError } from "@breakwater/runtime/internal";
import { boot } from "../prisma/deploy/boot.ts";
import { deploy, type MigrateEvent } from "../prisma/deploy/deploy.ts";
import { resolveMigration } from "../prisma/deploy/resolve.ts";
import { migrationStatus } from "../prisma/deploy/status.ts";
import { reportError } from "./render.ts";

interface Common {
  config?: string;
  json?: boolean;
  migrations: string;
}

async function urlFrom(options: Common) {
  const config = await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
  return { config, url: requireDatabaseUrl(config), dir: path.resolve(options.migrations) };
}

export function registerDeploy(program: Command): void {
  program
    .command("deploy")
    .description("Apply prisma/migrations like `prisma migrate deploy` (same _prisma_migrations rows, same advisory lock), with lock_timeout retries and files that use an enum value they add (55P04) run in several transactions")
    .option("--migrations <dir>", "migrations folder", "prisma/migrations")
    .option("--dry-run", "list the migrations that would run; change nothing")
    .option("--backup <when>", "full pg_dump first: never, destructive (before the first file that drops or rewrites data), always (default: backup.beforeDeploy in the config, else never)")
    .option("--config <file>", "config file")
    .option("--json", "JSON lines")
    .addHelpText("after", "\nExamples:\n  npx breakwater deploy\n  npx breakwater deploy --dry-run\n  npx breakwater deploy --backup destructive\n\nA contract folder written by `breakwater plan` (it holds a breakwater.json) waits until its plan's run has completed: deploy applies what comes before it and says so.\n\nPrisma's error codes are kept: P3005 (database not empty), P3009 (a failed migration), P3015 (a folder without migration.sql), P3018 (a migration failed), P1002 (lock timeout).")
    .action(async (options: Common & { dryRun?: boolean; backup?: string }) => {
      try {
        const { config, url, dir } = await urlFrom(options);
        const when = options.backup ?? config.backup.beforeDeploy;
        if (when !== "never" && when !== "destructive" && when !== "always") throw new BreakwaterError("BW_CONFIG_INVALID", `--backup must be never, destructive or always, got ${when}`);
        const emit = (e: MigrateEvent) => {
          if (options.json) process.stdout.write(`${JSON.stringify(e)}\n`);
          else if (e.type === "migration-start") process.stderr.write(`  … ${e.name}\n`);
          else if (e.type === "migration-done") process.stderr.write(`  ✔ ${e.name} (${e.durationMs.toFixed(0)} ms)\n`);
          else if (e.type === "migration-note") process.stderr.write(`  ⚠ ${e.name}: ${e.message}\n`);
        };
        const result = await deploy(url, { migrationsDir: dir, dryRun: options.dryRun ?? false, lock: config.lock, emit, backup: { settings: config.backup, when } });
        const backup = result.backup ? (result.backup.path ? `Full backup before ${result.backup.before} (${result.backup.reason}): ${result.backup.path}\n` : `A full backup would be taken before ${result.backup.before} (${result.backup.reason}).\n`) : "";
        const waiting = result.waiting ? `Stopped before ${result.waiting.migration}: it contracts the schema after plan ${result.waiting.planId}, which has not completed. Run the plan (breakwater run …), then deploy again.\n` : "";
        if (options.json) process.stdout.write(`${JSON.stringify({ type: "result", ...result })}\n`);
        else if (options.dryRun) process.stdout.write((result.pending.length ? `Would apply ${result.pending.length} migration(s):\n  ${result.pending.join("\n  ")}\n` : "No pending migrations.\n") + backup + waiting);
        else process.stdout.write((result.applied.length ? `Applied ${result.applied.length} migration(s):\n${result.applied.map((a) => `  ${a.name}  ${a.durationMs.toFixed(0)} ms`).join("\n")}\n` : "No pending migrations to apply.\n") + backup + waiting);
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });

  program
    .command("boot")
    .description("For a container's start script: wait (bounded) for the database, deploy pending migrations, re-apply prisma/constraints.sql idempotently")
    .option("--migrations <dir>", "migrations folder", "prisma/migrations")
    .option("--constraints <file>", "constraints Prisma does not model (partial unique indexes, CHECKs, functions)")
    .option("--wait <seconds>", "how long to wait for the database", "60")
    .option("--config <file>", "config file")
    .option("--json", "JSON lines")
    .addHelpText("after", "\nExample (start.sh):\n  npx breakwater boot && exec node server.js\n\nEvery statement of the constraints file must be re-runnable: CREATE INDEX IF NOT EXISTS, CREATE OR REPLACE\nFUNCTION/VIEW, named ALTER TABLE … ADD CONSTRAINT (skipped when it exists), DROP … IF EXISTS.")
    .action(async (options: Common & { constraints?: string; wait: string }) => {
      try {
        const { config, url, dir } = await urlFrom(options);
        const waitSeconds = Number(options.wait);
        if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new BreakwaterError("BW_CONFIG_INVALID", `--wait must be a number of seconds, got ${options.wait}`);
        const result = await boot(url, {
          migrationsDir: dir,
          constraintsFile: path.resolve(options.constraints ?? "prisma/constraints.sql"),
          constraintsRequired: options.constraints !== undefined,
          waitSeconds,
          lock: config.lock,
          backup: { settings: config.backup, when: config.backup.beforeDeploy },
          emit: (e) => (options.json ? process.stdout.write(`${JSON.stringify(e)}\n`) : "message" in e && process.stderr.write(`  ${e.message}\n`)),
        });
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ type: "result", ...result })}\n`);
          return;
        }
        const applied = result.deploy.applied;
        process.stdout.write(applied.length ? `Applied ${applied.length} migration(s): ${applied.map((a) => a.name).join(", ")}\n` : "No pending migrations.\n");
        if (result.deploy.waiting) process.stdout.write(`Stopped before ${result.deploy.waiting.migration}: waiting for plan ${result.deploy.waiting.planId} to complete.\n`);
        if (result.constraints) {
          const changed = result.constraints.filter((c) => c.outcome !== "unchanged");
          process.stdout.write(`Constraints: ${changed.length} changed, ${result.constraints.length - changed.length} unchanged${changed.length ? `\n${changed.map((c) => `  ${c.outcome}: ${c.statement}`).join("\n")}` : ""}\n`);
        }
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });

  const migrate = program.command("migrate").description("Prisma migrations: status and resolve");
  migrate
    .command("status")
    .description("Applied, pending, failed and edited-after-apply migrations")
    .option("--migrations <dir>", "migrations folder", "prisma/migrations")
    .option("--config <file>", "config file")
    .option("--json", "JSON output")
    .addHelpText("after", "\nExample:\n  npx breakwater migrate status --json")
    .action(async (options: Common) => {
      try {
        const { url, dir } = await urlFrom(options);
        const status = await migrationStatus(url, dir);
        if (options.json) {
          process.stdout.write(`${JSON.stringify(status)}\n`);
          return;
        }
        const section = (title: string, names: string[]) => (names.length ? `${title} (${names.length}):\n  ${names.join("\n  ")}\n` : "");
        const pending = status.pending.map((name) => {
          const gate = status.waiting.find((w) => w.migration === name);
          const refused = status.refused.find((r) => r.migration === name);
          return refused ? `${name}   (deploy refuses it: ${refused.reason})` : gate ? `${name}   (waits for plan ${gate.planId} to complete)` : name;
        });
        process.stdout.write(
          section("Applied", status.applied) + section("Pending", pending) + section("Failed", status.failed) + section("Edited after being applied", status.edited) + section("Applied but missing from the folder", status.missing) || "No migrations.\n",
        );
        if (status.failed.length || status.pending.length) process.exitCode = 1;
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });
  migrate
    .command("resolve")
    .description("Mark a migration as applied or rolled back, as `prisma migrate resolve` does")
    .option("--applied <name>", "record the migration as applied without running it")
    .option("--rolled-back <name>", "record a failed migration as rolled back (the next deploy runs it again)")
    .option("--migrations <dir>", "migrations folder", "prisma/migrations")
    .option("--config <file>", "config file")
    .addHelpText("after", "\nExamples:\n  npx breakwater migrate resolve --rolled-back 20251125120000_role_employee\n  npx breakwater migrate resolve --applied 20251125120000_role_employee")
    .action(async (options: Common & { applied?: string; rolledBack?: string }) => {
      try {
        if (!options.applied === !options.rolledBack) throw new BreakwaterError("BW_CONFIG_INVALID", "Give exactly one of --applied NAME or --rolled-back NAME.");
        const { url, dir } = await urlFrom(options);
        await resolveMigration(url, dir, options.applied ? "applied" : "rolled-back", (options.applied ?? options.rolledBack)!);
        process.stdout.write(`Migration ${options.applied ?? options.rolledBack} marked as ${options.applied ? "applied" : "rolled back"}.\n`);
      } catch (error) {
        process.exitCode = reportError(error, "plain");
      }
    });
}
