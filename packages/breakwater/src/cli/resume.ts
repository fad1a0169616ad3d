// `breakwater resume [id]`: continues an interrupted run (or rollback) from its last committed step.
import type { Command } from "commander";
import { resumeRun } from "../runner/runner.ts";
import { commandContext, type CommandContext, type GlobalOptions } from "./context.ts";
import { reportError } from "./render.ts";
import { failOutcome, finishOutcome } from "./run.ts";

export function registerResume(program: Command): void {
  program
    .command("resume")
    .description("Continue an interrupted or failed run from its last committed step (default: the latest unfinished run)")
    .argument("[id]", "run id (see `breakwater status`)")
    .option("--config <file>", "config file")
    .option("--json", "JSON lines on stdout")
    .addHelpText("after", "\nExample:\n  npx breakwater resume            # the latest unfinished run\n  npx breakwater resume 20251125120000-ab12")
    .action(async (id: string | undefined, options: GlobalOptions) => {
      let ctx: CommandContext | undefined;
      try {
        ctx = await commandContext(options);
        const outcome = await resumeRun(id, { config: ctx.config, databaseUrl: ctx.databaseUrl, store: ctx.store, emit: ctx.renderer.handle });
        await finishOutcome(ctx, outcome);
      } catch (error) {
        process.exitCode = ctx ? await failOutcome(ctx, error) : reportError(error, options.json ? "json" : "plain");
      }
    });
}
