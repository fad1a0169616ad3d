// `breakwater run <plan>`: executes a plan through every phase and prints the migration log.
import type { Command } from "commander";
import { loadPlan } from "../plan/plan.ts";
import { RunFailure, runPlan, type RunOutcome } from "../runner/runner.ts";
import { commandContext, writeReportFiles, type CommandContext, type GlobalOptions } from "./context.ts";
import { exitCodes } from "./exit-codes.ts";
import { printReport, reportError } from "./render.ts";

export async function finishOutcome(ctx: CommandContext, outcome: RunOutcome): Promise<void> {
  printReport(outcome.log, ctx.mode);
  const file = await writeReportFiles(ctx.config.reportDir, outcome.log);
  if (ctx.mode !== "json") process.stderr.write(`Migration log written to ${file} (and .json)\n`);
}

/**
 * Prints the report a failed run left, then the error; returns the exit code. A run that rolled
 * itself back (a check failed, or a data error) exits 3 whatever the cause: its data is restored.
 */
export async function failOutcome(ctx: CommandContext, error: unknown): Promise<number> {
  if (error instanceof RunFailure) await finishOutcome(ctx, error.outcome);
  const code = reportError(error, ctx.mode);
  return error instanceof RunFailure && error.outcome.state === "rolled_back" ? exitCodes.BW_CHECK_FAILED! : code;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("Run a migration plan: preflight → expand → maintenance on → snapshot → transform → verify → contract → maintenance off → report")
    .argument("<plan>", "plan file (.ts or .js) exporting defineMigration({ … })")
    .option("--config <file>", "config file (default: breakwater.config.ts in the working directory)")
    .option("--json", "print events and the report as JSON lines on stdout")
    .addHelpText("after", "\nExample:\n  DATABASE_URL=postgres://app@db/app npx breakwater run migrations/2025-11-25_role_employee.ts\n\nExit codes: 0 done, 2 invalid plan or config, 3 rolled itself back (a check failed or a data error; data restored),\n4 another runner is active, 5 lock timeout (resumable), 6 connection lost for longer than reconnect.timeoutMs\n(resumable), 8 a step failed (resumable).")
    .action(async (planFile: string, options: GlobalOptions) => {
      let ctx: CommandContext | undefined;
      try {
        ctx = await commandContext(options);
        const loaded = await loadPlan(planFile);
        const outcome = await runPlan(loaded, { config: ctx.config, databaseUrl: ctx.databaseUrl, store: ctx.store, emit: ctx.renderer.handle });
        await finishOutcome(ctx, outcome);
      } catch (error) {
        process.exitCode = ctx ? await failOutcome(ctx, error) : reportError(error, options.json ? "json" : "plain");
      }
    });
}
