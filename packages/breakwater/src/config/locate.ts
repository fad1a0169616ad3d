// Where the config file is: --config's file, or the first breakwater.config.* in the working
// directory. Apart from config.ts so that a command can look without loading the validator.
import { existsSync } from "node:fs";
import path from "node:path";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";

export const configNames = ["breakwater.config.ts", "breakwater.config.mts", "breakwater.config.js", "breakwater.config.mjs"];

/** The config file's absolute path: `explicitPath` (refused when missing), else the first of `configNames` in `cwd`; null without one. */
export function findConfigFile(cwd: string, explicitPath?: string): string | null {
  if (explicitPath !== undefined) {
    const file = path.resolve(cwd, explicitPath);
    if (!existsSync(file)) throw new BreakwaterError("BW_CONFIG_INVALID", `Config file not found: ${explicitPath}`);
    return file;
  }
  return configNames.map((n) => path.join(cwd, n)).find((f) => existsSync(f)) ?? null;
}
