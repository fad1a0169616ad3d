// `breakwater resume [id]`: continues an interrupted run (or rollback) from its last committed step.
import type { Command } from "commander";
import { resumeRun } from "../runner/runner.ts";
import { runCommand } from "./context.ts";
import { finishRun, runnerOptions } from "./run.ts";

export function registerResume(program: Command): void {
  program
    .command("resume")
    .description("Continue an interrupted or failed run from its last committed step (default: the latest unfinished run)")
    .argument("[id]", "run id (see `breakwater status`)")
    .addHelpText("after", "\nExample:\n  npx breakwater resume            # the latest unfinished run\n  npx breakwater resume 20251125120000-ab12")
    .action((id: string | undefined, _options: unknown, command: Command) => runCommand(command, (ctx) => finishRun(ctx, () => resumeRun(id, runnerOptions(ctx)))));
}
