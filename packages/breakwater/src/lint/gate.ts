// The linter where breakwater applies SQL (deploy's pending files, a plan's sql steps): lint what
// is about to run, let warnings through, and refuse an error finding that is neither ignored in
// the file nor allowed with --allow — before anything runs (BW_LINT_REFUSED).
import { BreakwaterError, type ErrorCode } from "@breakwater/runtime/internal/errors";
import { engineRules, lint } from "./engine.ts";
import { allRules } from "./rules/index.ts";
import { ruleSettings } from "./settings.ts";
import type { CatalogFacts, Finding, LintFile, RuleSetting } from "./types.ts";

export interface LintGate {
  /** rule id → off / warning / error (the config's `lint.rules`; checked when something is linted) */
  rules: Record<string, RuleSetting>;
  /** `--allow <rule>`: error findings of these rules are reported, not refused */
  allow: string[];
}

export interface GateResult {
  /** error findings neither ignored nor allowed: nothing may run */
  refused: Finding[];
  /** warnings, and the errors `--allow` lets through: to print */
  passed: Finding[];
}

/**
 * Rules about what breakwater's own runner already does with a migration file: deploy sets
 * lock_timeout (with retries) on every statement and commits an `ADD VALUE` before the statements
 * that use it (55P04), so neither is a reason to refuse. (A plan's sql step runs in one
 * transaction: a value added and used there does fail, and the rule says so.)
 */
export const handledByDeploy: Record<string, RuleSetting> = {
  "missing-lock-timeout": "off",
  "prisma-enum-value-added-and-used": "off",
};

/** An unknown rule in --allow is refused: a typo would silently allow nothing. */
export function checkAllow(allow: string[]): void {
  const known = new Set([...engineRules, ...allRules].map((rule) => rule.id));
  const unknown = allow.filter((id) => !known.has(id));
  if (unknown.length > 0)
    throw new BreakwaterError("BW_CONFIG_INVALID", `--allow: unknown lint rule ${unknown.join(", ")}`, { hint: "`breakwater lint --list-rules` lists them." });
}

/** Lints the files about to run (earlier files first: what they create is new to later ones). */
export async function lintBeforeApply(files: LintFile[], gate: LintGate, catalog: CatalogFacts | null): Promise<GateResult> {
  checkAllow(gate.allow);
  const settings = ruleSettings(gate.rules, []);
  const handled = files.every((file) => file.runner === "plan") ? {} : handledByDeploy;
  const findings = await lint(files, { rules: allRules, settings: { ...settings, ...handled }, catalog });
  const allowed = new Set(gate.allow);
  return {
    refused: findings.filter((f) => f.severity === "error" && !allowed.has(f.rule)),
    passed: findings.filter((f) => f.severity === "warning" || allowed.has(f.rule)),
  };
}

/** One line per finding: `file:line:column severity rule: message`. */
export function describeFinding(finding: Finding, allowed = false): string {
  return `${finding.file}:${finding.line}:${finding.column} ${allowed ? "allowed" : finding.severity} ${finding.rule}: ${finding.message}`;
}

/** The refusal: each finding with its place, message and fix; what to do in the hint. */
export function lintRefusal(refused: Finding[], subject: string, code: ErrorCode = "BW_LINT_REFUSED"): BreakwaterError {
  const lines = refused.map((f) => `  ${describeFinding(f)}\n    fix: ${f.fix}`);
  const rules = [...new Set(refused.map((f) => f.rule))];
  return new BreakwaterError(code, `${subject}: ${refused.length === 1 ? "1 finding" : `${refused.length} findings`} the linter refuses (nothing was run):\n${lines.join("\n")}`, {
    hint: `Make the change the safe way (the fix above). Where it is safe here, say why in the file — \`-- breakwater-ignore ${rules[0]}: <reason>\` on the line before the statement — or pass ${rules.map((r) => `--allow ${r}`).join(" ")}.`,
    details: { findings: refused },
  });
}
