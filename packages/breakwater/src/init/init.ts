// `breakwater init`: reads the project (package.json, tsconfig.json, the Next.js layout, Prisma),
// plans what to add, then writes only what is missing. Nothing existing is ever overwritten: a
// proxy or middleware that exists gets the lines to add instead, package.json only gains scripts.
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { BreakwaterError, errorMessage } from "@breakwater/runtime/internal/errors";
import { configNames } from "../config/locate.ts";
import { configFile, expressLines, fastifyLines, fetchLines, nextFile, nextLines, type ModuleStyle } from "./templates.ts";

export type PackageManager = "npm" | "pnpm" | "yarn" | "bun";
export type Framework = "next" | "express" | "fastify";

export interface NextFacts {
  /** the installed version, else the version package.json asks for; null when neither says */
  version: string | null;
  major: number | null;
  minor: number | null;
  /** where Next looks for proxy.ts / middleware.ts: "src" when src/app or src/pages exists */
  dir: "." | "src";
}

export interface ProjectFacts {
  name: string | null;
  typescript: boolean;
  /** .js files are CommonJS (no "type": "module"): printed lines use require() */
  moduleStyle: ModuleStyle;
  packageManager: PackageManager;
  frameworks: Framework[];
  next: NextFacts | null;
  prisma: boolean;
  /** @breakwater/runtime is in dependencies (the app imports it at run time) */
  runtimeInstalled: boolean;
  /** breakwater is in devDependencies or dependencies */
  cliInstalled: boolean;
}

export interface FileStep {
  /** relative to the project, "/"-separated */
  path: string;
  /** create: a new file; update: lines or scripts added; skip: nothing to do; manual: lines for the user to add */
  action: "create" | "update" | "skip" | "manual";
  /** why, in a few words */
  note: string;
  /** manual: the exact lines to add */
  lines?: string;
  /** create and update: the file's new content */
  content?: string;
  /** set by applyInit: the file was written */
  written?: boolean;
}

export interface InitPlan {
  dir: string;
  project: ProjectFacts;
  files: FileStep[];
  /** commands installing what the written files import */
  install: string[];
  /** what to run next, in order */
  nextSteps: string[];
  warnings: string[];
}

interface PackageJson {
  name?: unknown;
  type?: unknown;
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
  packageManager?: unknown;
}

export const gitignoreEntries = ["maintenance/", "backups/", "breakwater-reports/"];
const nextExtensions = ["ts", "tsx", "js", "jsx", "mjs", "mts"];

async function readPackageJson(dir: string): Promise<{ text: string; value: PackageJson }> {
  const file = path.join(dir, "package.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new BreakwaterError("BW_CONFIG_INVALID", `No package.json in ${dir}: breakwater init sets up a Node.js project.`, {
      hint: "Run it in the folder of your app's package.json (or create one with `npm init -y` first).",
    });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return { text, value: value as PackageJson };
  } catch (error) {
    throw new BreakwaterError("BW_CONFIG_INVALID", `package.json cannot be read: ${errorMessage(error)}`, {
      hint: "Fix package.json (it must be one JSON object), then run breakwater init again.",
    });
  }
}

function dependency(pkg: PackageJson, name: string): string | null {
  const version = pkg.dependencies?.[name] ?? pkg.devDependencies?.[name];
  return typeof version === "string" ? version : null;
}

/** "16.4.6", "^15.5.0", "~15.3", "npm:next@15.5.2" → major and minor; tags (latest, canary) → null. */
export function parseVersion(spec: string): { major: number; minor: number | null } | null {
  const match = /(?:^|[\s@^~=<>v])(\d+)(?:\.(\d+))?/.exec(spec);
  if (!match) return null;
  return { major: Number(match[1]), minor: match[2] === undefined ? null : Number(match[2]) };
}

async function installedVersion(dir: string, name: string): Promise<string | null> {
  try {
    const value = JSON.parse(await readFile(path.join(dir, "node_modules", name, "package.json"), "utf8")) as { version?: unknown };
    return typeof value.version === "string" ? value.version : null;
  } catch {
    return null;
  }
}

function packageManagerOf(dir: string, pkg: PackageJson): PackageManager {
  const declared = typeof pkg.packageManager === "string" ? /^(npm|pnpm|yarn|bun)@/.exec(pkg.packageManager)?.[1] : undefined;
  if (declared) return declared as PackageManager;
  if (existsSync(path.join(dir, "pnpm-lock.yaml"))) return "pnpm";
  if (existsSync(path.join(dir, "yarn.lock"))) return "yarn";
  if (existsSync(path.join(dir, "bun.lock")) || existsSync(path.join(dir, "bun.lockb"))) return "bun";
  return "npm";
}

export async function detectProject(dir: string, pkg: PackageJson): Promise<ProjectFacts> {
  const typescript = existsSync(path.join(dir, "tsconfig.json"));
  const frameworks: Framework[] = [];
  let next: NextFacts | null = null;
  const nextSpec = dependency(pkg, "next");
  if (nextSpec !== null) {
    frameworks.push("next");
    const version = (await installedVersion(dir, "next")) ?? nextSpec;
    const parsed = parseVersion(version);
    const srcLayout = existsSync(path.join(dir, "src", "app")) || existsSync(path.join(dir, "src", "pages"));
    next = { version: parsed ? version : null, major: parsed?.major ?? null, minor: parsed?.minor ?? null, dir: srcLayout ? "src" : "." };
  }
  if (dependency(pkg, "express") !== null) frameworks.push("express");
  if (dependency(pkg, "fastify") !== null) frameworks.push("fastify");
  const prisma =
    dependency(pkg, "prisma") !== null ||
    dependency(pkg, "@prisma/client") !== null ||
    existsSync(path.join(dir, "prisma", "schema.prisma")) ||
    existsSync(path.join(dir, "prisma.config.ts"));
  return {
    name: typeof pkg.name === "string" ? pkg.name : null,
    typescript,
    moduleStyle: typescript || pkg.type === "module" ? "esm" : "commonjs",
    packageManager: packageManagerOf(dir, pkg),
    frameworks,
    next,
    prisma,
    runtimeInstalled: typeof pkg.dependencies?.["@breakwater/runtime"] === "string",
    cliInstalled: dependency(pkg, "breakwater") !== null,
  };
}

function relative(...parts: string[]): string {
  return path.posix.join(...parts.filter((p) => p !== "."));
}

function existing(dir: string, names: string[]): string | undefined {
  return names.find((name) => existsSync(path.join(dir, name)));
}

/** breakwater.config.ts in a TypeScript project (whatever its package type), else .mjs. */
function configStep(dir: string, project: ProjectFacts): FileStep {
  const found = existing(dir, configNames);
  if (found) return { path: found, action: "skip", note: "exists" };
  const name = project.typescript ? "breakwater.config.ts" : "breakwater.config.mjs";
  return { path: name, action: "create", note: "maintenance store, backups/, breakwater-reports/", content: configFile() };
}

/** Next 16+: proxy.ts; 15: middleware.ts on the Node.js runtime (15.5+); older: none can host it. */
function nextStep(dir: string, project: ProjectFacts, next: NextFacts, warnings: string[]): FileStep {
  const kind = next.major === null || next.major >= 16 ? "proxy" : "middleware";
  const extension = project.typescript ? "ts" : "js";
  const target = relative(next.dir, `${kind}.${extension}`);
  const lines = nextLines({ kind, typescript: project.typescript });
  if (next.major === null) warnings.push("The Next.js version could not be read from package.json or node_modules; assumed 16 or later (proxy.ts).");
  if (next.major !== null && next.major < 15) {
    warnings.push(
      `Next.js ${next.version} runs middleware on the Edge runtime only; breakwater needs the Node.js runtime of Next.js 15.5 or later. Upgrade next, then run breakwater init again.`,
    );
    return { path: target, action: "manual", note: `needs Next.js 15.5 or later (found ${next.version})`, lines };
  }
  if (next.major === 15 && next.minor !== null && next.minor < 5)
    warnings.push(`middleware.ts with runtime "nodejs" needs Next.js 15.5 or later (found ${next.version}): upgrade next before you build.`);
  const names = (base: string) => nextExtensions.map((ext) => relative(next.dir, `${base}.${ext}`));
  const same = existing(dir, names(kind));
  if (same) return { path: same, action: "manual", note: "exists, left as it is; add these lines", lines };
  // Next 16 refuses a project with both files; Next 15 has no proxy convention.
  const other = kind === "proxy" ? existing(dir, names("middleware")) : undefined;
  if (other) {
    return {
      path: other,
      action: "manual",
      note: `exists; Next.js 16 runs breakwater in proxy.ts: rename ${other} to ${target} (npx @next/codemod@latest middleware-to-proxy .), then add these lines`,
      lines,
    };
  }
  return {
    path: target,
    action: "create",
    note: `maintenance mode for every page (Next.js ${next.major === null ? "16+" : next.major} ${kind})`,
    content: nextFile({ kind, typescript: project.typescript }),
  };
}

function serverSteps(project: ProjectFacts): FileStep[] {
  const steps: FileStep[] = [];
  if (project.frameworks.includes("express"))
    steps.push({ path: "(your Express app)", action: "manual", note: "breakwater does not guess the entry file", lines: expressLines(project.moduleStyle) });
  if (project.frameworks.includes("fastify"))
    steps.push({ path: "(your Fastify app)", action: "manual", note: "breakwater does not guess the entry file", lines: fastifyLines(project.moduleStyle) });
  if (project.frameworks.length === 0)
    steps.push({
      path: "(your server)",
      action: "manual",
      note: "no Next.js, Express or Fastify dependency found; for Hono, Bun, Deno or any handler taking a Request",
      lines: fetchLines(project.moduleStyle),
    });
  return steps;
}

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** "/maintenance", "maintenance", "maintenance/" and "/maintenance/" ignore the same folder. */
function ignores(lines: string[], entry: string): boolean {
  const bare = entry.replace(/\/$/, "");
  return lines.some((line) => {
    const trimmed = line.trim();
    return trimmed === bare || trimmed === `${bare}/` || trimmed === `/${bare}` || trimmed === `/${bare}/` || trimmed === `${bare}/**` || trimmed === `/${bare}/**`;
  });
}

async function gitignoreStep(dir: string): Promise<FileStep> {
  const text = await readText(path.join(dir, ".gitignore"));
  const missing = gitignoreEntries.filter((entry) => !ignores((text ?? "").split(/\r?\n/), entry));
  if (missing.length === 0) return { path: ".gitignore", action: "skip", note: `already ignores ${gitignoreEntries.join(", ")}` };
  const block = `# breakwater: maintenance lock, backups, migration logs\n${missing.join("\n")}\n`;
  if (text === null) return { path: ".gitignore", action: "create", note: `ignores ${missing.join(", ")}`, content: block };
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const separator =
    text === "" ? ""
    : text.endsWith("\n") ? eol
    : `${eol}${eol}`;
  return { path: ".gitignore", action: "update", note: `added ${missing.join(", ")}`, content: `${text}${separator}${block.replaceAll("\n", eol)}` };
}

function wantedScripts(project: ProjectFacts): Record<string, string> {
  return {
    ...(project.prisma ? { "db:deploy": "breakwater deploy" } : {}),
    "maintenance:on": "breakwater maintenance on",
    "maintenance:off": "breakwater maintenance off",
    "maintenance:status": "breakwater maintenance status",
  };
}

/** Adds the missing scripts, keeping the file's indentation, line endings and final newline. */
function packageJsonStep(text: string, pkg: PackageJson, project: ProjectFacts): FileStep {
  const scripts = pkg.scripts ?? {};
  const wanted = wantedScripts(project);
  const missing = Object.keys(wanted).filter((name) => !(name in scripts));
  const kept = Object.keys(wanted).filter((name) => name in scripts && scripts[name] !== wanted[name]);
  const keptNote = kept.length ? `; kept your own ${kept.join(", ")}` : "";
  if (missing.length === 0) return { path: "package.json", action: "skip", note: `has the scripts${keptNote}` };
  const indent = /^([ \t]+)"/m.exec(text)?.[1] ?? "  ";
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const updated: PackageJson = { ...pkg, scripts: { ...scripts, ...Object.fromEntries(missing.map((name) => [name, wanted[name]])) } };
  const json = JSON.stringify(updated, null, indent).replaceAll("\n", eol);
  return { path: "package.json", action: "update", note: `added scripts ${missing.join(", ")}${keptNote}`, content: /\r?\n$/.test(text) ? `${json}${eol}` : json };
}

function installCommands(project: ProjectFacts): string[] {
  const add = { npm: "npm install", pnpm: "pnpm add", yarn: "yarn add", bun: "bun add" }[project.packageManager];
  const dev = { npm: "npm install --save-dev", pnpm: "pnpm add -D", yarn: "yarn add -D", bun: "bun add -d" }[project.packageManager];
  return [...(project.runtimeInstalled ? [] : [`${add} @breakwater/runtime`]), ...(project.cliInstalled ? [] : [`${dev} breakwater`])];
}

function nextStepsFor(project: ProjectFacts): string[] {
  const run = `${project.packageManager} run`;
  const steps: string[] = [];
  if (project.next) steps.push(project.packageManager === "npm" ? "npm run build && npm start" : `${run} build && ${run} start`);
  else steps.push("start your app with the maintenance lines added");
  steps.push("npx breakwater maintenance on    (every page answers 503 with the maintenance page)");
  steps.push("npx breakwater maintenance off");
  if (project.prisma) steps.push("npx breakwater deploy    (applies prisma/migrations as prisma migrate deploy does, with lock timeouts and retries)");
  steps.push(`Several app servers: set BREAKWATER_MAINTENANCE_STORE=postgres and DATABASE_URL for the app and for the CLI`);
  return steps;
}

/** Reads the project in `dir` and plans every file; writes nothing. */
export async function planInit(dir: string): Promise<InitPlan> {
  const { text, value: pkg } = await readPackageJson(dir);
  const project = await detectProject(dir, pkg);
  const warnings: string[] = [];
  const files: FileStep[] = [configStep(dir, project)];
  // A Next.js app with a custom Express or Fastify server is covered by its proxy or middleware.
  if (project.next) files.push(nextStep(dir, project, project.next, warnings));
  else files.push(...serverSteps(project));
  files.push(await gitignoreStep(dir), packageJsonStep(text, pkg, project));
  return { dir, project, files, install: installCommands(project), nextSteps: nextStepsFor(project), warnings };
}

/**
 * Writes the plan's create and update steps. A file created meanwhile is left alone (the
 * exclusive flag): its step becomes a skip.
 */
export async function applyInit(plan: InitPlan): Promise<InitPlan> {
  const files: FileStep[] = [];
  for (const step of plan.files) {
    if ((step.action !== "create" && step.action !== "update") || step.content === undefined) {
      files.push(step);
      continue;
    }
    const file = path.join(plan.dir, step.path);
    try {
      await writeFile(file, step.content, step.action === "create" ? { flag: "wx" } : {});
      files.push({ ...step, written: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      files.push({ path: step.path, action: "skip", note: "exists" });
    }
  }
  return { ...plan, files };
}
