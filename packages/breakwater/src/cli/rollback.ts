// `breakwater rollback <id>`: data and schema back to the state before the run.
import type { Command } from "commander";
import { rollbackRunById } from "../runner/runner.ts";
import { commandContext, type CommandContext, type GlobalOptions } from "./context.ts";
import { reportError } from "./render.ts";
import { failOutcome, finishOutcome } from "./run.ts";

export function registerRollback(program: Command): void {
  program
    .command("rollback")
    .description("Undo a run: restore the changed rows from its snapshot and drop or revert what it created; maintenance stays on until done")
    .argument("<id>", "run id (see `breakwater status`)")
    .option("--config <file>", "config file")
    .option("--json", "JSON lines on stdout")
    .addHelpText("after", "\nExample:\n  npx breakwater rollback 20251125120000-ab12")
    .action(async (id: string, options: GlobalOptions) => {
      let ctx: CommandContext | undefined;
      try {
        ctx = await commandContext(options);
        const outcome = await rollbackRunById(id, { config: ctx.config, databaseUrl: ctx.databaseUrl, store: ctx.store, emit: ctx.renderer.handle });
        await finishOutcome(ctx, outcome);
      } catch (error) {
        process.exitCode = ctx ? await failOutcome(ctx, error) : reportError(error, options.json ? "json" : "plain");
      }
    });
}
