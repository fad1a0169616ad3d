// `breakwater status`: every run in this database and where it stands.
import type { Command } from "commander";
import { loadConfig, requireDatabaseUrl } from "../config/config.ts";
import { runStatus } from "../runner/runner.ts";
import type { GlobalOptions } from "./context.ts";
import { reportError } from "./render.ts";

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("List the runs recorded in the database and the step each one stands at")
    .argument("[id]", "show every step of one run")
    .option("--config <file>", "config file")
    .option("--json", "print the runs as JSON")
    .addHelpText("after", "\nExample:\n  npx breakwater status\n  npx breakwater status --json | jq '.[0].state'")
    .action(async (id: string | undefined, options: GlobalOptions) => {
      try {
        const config = await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
        const runs = await runStatus(requireDatabaseUrl(config), id);
        if (options.json) {
          process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
          return;
        }
        if (runs.length === 0) {
          process.stdout.write("No breakwater runs in this database yet.\n");
          return;
        }
        for (const run of runs) {
          const current = run.steps.find((s) => s.state !== "done" && s.state !== "skipped" && s.phase !== "rollback");
          process.stdout.write(`${run.id}  ${run.planId}  ${run.state}${run.state === "completed" || run.state === "rolled_back" ? "" : ` at ${current ? `[${current.phase}] ${current.label}` : run.phase}`}  started ${run.startedAt}\n`);
          if (run.error) process.stdout.write(`    ${run.error.message}\n`);
          if (id) for (const s of run.steps) process.stdout.write(`    ${String(s.seq).padStart(4)} ${s.state.padEnd(8)} [${s.phase}] ${s.label}${s.rows ? ` — ${s.rows} rows` : ""}\n`);
        }
      } catch (error) {
        process.exitCode = reportError(error, options.json ? "json" : "plain");
      }
    });
}
