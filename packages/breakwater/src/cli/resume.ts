// `breakwater resume [id]`: continues an interrupted run (or rollback) from its last committed step.
import type { Command } from "commander";
import { resumeRun } from "../runner/runner.ts";
import { defineCommand } from "./command.ts";
import { finishRun, runnerOptions, stopBeforeOption, type RunCommandOptions } from "./run.ts";

export function registerResume(program: Command): void {
  defineCommand<RunCommandOptions>(program, {
    name: "resume",
    arguments: [["[id]", "run id (see `breakwater status`)"]],
    description: "Continue an interrupted or failed run from its last committed step (default: the latest unfinished run)",
    options: [stopBeforeOption()],
    examples: ["npx breakwater resume            # the latest unfinished run", "npx breakwater resume 20251125120000-ab12"],
    run: (ctx, options, id?: string) => finishRun(ctx, async () => resumeRun(id, await runnerOptions(ctx, options))),
  });
}
