// bench/lint.ts — `breakwater lint` beside squawk (squawk-cli, Rust) and pgfence (@flvmnt/pgfence,
// TypeScript) on one corpus, in the same run: Prisma migrations written by Prisma's own schema
// engine from random schema changes (fixed seed) and the hand-written PostgreSQL cases of
// bench/lint-corpus/postgres.sql, written to a temporary folder.
// Prints files/s of each tool as installed (its command, start-up included): one process over the
// whole corpus (median of --runs) and one process per file (a sample of --per-file files). Goal:
// breakwater ≥ 0.5× squawk. Then, per rule the tools share, the statements flagged by every tool
// that has the rule, by some only, and by breakwater only, with examples of each disagreement.
// All three assume PostgreSQL 15 (breakwater's default; squawk --pg-version, pgfence --min-pg-version).
// Usage: npm run bench:lint [-- --prisma 280 --seed 1 --runs 5 --per-file 30 --examples 3 --keep]
// Needs no database.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { readLintFile } from "../packages/breakwater/src/lint/source.ts";
import type { LintFile } from "../packages/breakwater/src/lint/types.ts";
import { writeCorpus } from "./lint-corpus/generate.ts";

const { values } = parseArgs({
  options: {
    prisma: { type: "string", default: "280" },
    seed: { type: "string", default: "1" },
    runs: { type: "string", default: "5" },
    "per-file": { type: "string", default: "30" },
    examples: { type: "string", default: "3" },
    keep: { type: "boolean", default: false },
  },
});
const log = (text: string) => process.stderr.write(`${text}\n`);
const root = path.join(import.meta.dirname, "..");
const examples = Number(values.examples);

type ToolName = "breakwater" | "squawk" | "pgfence";
const toolNames: ToolName[] = ["breakwater", "squawk", "pgfence"];

/** One finding, placed on a statement of the file (its index), or on the whole file (null). */
interface Hit {
  rule: string;
  file: string;
  statement: number | null;
}

interface Tool {
  name: ToolName;
  /** the command as installed, and its arguments for these files */
  command: (files: string[]) => [string, string[]];
  /** the findings in its JSON output */
  parse: (stdout: string, statements: Map<string, LintFile>) => Hit[];
}

const nodeBin = (name: string) => path.join(root, "node_modules", ".bin", name);

/** Statement text compared across tools: comments and the final semicolon left out, blanks collapsed. */
const normalize = (sql: string) =>
  sql
    .replace(/--[^\n]*/g, " ")
    .replace(/\s+/g, " ")
    .replace(/;\s*$/, "")
    .trim();

/** The statement at a 1-based line and column: the last one starting at or before it. */
function statementAt(file: LintFile | undefined, line: number, column: number): number | null {
  if (!file || file.statements.length === 0) return null;
  let found = 0;
  for (const s of file.statements) if (s.line < line || (s.line === line && s.column <= column)) found = s.index;
  return found;
}

const tools: Tool[] = [
  {
    name: "breakwater",
    command: (files) => [process.execPath, [path.join(root, "packages", "breakwater", "bin", "breakwater.js"), "lint", "--format", "json", "--no-catalog", ...files]],
    parse: (stdout, statements) =>
      (JSON.parse(stdout) as { findings: { rule: string; file: string; line: number; column: number }[] }).findings.map((f) => ({
        rule: f.rule,
        file: f.file,
        statement: f.rule === "missing-lock-timeout" || f.rule === "parse-error" ? null : statementAt(statements.get(f.file), f.line, f.column),
      })),
  },
  {
    name: "squawk",
    command: (files) => [nodeBin("squawk"), ["--reporter", "json", "--pg-version", "15", ...files]],
    // 0-based line and column; constraint-missing-not-valid covers FOREIGN KEY, CHECK and the rest (a PRIMARY KEY).
    parse: (stdout, statements) =>
      (JSON.parse(stdout) as { file: string; line: number; column: number; rule_name: string }[]).map((f) => {
        const file = statements.get(f.file);
        const statement = statementAt(file, f.line + 1, f.column + 1);
        let rule = f.rule_name;
        if (rule === "constraint-missing-not-valid" && file && statement !== null) {
          const text = file.statements[statement]!.text;
          rule +=
            /\bFOREIGN\s+KEY\b|\bREFERENCES\b/i.test(text) ? ":fk"
            : /\bCHECK\s*\(/i.test(text) ? ":check"
            : ":other";
        }
        return { rule, file: f.file, statement };
      }),
  },
  {
    name: "pgfence",
    command: (files) => [nodeBin("pgfence"), ["analyze", "--output", "json", "--min-pg-version", "15", ...files]],
    // pgfence names a statement by its text only: placed on the file's first statement of that text.
    parse: (stdout, statements) =>
      (JSON.parse(stdout) as { results: { filePath: string; checks: { ruleId: string; statement: string }[]; policyViolations: { ruleId: string }[] }[] }).results.flatMap((r) => {
        const file = statements.get(r.filePath);
        const place = (text: string) => file?.statements.find((s) => normalize(s.text) === normalize(text))?.index ?? null;
        return [
          ...r.checks.map((c) => ({ rule: c.ruleId, file: r.filePath, statement: place(c.statement) })),
          ...r.policyViolations.map((p) => ({ rule: p.ruleId, file: r.filePath, statement: null })),
        ];
      }),
  },
];

/**
 * The rules the tools share, as one check each. `file`: compared per file (a setting missing from
 * the file), else per statement. A tool without such a rule has no entry.
 */
const sharedRules: { check: string; file?: boolean; rules: Partial<Record<ToolName, string[]>> }[] = [
  { check: "index without CONCURRENTLY", rules: { breakwater: ["index-not-concurrent"], squawk: ["require-concurrent-index-creation"], pgfence: ["create-index-not-concurrent"] } },
  {
    check: "DROP INDEX without CONCURRENTLY",
    rules: { breakwater: ["drop-index-not-concurrent"], squawk: ["require-concurrent-index-deletion"], pgfence: ["drop-index-not-concurrent"] },
  },
  {
    check: "CONCURRENTLY in a transaction",
    rules: {
      breakwater: ["concurrently-in-transaction", "concurrently-in-prisma-file"],
      squawk: ["ban-concurrent-index-creation-in-transaction"],
      pgfence: ["concurrent-in-transaction"],
    },
  },
  {
    check: "foreign key without NOT VALID",
    rules: { breakwater: ["foreign-key-not-valid"], squawk: ["adding-foreign-key-constraint", "constraint-missing-not-valid:fk"], pgfence: ["add-constraint-fk-no-not-valid"] },
  },
  { check: "CHECK without NOT VALID", rules: { breakwater: ["check-not-valid"], squawk: ["constraint-missing-not-valid:check"], pgfence: ["add-constraint-check-no-not-valid"] } },
  { check: "SET NOT NULL", rules: { breakwater: ["set-not-null"], squawk: ["adding-not-nullable-field"], pgfence: ["alter-column-set-not-null"] } },
  { check: "ADD COLUMN NOT NULL without default", rules: { breakwater: ["add-column-not-null"], squawk: ["adding-required-field"], pgfence: ["add-column-not-null-no-default"] } },
  {
    check: "ADD COLUMN that rewrites (volatile default, serial, identity, stored)",
    rules: {
      breakwater: ["add-column-volatile-default", "add-column-rewrite"],
      squawk: ["adding-field-with-default"],
      pgfence: ["add-column-non-constant-default", "add-column-serial", "add-column-stored-generated", "add-column-default-pre-pg11"],
    },
  },
  // Prisma's enum swap (ALTER COLUMN … TYPE "X_new" USING …) is breakwater's prisma-enum-swap, on the same statement.
  { check: "column type change", rules: { breakwater: ["alter-column-type", "prisma-enum-swap"], squawk: ["changing-column-type"], pgfence: ["alter-column-type"] } },
  {
    check: "UNIQUE / PRIMARY KEY without an index first",
    rules: {
      breakwater: ["unique-without-index"],
      squawk: ["disallowed-unique-constraint", "adding-serial-primary-key-field"],
      pgfence: ["add-constraint-unique", "add-pk-without-using-index"],
    },
  },
  { check: "DROP COLUMN", rules: { breakwater: ["drop-column"], squawk: ["ban-drop-column"], pgfence: ["drop-column"] } },
  { check: "DROP TABLE", rules: { breakwater: ["drop-table"], squawk: ["ban-drop-table"], pgfence: ["drop-table"] } },
  { check: "RENAME COLUMN", rules: { breakwater: ["rename-column"], squawk: ["renaming-column"], pgfence: ["rename-column"] } },
  { check: "RENAME TABLE", rules: { breakwater: ["rename-table"], squawk: ["renaming-table"], pgfence: ["rename-table"] } },
  { check: "TRUNCATE", rules: { breakwater: ["truncate"], squawk: ["ban-truncate-cascade"], pgfence: ["truncate", "truncate-cascade"] } },
  { check: "json instead of jsonb", rules: { breakwater: ["prefer-jsonb"], pgfence: ["add-column-json"] } },
  { check: "VACUUM FULL", rules: { breakwater: ["vacuum-full"], pgfence: ["vacuum-full"] } },
  { check: "UPDATE / DELETE without WHERE", rules: { breakwater: ["unbatched-update"], pgfence: ["update-in-migration", "delete-without-where"] } },
  {
    check: "missing lock_timeout (per file)",
    file: true,
    rules: { breakwater: ["missing-lock-timeout"], squawk: ["require-timeout-settings", "require-lock-timeout"], pgfence: ["missing-lock-timeout"] },
  },
];

function run(command: string, args: string[], cwd: string): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: "1", DATABASE_URL: "" } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ ms: performance.now() - start, code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
  });
}

const work = await mkdtemp(path.join(tmpdir(), "breakwater-bench-lint-"));
try {
  log(`Writing the corpus to ${work} (Prisma's engine, seed ${values.seed})…`);
  const corpus = await writeCorpus(work, { count: Number(values.prisma), seed: Number(values.seed) });
  const files = corpus.files;
  const statements = new Map<string, LintFile>();
  for (const file of files) statements.set(file, await readLintFile(file, await readFile(path.join(work, file), "utf8"), file.startsWith("prisma/migrations/") ? "prisma" : "sql"));
  const statementCount = [...statements.values()].reduce((n, f) => n + f.statements.length, 0);
  console.log(
    `Corpus: ${files.length} files (${corpus.prisma} written by Prisma's schema engine, ${corpus.postgres} hand-written PostgreSQL cases), ${statementCount} statements; ${corpus.redrawn} draws redrawn (no SQL, or refused by Prisma).`,
  );
  console.log(
    `  Prisma changes drawn: ${Object.entries(corpus.drawn)
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ${n}`)
      .join(", ")}`,
  );

  // First a run of each to read its findings; then the timed runs, the tools interleaved in rotated
  // order (the machine's other work falls on all of them alike): over the whole corpus, the median
  // of --runs; one process per file, the total over a sample of --per-file files.
  const hits = new Map<ToolName, Hit[]>();
  const failures = new Map<ToolName, string>();
  for (const tool of tools) {
    const [command, args] = tool.command(files);
    if (!existsSync(command)) {
      failures.set(tool.name, `not installed (${path.relative(root, command)}; npm ci installs it)`);
      continue;
    }
    const first = await run(command, args, work);
    try {
      hits.set(tool.name, tool.parse(first.stdout, statements));
    } catch (error) {
      failures.set(tool.name, `exited ${first.code} without JSON findings (${(error as Error).message}): ${first.stderr.slice(0, 500)}`);
    }
  }
  for (const [tool, why] of failures) log(`${tool}: ${why}; left out.`);
  const runnable = tools.filter((t) => hits.has(t.name));
  const runs = Number(values.runs);
  const step = Math.max(1, Math.floor(files.length / Math.max(1, Number(values["per-file"]))));
  const sample = Number(values["per-file"]) > 0 ? files.filter((_, i) => i % step === 0).slice(0, Number(values["per-file"])) : [];
  const rotated = (i: number) => runnable.map((_, j) => runnable[(i + j) % runnable.length]!);
  const wholeMs = new Map<ToolName, number[]>(runnable.map((t) => [t.name, []]));
  log(`Timing ${runs} runs over the corpus, then ${sample.length} files one process each (${runnable.map((t) => t.name).join(", ")} interleaved)…`);
  for (let i = 0; i < runs; i++)
    for (const tool of rotated(i)) {
      const [command, args] = tool.command(files);
      wholeMs.get(tool.name)!.push((await run(command, args, work)).ms);
    }
  const perFileMs = new Map<ToolName, number>(runnable.map((t) => [t.name, 0]));
  for (const [i, file] of sample.entries())
    for (const tool of rotated(i)) {
      const [command, args] = tool.command([file]);
      perFileMs.set(tool.name, perFileMs.get(tool.name)! + (await run(command, args, work)).ms);
    }
  const median = (times: number[]) => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  const speed = tools.map((tool) => {
    const times = wholeMs.get(tool.name);
    return {
      tool: tool.name,
      whole: times ? files.length / (median(times) / 1000) : null,
      perFile: times && sample.length > 0 ? sample.length / (perFileMs.get(tool.name)! / 1000) : null,
      note: failures.get(tool.name) ?? "",
    };
  });

  const squawk = speed.find((s) => s.tool === "squawk");
  console.log(`\nFiles per second, start-up included (${files.length} files; per file: ${sample.length} files, one process each):`);
  console.log(`  ${"tool".padEnd(12)} ${"one process".padStart(12)} ${"× squawk".padStart(9)} ${"per file".padStart(9)} ${"× squawk".padStart(9)}`);
  const ratio = (a: number | null, b: number | null | undefined) => (a !== null && b ? `${(a / b).toFixed(2)}` : "—");
  for (const s of speed) {
    if (s.whole === null) {
      console.log(`  ${s.tool.padEnd(12)} ${s.note}`);
      continue;
    }
    const goal =
      s.tool === "breakwater" && squawk?.whole ?
        s.whole >= 0.5 * squawk.whole ?
          "  goal ≥ 0.5× squawk: met"
        : "  goal ≥ 0.5× squawk: MISSED"
      : "";
    console.log(
      `  ${s.tool.padEnd(12)} ${s.whole.toFixed(0).padStart(12)} ${ratio(s.whole, squawk?.whole).padStart(9)} ${(s.perFile?.toFixed(1) ?? "—").padStart(9)} ${ratio(s.perFile, squawk?.perFile).padStart(9)}${goal}`,
    );
  }

  // Agreement: per shared rule, the statements (or files) each tool flags.
  const present = toolNames.filter((t) => hits.has(t));
  const key = (h: Hit, file: boolean) => (file ? h.file : `${h.file}#${h.statement}`);
  const describe = (k: string) => {
    const [file, index] = k.split("#");
    const s = index === undefined || index === "null" ? undefined : statements.get(file!)?.statements[Number(index)];
    return s ? `${file}:${s.line}  ${s.text.split("\n")[0]!.slice(0, 110)}` : `${file}`;
  };
  console.log(`\nAgreement per shared rule (statements; files for lock_timeout). "—": the tool has no such rule.`);
  const header = ["check", "breakwater", "squawk", "pgfence", "all", "only others", "only breakwater"];
  const rows: string[][] = [];
  const disagreements: string[] = [];
  for (const shared of sharedRules) {
    const flagged = new Map<ToolName, Set<string>>();
    for (const tool of present) {
      const rules = shared.rules[tool];
      if (rules)
        flagged.set(
          tool,
          new Set(
            hits
              .get(tool)!
              .filter((h) => rules.includes(h.rule) && (shared.file || h.statement !== null))
              .map((h) => key(h, !!shared.file)),
          ),
        );
    }
    const having = [...flagged.keys()];
    const all = new Set([...flagged.values()].flatMap((s) => [...s]));
    const byAll = [...all].filter((k) => having.every((t) => flagged.get(t)!.has(k)));
    const bw = flagged.get("breakwater") ?? new Set<string>();
    const onlyOthers = [...all].filter((k) => !bw.has(k));
    const onlyBreakwater = [...bw].filter((k) => having.some((t) => t !== "breakwater" && !flagged.get(t)!.has(k)));
    rows.push([
      shared.check,
      ...toolNames.map((t) => (flagged.has(t) ? String(flagged.get(t)!.size) : "—")),
      String(byAll.length),
      String(onlyOthers.length),
      String(onlyBreakwater.length),
    ]);
    const list = (title: string, keys: string[], by: (k: string) => string) => {
      if (keys.length === 0) return;
      disagreements.push(`  ${shared.check} — ${title} (${keys.length}):`);
      for (const k of keys.slice(0, examples)) disagreements.push(`    [${by(k)}] ${describe(k)}`);
    };
    const who = (k: string) => having.filter((t) => flagged.get(t)!.has(k)).join("+");
    list("not flagged by breakwater", onlyOthers, who);
    list("flagged by breakwater, not by every other tool with the rule", onlyBreakwater, who);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")}`;
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log(`\nDisagreements (up to ${examples} examples each; [who flagged it]):`);
  console.log(disagreements.length > 0 ? disagreements.join("\n") : "  none");

  const mapped = new Set(sharedRules.flatMap((s) => Object.values(s.rules).flat()));
  console.log(`\nRules outside the shared table (findings):`);
  for (const tool of present) {
    const counts = new Map<string, number>();
    for (const h of hits.get(tool)!) if (!mapped.has(h.rule)) counts.set(h.rule, (counts.get(h.rule) ?? 0) + 1);
    console.log(
      `  ${tool}: ${
        [...counts]
          .sort((a, b) => b[1] - a[1])
          .map(([rule, n]) => `${rule} ${n}`)
          .join(", ") || "none"
      }`,
    );
  }
} finally {
  if (values.keep) log(`Corpus kept in ${work}`);
  else await rm(work, { recursive: true, force: true });
}
