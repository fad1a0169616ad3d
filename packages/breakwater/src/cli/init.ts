// `breakwater init`: adds breakwater to the app in the working directory (config, Next.js proxy
// or middleware, .gitignore entries, package.json scripts) and says what it did, file by file.
import type { Command } from "commander";
import { applyInit, planInit, type FileStep, type InitPlan, type ProjectFacts } from "../init/init.ts";
import { defineCommand } from "./command.ts";
import type { CommandOptions } from "./context.ts";

interface InitOptions extends CommandOptions {
  dryRun?: boolean;
}

function describeProject(project: ProjectFacts): string {
  const names = project.frameworks.map((framework) =>
    framework === "next" ? `Next.js${project.next?.version ? ` ${project.next.version}` : ""}${project.next?.dir === "src" ? " (src/)" : ""}`
    : framework === "express" ? "Express"
    : "Fastify",
  );
  return [...(names.length ? names : ["no web framework"]), project.typescript ? "TypeScript" : "JavaScript", ...(project.prisma ? ["Prisma"] : []), project.packageManager].join(
    ", ",
  );
}

function label(step: FileStep, dryRun: boolean): string {
  if (step.action === "create") return dryRun ? "would create" : "created";
  if (step.action === "update") return dryRun ? "would update" : "updated";
  if (step.action === "skip") return "skipped";
  return "add by hand";
}

const indent = (text: string, by: string) =>
  text
    .trimEnd()
    .split("\n")
    .map((line) => (line === "" ? "" : `${by}${line}`))
    .join("\n");

export function renderInit(plan: InitPlan, dryRun: boolean): string {
  const out: string[] = [`breakwater init${dryRun ? " --dry-run: nothing is written" : ""}`, `Project: ${describeProject(plan.project)}`, ""];
  const width = Math.max(...plan.files.map((step) => step.path.length));
  for (const step of plan.files) {
    out.push(`  ${label(step, dryRun).padEnd(13)}${step.path.padEnd(width)}  ${step.note}`);
    if (step.lines) out.push("", indent(step.lines, "      "), "");
  }
  if (plan.warnings.length) out.push("", ...plan.warnings.map((w) => `Warning: ${w}`));
  if (plan.install.length) out.push("", "Install what these files import:", ...plan.install.map((c) => `  ${c}`));
  out.push("", "Next:", ...plan.nextSteps.map((s, i) => `  ${i + 1}. ${s}`));
  return `${out.join("\n")}\n`;
}

/** The --json summary: the plan without file contents. */
export function initSummary(plan: InitPlan, dryRun: boolean) {
  return {
    type: "result",
    dryRun,
    project: plan.project,
    files: plan.files.map((step) => ({ path: step.path, action: step.action, note: step.note, written: step.written === true, ...(step.lines ? { lines: step.lines } : {}) })),
    install: plan.install,
    nextSteps: plan.nextSteps,
    warnings: plan.warnings,
  };
}

export function registerInit(program: Command): void {
  defineCommand<InitOptions>(program, {
    name: "init",
    description:
      "Add breakwater to the app in this folder: breakwater.config, the Next.js proxy (or the lines for Express/Fastify), .gitignore entries, package.json scripts; never overwrites a file",
    options: [["--dry-run", "print what it would do; write nothing"]],
    examples: ["npx breakwater init", "npx breakwater init --dry-run"],
    loadConfig: false,
    run: async ({ output }, options) => {
      const planned = await planInit(process.cwd());
      const plan = options.dryRun ? planned : await applyInit(planned);
      output.result(initSummary(plan, options.dryRun ?? false), renderInit(plan, options.dryRun ?? false).trimEnd());
    },
  });
}
