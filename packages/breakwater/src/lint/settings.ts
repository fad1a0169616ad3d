// Rule settings: the config's `lint.rules` with `--rule id=level` over them, shared by lint and
// by the commands that lint before they act (deploy, boot, run).
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { engineRules } from "./engine.ts";
import { allRules } from "./rules/index.ts";
import type { RuleSetting } from "./types.ts";

/** `--rule id=level` pairs over the config's `lint.rules`; an unknown id is refused (a typo would silently do nothing). */
export function ruleSettings(config: Record<string, RuleSetting>, flags: string[]): Record<string, RuleSetting> {
  const known = new Set([...engineRules, ...allRules].map((r) => r.id));
  const settings: Record<string, RuleSetting> = { ...config };
  for (const flag of flags) {
    const match = /^([a-z0-9-]+)=(off|warning|error)$/.exec(flag.trim());
    if (!match) throw new BreakwaterError("BW_CONFIG_INVALID", `--rule ${flag}: expected <rule>=off|warning|error`, { hint: "e.g. --rule index-not-concurrent=warning" });
    settings[match[1]!] = match[2] as RuleSetting;
  }
  const unknown = Object.keys(settings).filter((id) => !known.has(id));
  if (unknown.length > 0) throw new BreakwaterError("BW_CONFIG_INVALID", `Unknown lint rule: ${unknown.join(", ")}`, { hint: "`breakwater lint --list-rules` lists them." });
  return settings;
}
