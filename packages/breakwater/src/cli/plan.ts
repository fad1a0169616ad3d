// `breakwater plan --from <git-ref|file> [--to prisma/schema.prisma]`: classify every schema
// change safe / breaking and scaffold the three steps of a breaking one: the expand migration,
// the plan that moves the data, the contract migration.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { createInterface, type Interface } from "node:readline";
import { promisify } from "node:util";
import { Option, type Command } from "commander";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { selectEngines, type EngineReport } from "../prisma/scaffold/project-engines.ts";
import { describeFinding } from "../lint/gate.ts";
import { scaffold, slug, writeScaffold, type SchemaSet } from "../prisma/scaffold/scaffold.ts";
import type { Question } from "../prisma/scaffold/schema-changes.ts";
import { defineCommand } from "./command.ts";
import type { CommandOptions } from "./context.ts";

const run = promisify(execFile);

interface PlanOptions extends CommandOptions {
  from: string;
  to?: string;
  name?: string;
  rename: string[];
  renames: boolean;
  fill: string[];
  migrations?: string;
  out?: string;
  dbSchema: string;
  importFrom: string;
  dryRun?: boolean;
  guard?: boolean;
  online?: boolean;
}

function pairs(values: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf("=");
    if (at <= 0 || at === value.length - 1)
      throw new BreakwaterError("BW_PLAN_INVALID", `${flag} ${value}: expected Old=New (e.g. ${flag === "--fill" ? `--fill User.role="'user'"` : "--rename Role.USER=EMPLOYEE"})`);
    out[value.slice(0, at).trim()] = value.slice(at + 1).trim();
  }
  return out;
}

/** A schema file, or every .prisma file under a schema folder (Prisma's multi-file schemas). */
async function readSchema(target: string, label: string): Promise<SchemaSet> {
  if (!(await stat(target)).isDirectory()) return { label, folder: false, files: [{ path: label, content: await readFile(target, "utf8") }] };
  const names = (await readdir(target, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && e.name.endsWith(".prisma"))
    .map((e) => path.relative(target, path.join(e.parentPath, e.name)))
    .filter((n) => !n.split(path.sep).includes("migrations"))
    .sort();
  if (names.length === 0) throw new BreakwaterError("BW_PLAN_INVALID", `No .prisma file in ${label}.`);
  return { label, folder: true, files: await Promise.all(names.map(async (n) => ({ path: n, content: await readFile(path.join(target, n), "utf8") }))) };
}

/** The old schema: a file or folder, or the --to file or folder at a git revision. */
async function readSource(from: string, to: string, target: SchemaSet): Promise<SchemaSet> {
  if (existsSync(from)) return readSchema(from, from);
  const git = async (args: string[], cwd: string) => (await run("git", args, { cwd, maxBuffer: 64 * 1024 * 1024 })).stdout;
  const label = `${to} at ${from}`;
  try {
    if (!target.folder) return { label, folder: false, files: [{ path: label, content: await git(["show", `${from}:./${path.basename(to)}`], path.dirname(path.resolve(to))) }] };
    const names = (await git(["ls-tree", "-r", "--name-only", from], path.resolve(to))).split("\n").filter((n) => n.endsWith(".prisma") && !n.split("/").includes("migrations"));
    if (names.length === 0) throw Object.assign(new Error(`no .prisma file under ${to} at ${from}`), { stderr: `no .prisma file under ${to} at ${from}` });
    return { label, folder: true, files: await Promise.all(names.map(async (n) => ({ path: n, content: await git(["show", `${from}:./${n}`], path.resolve(to)) }))) };
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message)
      .trim()
      .split("\n")[0];
    throw new BreakwaterError("BW_PLAN_INVALID", `--from ${from} is neither a file nor a git revision holding ${to}: ${stderr}`, {
      hint: "Give a file or folder (prisma/schema.old.prisma) or a git revision (HEAD~1, main, a tag).",
    });
  }
}

/** Questions asked on the terminal, through one readline interface; typed-ahead answers are queued, not lost. */
function terminalAsker(): { ask: (question: Question) => Promise<string | null>; close: () => void } {
  let rl: Interface | undefined;
  const queue: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let ended = false;
  const line = (text: string): Promise<string> => {
    if (!rl) {
      rl = createInterface({ input: process.stdin, output: process.stderr });
      rl.on("line", (l) => {
        const waiter = waiting.shift();
        if (waiter) waiter(l);
        else queue.push(l);
      });
      rl.on("close", () => {
        ended = true;
        for (const waiter of waiting.splice(0)) waiter(null);
      });
    }
    rl.setPrompt(text);
    rl.prompt();
    const queued = queue.shift();
    if (queued !== undefined) return Promise.resolve(queued.trim());
    if (ended) return Promise.resolve(""); // end of input: no answer
    return new Promise((resolve) => waiting.push((l) => resolve((l ?? "").trim())));
  };
  return {
    close: () => rl?.close(),
    ask: async (question) => {
      process.stderr.write(`\n${question.prompt}\n`);
      if (question.kind === "fill") return (await line("  SQL expression: ")) || null;
      question.options.forEach((o, i) => process.stderr.write(`  ${i + 1}) ${o}\n`));
      const none = question.kind === "enum-value" ? "" : "  (Enter: not a rename, it is removed)";
      const answer = await line(`  choose 1-${question.options.length}${none}: `);
      if (answer === "") return null;
      const n = Number(answer);
      return (
        Number.isInteger(n) && n >= 1 && n <= question.options.length ? question.options[n - 1]!
        : question.options.includes(answer) ? answer
        : null
      );
    },
  };
}

/** Which Prisma validated the schemas and wrote the SQL, and what may differ from the project's own. */
function engineLines(report: EngineReport): string[] {
  const by = (who: { prisma: string; source: string }, engine: string) =>
    `Prisma ${who.prisma} (${
      who.source === "breakwater" ? `breakwater's own ${engine}`
      : who.source === "project-migrate-diff" ? "the project's own prisma migrate diff, offline"
      : `the project's own ${engine}`
    })`;
  return [`Schemas validated by ${by(report.validator, "schema parser")}; SQL written by ${by(report.sql, "schema engine")}.`, ...report.notes.map((n) => `  note: ${n}`)];
}

export function registerPlan(program: Command): void {
  defineCommand<PlanOptions>(program, {
    name: "plan",
    description:
      "Diff two versions of schema.prisma with Prisma's own engine (offline), classify each change safe / breaking, and scaffold the three steps for breaking ones: intermediate migration, plan, final migration",
    options: [
      new Option("--from <git-ref|file>", "the old schema: a file, or a git revision of the --to file (HEAD, main, a tag)").makeOptionMandatory(),
      ["--to <file|folder>", "the new schema: a file, or a folder of .prisma files (default: prisma/schema.prisma, else prisma/schema/)"],
      ["--name <slug>", "name of the migration folders and the plan (default: from the changes)"],
      ["--rename <Old=New>", "confirm a rename: Enum.VALUE=NEW, Model.field=newField (repeatable)", []],
      ["--no-renames", "treat every rename candidate as a removal plus an addition"],
      ["--fill <Model.field=SQL>", "SQL value for NULL rows of a field that becomes required (repeatable)", []],
      ["--migrations <dir>", "Prisma migrations folder (default: migrations next to --to)"],
      ["--out <dir>", "where the plan and intermediate schema go (default: breakwater next to --to)"],
      ["--db-schema <name>", "PostgreSQL schema of tables without @@schema", "public"],
      ["--import-from <module>", "module the plan file imports from", "breakwater"],
      [
        "--online",
        "scaffold an online plan (online: true): its operations rename, fill and convert while the application writes, and deploy records the final migration as applied",
      ],
      ["--guard", "start the contract migration with a check that fails it (so `prisma migrate deploy` cannot run it) until the plan has completed"],
      ["--dry-run", "print the classification and Prisma's SQL; write nothing"],
    ],
    examples: [
      "npx breakwater plan --from HEAD                       # schema.prisma as committed → as edited",
      "npx breakwater plan --from main --rename Role.USER=EMPLOYEE",
      "npx breakwater plan --from old.prisma --rename User.name=fullName --name rename_name",
      `npx breakwater plan --from HEAD --fill User.role="'user'" --dry-run`,
      "npx breakwater plan --from HEAD --online --rename User.email=mail   # no maintenance mode",
    ],
    notes: `Breaking changes (enum value removed or renamed, field renamed, field made required, required
field added without a database default, field or model removed, a type Prisma changes with
SET DATA TYPE) become:
  prisma/migrations/<ts>_<name>_expand/migration.sql     old and new coexist (Prisma's SQL)
  prisma/breakwater/<ts>_<name>/plan.ts                   the transform in batches, with checks
  prisma/breakwater/<ts>_<name>/schema.intermediate.prisma
  prisma/migrations/<ts+1>_<name>_contract/migration.sql  the contract (Prisma's SQL) + breakwater.json
Safe changes alone become one ordinary migration folder. Rename candidates are never guessed:
confirm them with --rename, answer the prompt in a terminal, or pass --no-renames.
Then: breakwater deploy → deploy the app built from schema.intermediate.prisma → breakwater run <plan.ts>
→ breakwater deploy → deploy the app built from the new schema → breakwater maintenance off.
(deploy stops before the contract folder until the plan's run has completed.)
Type changes Prisma makes by dropping the column are refused (exit 19) with advice.

--online writes an online plan instead (renameEnumValue, renameColumn, setNotNull, changeColumnType,
renameTable; no maintenance mode) and:
  prisma/migrations/<ts>_<name>_expand/      what is safe first (new values, tables, optional columns)
  prisma/migrations/<ts+1>_<name>_contract/  Prisma's SQL for what the plan does: recorded as applied by
                                             breakwater deploy once the plan has completed, never run
  prisma/migrations/<ts+2>_<name>_drop/      removed fields, models and enums, if any
Renamed tables (a model renamed, or its @@map changed) and columns renamed by @map alone need --online.`,
    loadConfig: false,
    run: async ({ output }, options) => {
      // Default: prisma/schema.prisma, else a prisma/schema/ folder (multi-file schema).
      const toOption = options.to ?? (!existsSync("prisma/schema.prisma") && existsSync("prisma/schema") ? "prisma/schema" : "prisma/schema.prisma");
      const to = path.resolve(toOption);
      if (!existsSync(to))
        throw new BreakwaterError("BW_PLAN_INVALID", `No schema at ${toOption}.`, {
          hint: "Give --to <file or folder> (default prisma/schema.prisma, or the prisma/schema/ folder).",
        });
      const target = await readSchema(to, toOption);
      const source = await readSource(options.from, toOption, target);
      // Migrations live next to the schema file; for a folder, inside it when there, else next to it.
      const migrationsDefault = target.folder && existsSync(path.join(to, "migrations")) ? path.join(to, "migrations") : path.join(path.dirname(to), "migrations");
      const interactive = process.stdin.isTTY && process.stderr.isTTY && !options.json;
      const asker = interactive ? terminalAsker() : null;
      const engines = await selectEngines(path.dirname(to));
      const result = await scaffold({
        source,
        target,
        engines,
        decisions: { renames: pairs(options.rename, "--rename"), fills: pairs(options.fill, "--fill"), noRenames: !options.renames },
        online: options.online ?? false,
        ...(asker ? { ask: asker.ask } : {}),
      }).finally(() => asker?.close());
      const { analysis } = result;
      const name = slug(options.name ?? (analysis.changes.find((c) => c.breaking) ?? analysis.changes[0])?.subject.replace(/\./g, "_") ?? "schema_change");
      if (analysis.changes.length === 0) {
        output.result({ changes: [], files: [], engines: result.engines }, `No changes between ${source.label} and ${toOption}.\n${engineLines(result.engines).join("\n")}`);
        return;
      }
      const written =
        options.dryRun ? null : (
          await writeScaffold(result, {
            migrationsDir: path.resolve(options.migrations ?? migrationsDefault),
            planDir: path.resolve(options.out ?? path.join(path.dirname(to), "breakwater")),
            name,
            importFrom: options.importFrom,
            guard: options.guard ?? false,
            dbSchema: options.dbSchema,
            fromLabel: source.label,
          })
        );
      const json = {
        changes: analysis.changes,
        breaking: analysis.breaking,
        online: result.online !== null,
        sql: { single: result.single, intermediate: result.intermediate?.sql ?? null, final: result.final, drop: result.online?.drop ?? null },
        engines: result.engines,
        written,
      };
      const rel = (f: string) => path.relative(process.cwd(), f) || f;
      const lines = [`Changes from ${source.label} to ${toOption}:`];
      for (const c of analysis.changes) lines.push(`  ${c.breaking ? "breaking" : "safe    "}  ${c.subject.padEnd(24)} ${c.detail}`);
      lines.push("", ...engineLines(result.engines));
      if (options.dryRun) {
        if (result.single !== null) lines.push("", "-- migration (Prisma's SQL)", result.single.trimEnd());
        else if (result.online) {
          lines.push("", "-- intermediate migration (Prisma's SQL)", result.intermediate!.sql.trimEnd());
          lines.push("", "-- final migration (Prisma's SQL; the online plan makes these changes, deploy records it as applied)", result.final!.trimEnd());
          if (result.online.drop !== null) lines.push("", "-- drop migration (Prisma's SQL, run by deploy after the plan)", result.online.drop.trimEnd());
        } else lines.push("", "-- intermediate migration (Prisma's SQL)", result.intermediate!.sql.trimEnd(), "", "-- final migration (Prisma's SQL)", result.final!.trimEnd());
        lines.push("", "Dry run: nothing written.");
      } else if (written?.singleFolder) {
        lines.push("", `Only safe changes: wrote ${rel(path.join(written.singleFolder, "migration.sql"))}`, "Apply it with: npx breakwater deploy");
      } else if (written && result.online) {
        lines.push("", "Wrote:", ...written.files.map((f) => `  ${rel(f)}`), "", "Review and commit them, then, in this order (no maintenance mode at any point):");
        const steps: string[] = [];
        if (written.intermediateFolder) steps.push(`npx breakwater deploy                 # ${path.basename(written.intermediateFolder)}: what is safe first`);
        steps.push(`deploy the application built from ${rel(written.schemaFile!)} (prisma generate --schema on it): old and new names both work with it`);
        if (written.stopBeforeContract) {
          steps.push(`npx breakwater run ${rel(written.planFile!)} --stop-before contract   # adds the new column, copies, verifies; exit 21`);
          steps.push("deploy the application built from the new schema: it uses the new column, which now exists and is kept in step");
          steps.push("npx breakwater resume <run id>         # the contract: waits until nothing writes the old column");
          steps.push(
            `npx breakwater deploy                 # records ${path.basename(written.finalFolder!)} as applied${written.dropFolder ? `, runs ${path.basename(written.dropFolder)}` : ""}`,
          );
        } else {
          steps.push(`npx breakwater run ${rel(written.planFile!)}`);
          steps.push(
            `npx breakwater deploy                 # records ${path.basename(written.finalFolder!)} as applied${written.dropFolder ? `, runs ${path.basename(written.dropFolder)}` : ""}`,
          );
          steps.push("deploy the application built from the new schema");
        }
        steps.push("later: npx breakwater cleanup          # after 7 days (--older-than): drops what the run set aside; until then a rollback is a rename");
        steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s}`));
      } else if (written) {
        lines.push("", "Wrote:", ...written.files.map((f) => `  ${rel(f)}`), "", "Review and commit them, then, in this order:");
        lines.push(`  1. npx breakwater deploy                 # ${path.basename(written.intermediateFolder!)}: old and new coexist`);
        if (written.planFile) {
          // An application built before the new values exist cannot read them (Prisma: P2023
          // "Value '…' not found in enum"): the one serving during the run is built from the
          // intermediate schema, which has the old and the new.
          lines.push(`  2. deploy the application built from ${rel(written.schemaFile!)}`);
          lines.push("     (prisma generate --schema on it): it reads old and new values alike, so it keeps working while the run writes the new ones");
          lines.push(`  3. npx breakwater run ${rel(written.planFile)}   # transform + checks; maintenance stays on`);
          lines.push(`  4. npx breakwater deploy                 # ${path.basename(written.finalFolder!)}: the contract`);
          lines.push("  5. deploy the application built from the new schema, then: npx breakwater maintenance off");
        } else {
          lines.push(`  2. npx breakwater deploy                 # ${path.basename(written.finalFolder!)}: the contract`);
          lines.push("     (no data to move: ship the contract folder in a later release, once no running code uses what it drops)");
        }
      }
      if (written && written.review.length > 0) {
        // What the plan does not make safe: deploy refuses the errors until each is fixed, ignored with a reason, or --allow'ed.
        lines.push("", "Lint findings to review in what was written (deploy refuses errors until fixed, ignored with a reason in the file, or --allow'ed):");
        for (const finding of written.review) lines.push(`  ${describeFinding(finding)}`, `    fix: ${finding.fix}`);
      }
      output.result(json, lines.join("\n"));
    },
  });
}
