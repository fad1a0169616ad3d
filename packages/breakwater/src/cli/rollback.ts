// `breakwater rollback <id>`: data and schema back to the state before the run.
import type { Command } from "commander";
import { rollbackRunById } from "../runner/runner.ts";
import { runCommand } from "./context.ts";
import { finishRun, runnerOptions } from "./run.ts";

export function registerRollback(program: Command): void {
  program
    .command("rollback")
    .description("Undo a run: restore the changed rows from its snapshot and drop or revert what it created; maintenance stays on until done")
    .argument("<id>", "run id (see `breakwater status`)")
    .addHelpText("after", "\nExample:\n  npx breakwater rollback 20251125120000-ab12")
    .action((id: string, _options: unknown, command: Command) => runCommand(command, (ctx) => finishRun(ctx, () => rollbackRunById(id, runnerOptions(ctx)))));
}
