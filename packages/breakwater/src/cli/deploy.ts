// `breakwater deploy`, `breakwater migrate status`, `breakwater migrate resolve`: Prisma's
// migrations folder, applied the way `prisma migrate deploy` does.
import type { Command } from "commander";
import path from "node:path";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import type { ResolvedConfig } from "../config/config.ts";
import type { LintGate } from "../lint/gate.ts";
import { boot, waitForDatabase } from "../prisma/deploy/boot.ts";
import { deploy } from "../prisma/deploy/deploy.ts";
import { resolveMigration } from "../prisma/deploy/resolve.ts";
import { migrationStatus } from "../prisma/deploy/status.ts";
import { defineCommand, type OptionSpec } from "./command.ts";
import type { CommandOptions } from "./context.ts";

interface DeployOptions extends CommandOptions {
  migrations: string;
}

export interface LintFlags {
  lint: boolean;
  allow: string[];
}

const migrationsOption: OptionSpec = ["--migrations <dir>", "migrations folder", "prisma/migrations"];
export const lintOptions: OptionSpec[] = [
  ["--allow <rule>", "apply files despite this lint rule's error findings (repeatable)", []],
  ["--no-lint", "do not lint what is about to run (config: lint.deploy: false)"],
];

/**
 * Deploy's lint gate: the config's lint.rules and --allow; none with --no-lint or lint.deploy:
 * false. Both are checked (an unknown rule refused) when there is something to lint: the linter
 * is loaded only then, so a deploy with nothing pending starts without it.
 */
export function lintGate(config: ResolvedConfig, options: LintFlags): LintGate | undefined {
  if (!options.lint || !config.lintDeploy) return undefined;
  return { rules: config.lintRules, allow: options.allow };
}

export function registerDeploy(program: Command): void {
  defineCommand<DeployOptions & LintFlags & { dryRun?: boolean; backup?: string }>(program, {
    name: "deploy",
    description:
      "Apply prisma/migrations like `prisma migrate deploy` (same _prisma_migrations rows, same advisory lock), with lock_timeout retries and files that use an enum value they add (55P04) run in several transactions",
    options: [
      migrationsOption,
      ["--dry-run", "list the migrations that would run; change nothing"],
      [
        "--backup <when>",
        "full pg_dump first: never, destructive (before the first file that drops or rewrites data), always (default: backup.beforeDeploy in the config, else never)",
      ],
      ...lintOptions,
    ],
    examples: ["npx breakwater deploy", "npx breakwater deploy --dry-run", "npx breakwater deploy --backup destructive", "npx breakwater deploy --allow index-not-concurrent"],
    notes:
      "A contract folder written by `breakwater plan` (it holds a breakwater.json) waits until its plan's run has completed: deploy applies what comes before it and says so.\n\nPrisma's error codes are kept: P3005 (database not empty), P3009 (a failed migration), P3015 (a folder without migration.sql), P3018 (a migration failed), P1002 (lock timeout).\n\nThe pending files are linted first (breakwater lint, with the database's catalog): an error finding refuses the deploy before anything runs (exit 22) unless the file ignores it (-- breakwater-ignore <rule>: <reason>) or --allow <rule> is given; warnings are printed.",
    run: async (ctx, options) => {
      const { config } = ctx;
      const when = options.backup ?? config.backup.beforeDeploy;
      if (when !== "never" && when !== "destructive" && when !== "always")
        throw new BreakwaterError("BW_CONFIG_INVALID", `--backup must be never, destructive or always, got ${when}`);
      const lint = lintGate(config, options);
      // Prisma's advisory lock and the search_path are session state: not through a transaction pooler.
      const result = await deploy(await ctx.sessionUrl(), {
        ...(lint ? { lint } : {}),
        migrationsDir: path.resolve(options.migrations),
        dryRun: options.dryRun ?? false,
        lock: config.lock,
        emit: ctx.output.handle,
        backup: { settings: config.backup, when },
      });
      const backup =
        result.backup ?
          result.backup.path ?
            `Full backup before ${result.backup.before} (${result.backup.reason}): ${result.backup.path}\n`
          : `A full backup would be taken before ${result.backup.before} (${result.backup.reason}).\n`
        : "";
      const waiting =
        result.waiting ?
          `Stopped before ${result.waiting.migration}: it contracts the schema after plan ${result.waiting.planId}, which has not completed. Run the plan (breakwater run …), then deploy again.\n`
        : "";
      const summary =
        options.dryRun ?
          result.pending.length ?
            `Would apply ${result.pending.length} migration(s):\n  ${result.pending.join("\n  ")}\n`
          : "No pending migrations.\n"
        : result.applied.length ? `Applied ${result.applied.length} migration(s):\n${result.applied.map((a) => `  ${a.name}  ${a.durationMs.toFixed(0)} ms`).join("\n")}\n`
        : "No pending migrations to apply.\n";
      ctx.output.result({ type: "result", ...result }, (summary + backup + waiting).trimEnd());
    },
  });

  defineCommand<DeployOptions & LintFlags & { constraints?: string; wait: string }>(program, {
    name: "boot",
    description: "For a container's start script: wait (bounded) for the database, deploy pending migrations, re-apply prisma/constraints.sql idempotently",
    options: [
      migrationsOption,
      ["--constraints <file>", "constraints Prisma does not model (partial unique indexes, CHECKs, functions)"],
      ["--wait <seconds>", "how long to wait for the database", "60"],
      ...lintOptions,
    ],
    exampleHeading: "Example (start.sh):",
    examples: ["npx breakwater boot && exec node server.js"],
    notes:
      "Every statement of the constraints file must be re-runnable: CREATE INDEX IF NOT EXISTS, CREATE OR REPLACE\nFUNCTION/VIEW, named ALTER TABLE … ADD CONSTRAINT (skipped when it exists), DROP … IF EXISTS.",
    run: async (ctx, options) => {
      const { config } = ctx;
      const waitSeconds = Number(options.wait);
      if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new BreakwaterError("BW_CONFIG_INVALID", `--wait must be a number of seconds, got ${options.wait}`);
      const lint = lintGate(config, options);
      // The pooler check needs the database up: wait for it first (boot then waits for DIRECT_URL too).
      await waitForDatabase(ctx.databaseUrl(), waitSeconds, (message) => ctx.output.handle({ type: "boot-note", message }));
      const result = await boot(await ctx.sessionUrl(), {
        migrationsDir: path.resolve(options.migrations),
        constraintsFile: path.resolve(options.constraints ?? "prisma/constraints.sql"),
        constraintsRequired: options.constraints !== undefined,
        waitSeconds,
        lock: config.lock,
        backup: { settings: config.backup, when: config.backup.beforeDeploy },
        emit: ctx.output.handle,
        ...(lint ? { lint } : {}),
      });
      const applied = result.deploy.applied;
      const lines = [applied.length ? `Applied ${applied.length} migration(s): ${applied.map((a) => a.name).join(", ")}` : "No pending migrations."];
      if (result.deploy.waiting) lines.push(`Stopped before ${result.deploy.waiting.migration}: waiting for plan ${result.deploy.waiting.planId} to complete.`);
      if (result.constraints) {
        const changed = result.constraints.filter((c) => c.outcome !== "unchanged");
        lines.push(
          `Constraints: ${changed.length} changed, ${result.constraints.length - changed.length} unchanged${changed.length ? `\n${changed.map((c) => `  ${c.outcome}: ${c.statement}`).join("\n")}` : ""}`,
        );
      }
      ctx.output.result({ type: "result", ...result }, lines.join("\n"));
    },
  });

  const migrate = program.command("migrate").description("Prisma migrations: status and resolve");
  defineCommand<DeployOptions>(migrate, {
    name: "status",
    description: "Applied, pending, failed and edited-after-apply migrations",
    options: [migrationsOption],
    examples: ["npx breakwater migrate status --json"],
    run: async (ctx, options) => {
      const status = await migrationStatus(await ctx.sessionUrl(), path.resolve(options.migrations));
      const section = (title: string, names: string[]) => (names.length ? `${title} (${names.length}):\n  ${names.join("\n  ")}\n` : "");
      const pending = status.pending.map((name) => {
        const gate = status.waiting.find((w) => w.migration === name);
        const refused = status.refused.find((r) => r.migration === name);
        return (
          refused ? `${name}   (deploy refuses it: ${refused.reason})`
          : gate ? `${name}   (waits for plan ${gate.planId} to complete)`
          : name
        );
      });
      const text =
        section("Applied", status.applied) +
          section("Pending", pending) +
          section("Failed", status.failed) +
          section("Edited after being applied", status.edited) +
          section("Applied but missing from the folder", status.missing) || "No migrations.\n";
      ctx.output.result(status, text.trimEnd());
      return status.failed.length || status.pending.length ? 1 : 0;
    },
  });
  defineCommand<DeployOptions & { applied?: string; rolledBack?: string }>(migrate, {
    name: "resolve",
    description: "Mark a migration as applied or rolled back, as `prisma migrate resolve` does",
    options: [
      ["--applied <name>", "record the migration as applied without running it"],
      ["--rolled-back <name>", "record a failed migration as rolled back (the next deploy runs it again)"],
      migrationsOption,
    ],
    examples: ["npx breakwater migrate resolve --rolled-back 20251125120000_role_employee", "npx breakwater migrate resolve --applied 20251125120000_role_employee"],
    run: async (ctx, options) => {
      if (!options.applied === !options.rolledBack) throw new BreakwaterError("BW_CONFIG_INVALID", "Give exactly one of --applied NAME or --rolled-back NAME.");
      await resolveMigration(await ctx.sessionUrl(), path.resolve(options.migrations), options.applied ? "applied" : "rolled-back", (options.applied ?? options.rolledBack)!);
      ctx.output.result(null, `Migration ${options.applied ?? options.rolledBack} marked as ${options.applied ? "applied" : "rolled back"}.`);
    },
  });
}
