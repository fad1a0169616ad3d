// `breakwater status`: every run in this database and where it stands.
import type { Command } from "commander";
import { runStatus, type RunStatus } from "../runner/runner.ts";
import { defineCommand } from "./command.ts";
import type { Palette } from "./style.ts";

function stateColor(state: RunStatus["state"], palette: Palette): string {
  const paint =
    state === "completed" ? palette.green
    : state === "failed" ? palette.red
    : state === "rolled_back" ? palette.yellow
    : palette.cyan;
  return paint(state);
}

export function registerStatus(program: Command): void {
  defineCommand(program, {
    name: "status",
    arguments: [["[id]", "show every step of one run"]],
    description: "List the runs recorded in the database and the step each one stands at",
    examples: ["npx breakwater status", "npx breakwater status --json | jq '.[0].state'"],
    run: async (ctx, _options, id?: string) => {
      const runs = await runStatus(ctx.databaseUrl(), id);
      const { palette } = ctx.output;
      const lines = runs.length === 0 ? ["No breakwater runs in this database yet."] : [];
      for (const run of runs) {
        const current = run.steps.find((s) => s.state !== "done" && s.state !== "skipped" && s.phase !== "rollback");
        const where = run.state === "completed" || run.state === "rolled_back" ? "" : ` at ${current ? `[${current.phase}] ${current.label}` : run.phase}`;
        const paused = [
          ...(run.pausedAt ? [palette.yellow(`paused since ${run.pausedAt}`)] : []),
          ...(run.pauseFile ? [palette.yellow(`paused: flag file ${run.pauseFile.path} exists${run.pauseFile.since ? ` (since ${run.pauseFile.since})` : ""}`)] : []),
        ]
          .map((p) => `  ${p}`)
          .join("");
        lines.push(`${palette.bold(run.id)}  ${run.planId}  ${stateColor(run.state, palette)}${where}${paused}  started ${run.startedAt}`);
        if (run.error) lines.push(`    ${run.error.message}`);
        if (id) for (const s of run.steps) lines.push(`    ${String(s.seq).padStart(4)} ${s.state.padEnd(8)} [${s.phase}] ${s.label}${s.rows ? ` — ${s.rows} rows` : ""}`);
      }
      ctx.output.result(runs, lines.join("\n"));
    },
  });
}
