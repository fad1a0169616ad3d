// `breakwater pause <id>` and `breakwater continue <id>`: hold a running transform between two
// batches and let it go on; `resume` keeps its meaning (an interrupted run).
import type { Command } from "commander";
import { setPaused } from "../runner/control.ts";
import { defineCommand } from "./command.ts";

export function registerControl(program: Command): void {
  defineCommand(program, {
    name: "pause",
    arguments: [["<id>", "run id (see `breakwater status`)"]],
    description: "Hold a running transform after its current batch (no transaction or lock is kept); maintenance mode and the write fence stay as they are",
    examples: ["npx breakwater pause 20251125120000-ab12", "npx breakwater continue 20251125120000-ab12"],
    run: async (ctx, _options, id: string) => {
      const result = await setPaused(ctx.databaseUrl(), id, true);
      const where = result.phase === "transform" ? "after its current batch" : `when it reaches a transform (it is in its ${result.phase} phase)`;
      ctx.output.result(
        { type: "result", ...result },
        result.changed ? `Run ${result.runId} pauses ${where}; \`breakwater continue ${result.runId}\` goes on.` : `Run ${result.runId} was already paused.`,
      );
    },
  });
  defineCommand(program, {
    name: "continue",
    arguments: [["<id>", "run id (see `breakwater status`)"]],
    description: "Let a paused run's transform go on",
    examples: ["npx breakwater continue 20251125120000-ab12"],
    run: async (ctx, _options, id: string) => {
      const result = await setPaused(ctx.databaseUrl(), id, false);
      ctx.output.result({ type: "result", ...result }, result.changed ? `Run ${result.runId} goes on.` : `Run ${result.runId} was not paused.`);
    },
  });
}
