// How a command is declared: its name, arguments, options and help as data, and the body that
// runs it; commander's chain and the wiring to the command's context are written here once.
import type { Command, Option } from "commander";
import type { ResolvedConfig } from "../config/resolved.ts";
import { findConfigFile } from "../config/locate.ts";
import type { CommandContext, CommandOptions } from "./context.ts";
import { EventRenderer, outputMode } from "./render.ts";

/**
 * An option: its flags, its help text and its default. An array default makes it repeatable:
 * each value given is added to the list. A commander `Option` for anything else (a mandatory one).
 */
export type OptionSpec = readonly [flags: string, description: string, defaultValue?: string | string[]] | Option;

interface SpecCommon {
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
}

/**
 * What a `loadConfig: "lazy"` command starts from: the output, and the config file read only when
 * there is one (null without), so the command starts without the config's validator or the stores.
 */
export interface LazyContext {
  output: EventRenderer;
  configFile(): Promise<ResolvedConfig | null>;
}

export type CommandSpec<Options extends CommandOptions> = SpecCommon &
  (
    | {
        /** false for commands that read no config file (plan, demo, init): the defaults then */
        loadConfig?: boolean;
        /**
         * The command's body: its context, its options (global ones included) and its arguments in the
         * order declared (undefined for an optional one not given). A number returned is the exit code.
         */
        run: (ctx: CommandContext, options: Options, ...args: string[]) => Promise<number | void>;
      }
    | {
        /** a command that must start fast (lint) and reads the config itself, when there is one */
        loadConfig: "lazy";
        run: (ctx: LazyContext, options: Options, ...args: string[]) => Promise<number | void>;
      }
  );

const collect = (value: string, previous: string[]) => [...previous, value];

/** The help text after the options: the preface, the examples, the notes, a blank line apart. */
function helpText(spec: Pick<SpecCommon, "preface" | "examples" | "exampleHeading" | "notes">): string | undefined {
  const examples = spec.examples && `${spec.exampleHeading ?? (spec.examples.length > 1 ? "Examples:" : "Example:")}\n${spec.examples.map((line) => `  ${line}`).join("\n")}`;
  const parts = [spec.preface, examples, spec.notes].filter((part) => part !== undefined);
  return parts.length > 0 ? `\n${parts.join("\n\n")}` : undefined;
}

/**
 * Runs a command's action: its options (global ones included), its context, then its body; an
 * error is drawn by the command's renderer and becomes the exit code, as does a number the body
 * returns.
 */
async function runCommand<Options extends CommandOptions>(command: Command, spec: CommandSpec<Options>, args: string[]): Promise<void> {
  const options = command.optsWithGlobals<Options>();
  const output = new EventRenderer(outputMode(options.json));
  try {
    let code: number | void;
    if (spec.loadConfig === "lazy") {
      const configFile = async () => {
        const file = findConfigFile(process.cwd(), options.config);
        return file === null ? null : (await import("../config/resolved.ts")).loadConfig({ explicitPath: file });
      };
      code = await spec.run({ output, configFile }, options, ...args);
    } else {
      // Imported here: the context loads the config's validator and the stores, which a lazy command does without.
      const { commandContext } = await import("./context.ts");
      code = await spec.run(await commandContext(options, output, spec), options, ...args);
    }
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
    return runCommand<Options>(given.at(-1) as Command, spec, args);
  });
}
