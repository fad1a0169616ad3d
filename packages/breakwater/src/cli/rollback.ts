// `breakwater rollback <id>`: data and schema back to the state before the run.
import type { Command } from "commander";
import { rollbackRunById } from "../runner/runner.ts";
import { defineCommand } from "./command.ts";
import { finishRun, runnerOptions } from "./run.ts";

export function registerRollback(program: Command): void {
  defineCommand(program, {
    name: "rollback",
    arguments: [["<id>", "run id (see `breakwater status`)"]],
    description: "Undo a run: restore the changed rows from its snapshot and drop or revert what it created; maintenance stays on until done",
    examples: ["npx breakwater rollback 20251125120000-ab12"],
    run: (ctx, _options, id: string) => finishRun(ctx, async () => rollbackRunById(id, await runnerOptions(ctx))),
  });
}
