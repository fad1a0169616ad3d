// `breakwater run <plan>`: executes a plan through every phase and prints the migration log.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Option, type Command } from "commander";
import { connectForCatalog, readCatalog } from "../lint/catalog.ts";
import { describeFinding, lintBeforeApply, lintRefusal, type LintGate } from "../lint/gate.ts";
import { planSqlFiles } from "../lint/plan-steps.ts";
import type { CatalogFacts } from "../lint/types.ts";
import { loadPlan, type LoadedPlan } from "../plan/plan.ts";
import { renderMarkdown, type MigrationLog } from "../report/migration-log.ts";
import { RunFailure, runPlan, type RunnerOptions, type RunOutcome } from "../runner/runner.ts";
import { defineCommand } from "./command.ts";
import type { CommandContext, CommandOptions } from "./context.ts";
import { lintGate, lintOptions, type LintFlags } from "./deploy.ts";
import { exitCodes } from "./exit-codes.ts";

/**
 * What the runner is handed: the config, the database (a session of its own: DIRECT_URL when
 * DATABASE_URL goes through a transaction pooler), the maintenance store on that same URL, the renderer.
 */
export async function runnerOptions(ctx: CommandContext, options: { stopBefore?: string } = {}): Promise<RunnerOptions> {
  const databaseUrl = await ctx.sessionUrl();
  return { config: ctx.config, databaseUrl, store: ctx.maintenanceStore(databaseUrl), emit: ctx.output.handle, stopBeforeContract: options.stopBefore === "contract" };
}

export interface RunCommandOptions extends CommandOptions {
  stopBefore?: string;
}

/** `--stop-before contract`, on run and resume. */
export const stopBeforeOption = (): Option =>
  new Option(
    "--stop-before <phase>",
    "stop, resumable (exit 21), before the contract: deploy what must come first (an application using a renamed column), then `breakwater resume <id>`",
  ).choices(["contract"]);

/**
 * Prints the migration log of a run (or of a failed run, then its error) and writes it to the
 * report folder; returns the exit code. A run that rolled itself back (a check failed, or a data
 * error) exits 3 whatever the cause: its data is restored.
 */
export async function finishRun(ctx: CommandContext, outcome: () => Promise<RunOutcome>): Promise<number> {
  let log;
  try {
    log = (await outcome()).log;
  } catch (error) {
    if (!(error instanceof RunFailure)) throw error;
    await writeLog(ctx, error.outcome.log);
    const code = ctx.output.error(error);
    return error.outcome.state === "rolled_back" ? exitCodes.BW_CHECK_FAILED! : code;
  }
  await writeLog(ctx, log);
  return 0;
}

/** The migration log on stdout (Markdown, or a `report` JSON line), and in `<reportDir>/<runId>.md` and `.json`. */
export async function writeLog(ctx: CommandContext, log: MigrationLog, toFiles = true): Promise<void> {
  ctx.output.result({ type: "report", report: log }, `\n${renderMarkdown(log, { symbols: ctx.output.mode === "tty" })}`);
  if (!toFiles) return;
  await mkdir(ctx.config.reportDir, { recursive: true });
  const base = path.join(ctx.config.reportDir, log.runId);
  await writeFile(`${base}.md`, renderMarkdown(log));
  await writeFile(`${base}.json`, `${JSON.stringify(log, null, 2)}\n`);
  ctx.output.note(`Migration log written to ${base}.md (and .json)`);
}

/**
 * The plan's `sql` steps linted before the run (plain SQL, the database's catalog read-only):
 * an error finding not ignored in the SQL nor --allow'ed refuses the plan at preflight (exit 2).
 */
async function lintSqlSteps(ctx: CommandContext, loaded: LoadedPlan, gate: LintGate): Promise<void> {
  const files = await planSqlFiles(loaded, path.relative(process.cwd(), loaded.path) || loaded.path);
  if (files.length === 0) return;
  let catalog: CatalogFacts | null = null;
  let db;
  try {
    db = await connectForCatalog(await ctx.sessionUrl());
    catalog = await readCatalog(db, files);
  } catch (error) {
    ctx.output.note(`lint: the database could not be read (${(error as Error).message.split("\n")[0]}): linting the sql steps alone`);
  } finally {
    await db?.close().catch(() => undefined);
  }
  const { refused, passed } = await lintBeforeApply(files, gate, catalog);
  for (const finding of passed) ctx.output.note(`lint: ${describeFinding(finding, finding.severity === "error")}`);
  if (refused.length > 0) throw lintRefusal(refused, `plan ${loaded.plan.id}`, "BW_PREFLIGHT_FAILED");
}

export function registerRun(program: Command): void {
  defineCommand<RunCommandOptions & LintFlags>(program, {
    name: "run",
    arguments: [["<plan>", "plan file (.ts or .js) exporting defineMigration({ … })"]],
    description:
      "Run a migration plan: preflight → expand → fill what triggers keep right → maintenance on → snapshot → transform → verify → contract → maintenance off → report (a plan with online: true never turns maintenance on)",
    options: [stopBeforeOption(), ...lintOptions],
    examples: [
      "DATABASE_URL=postgres://app@db/app npx breakwater run migrations/2025-11-25_role_employee.ts",
      "npx breakwater run prisma/breakwater/20261126120000_user_mail/plan.ts --stop-before contract",
    ],
    notes:
      "Exit codes: 0 done, 2 invalid plan or config, 3 rolled itself back (a check failed or a data error; data restored),\n4 another runner is active, 5 lock timeout (resumable), 6 connection lost for longer than reconnect.timeoutMs\n(resumable), 8 a step failed (resumable), 20 the application still writes what an online contract removes\n(resumable), 21 stopped before the contract as asked (resumable).\n\nThe plan's sql steps are linted first: an error finding refuses the plan (exit 2) unless the SQL ignores it\n(-- breakwater-ignore <rule>: <reason>) or --allow <rule> is given.",
    run: async (ctx, options, planFile: string) => {
      const loaded = await loadPlan(planFile);
      const gate = lintGate(ctx.config, options);
      if (gate) await lintSqlSteps(ctx, loaded, gate);
      return await finishRun(ctx, async () => runPlan(loaded, await runnerOptions(ctx, options)));
    },
  });
}
