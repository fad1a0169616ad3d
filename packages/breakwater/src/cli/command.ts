// How a command is declared: its name, arguments, options and help as data, and the body that
// runs it; commander's chain and the wiring to the command's context are written here once.
import type { Command, Option } from "commander";
import { commandContext, type CommandContext, type CommandOptions } from "./context.ts";
import { EventRenderer, outputMode } from "./render.ts";

/**
 * An option: its flags, its help text and its default. An array default makes it repeatable:
 * each value given is added to the list. A commander `Option` for anything else (a mandatory one).
 */
export type OptionSpec = readonly [flags: string, description: string, defaultValue?: string | string[]] | Option;

export interface CommandSpec<Options extends CommandOptions> {
  name: string;
  /** positional arguments as commander writes them, `<plan>` (required) or `[id]` (optional), with their help */
  arguments?: readonly (readonly [name: string, description: string])[];
  description: string;
  options?: readonly OptionSpec[];
  /** help text before the examples */
  preface?: string;
  /** command lines shown under "Example:" (one) or "Examples:" (more), or under `exampleHeading` */
  examples?: readonly string[];
  exampleHeading?: string;
  /** help text after the examples */
  notes?: string;
  /** false for commands that read no config file (plan, demo, init): the defaults then */
  loadConfig?: boolean;
  /**
   * The command's body: its context, its options (global ones included) and its arguments in the
   * order declared (undefined for an optional one not given). A number returned is the exit code.
   */
  run: (ctx: CommandContext, options: Options, ...args: string[]) => Promise<number | void>;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** The help text after the options: the preface, the examples, the notes, a blank line apart. */
function helpText(spec: Pick<CommandSpec<CommandOptions>, "preface" | "examples" | "exampleHeading" | "notes">): string | undefined {
  const examples = spec.examples && `${spec.exampleHeading ?? (spec.examples.length > 1 ? "Examples:" : "Example:")}\n${spec.examples.map((line) => `  ${line}`).join("\n")}`;
  const parts = [spec.preface, examples, spec.notes].filter((part) => part !== undefined);
  return parts.length > 0 ? `\n${parts.join("\n\n")}` : undefined;
}

/**
 * Runs a command's action: its options (global ones included), its context, then `body`; an
 * error is drawn by the command's renderer and becomes the exit code, as does a number `body`
 * returns.
 */
async function runCommand<Options extends CommandOptions>(
  command: Command,
  body: (ctx: CommandContext, options: Options) => Promise<number | void>,
  needs: { loadConfig?: boolean },
): Promise<void> {
  const options = command.optsWithGlobals<Options>();
  const output = new EventRenderer(outputMode(options.json));
  try {
    const code = await body(await commandContext(options, output, needs), options);
    if (code) process.exitCode = code;
  } catch (error) {
    process.exitCode = output.error(error);
  } finally {
    output.end();
  }
}

/** Adds the command `spec` describes under `parent` (the program, or a group) and returns it, for its subcommands. */
export function defineCommand<Options extends CommandOptions = CommandOptions>(parent: Command, spec: CommandSpec<Options>): Command {
  const command = parent.command(spec.name).description(spec.description);
  for (const [name, description] of spec.arguments ?? []) command.argument(name, description);
  for (const option of spec.options ?? []) {
    if ("flags" in option) command.addOption(option);
    else if (Array.isArray(option[2])) command.option(option[0], option[1], collect, option[2]);
    else command.option(option[0], option[1], option[2]);
  }
  const help = helpText(spec);
  if (help !== undefined) command.addHelpText("after", help);
  // Commander hands the action the arguments, then the options, then the command itself.
  return command.action((...given: unknown[]) => {
    const args = given.slice(0, -2) as string[];
    return runCommand<Options>(given.at(-1) as Command, (ctx, options) => spec.run(ctx, options, ...args), spec);
  });
}
