// A plan's `sql` steps as the linter reads them. The runner runs each step's SQL in one
// transaction of its own with lock_timeout set (runner "plan"), so each step is a file of its
// own. A step whose SQL stands verbatim in the plan file (a template literal without ${…}, a
// string without escapes) is placed there: findings point at the plan's own lines. Otherwise the
// step is named `plan.ts (steps.N "label")` and lines count from its SQL.
import { readFileSync } from "node:fs";
import type { LoadedPlan } from "../plan/plan.ts";
import { readLintFile } from "./source.ts";
import type { Ignore, LintFile } from "./types.ts";

/** 1-based line and column of a character offset. */
function placeOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lastBreak = before.lastIndexOf("\n");
  return { line: before.split("\n").length, column: offset - lastBreak };
}

/** Moves a file read from `sql` to where `sql` starts in the plan's source (`at`: its first character's place). */
function placedIn(file: LintFile, source: string, at: { line: number; column: number }): LintFile {
  const move = <T extends { line: number; column: number }>(p: T): T => ({ ...p, line: p.line + at.line - 1, column: p.line === 1 ? p.column + at.column - 1 : p.column });
  const moveIgnore = (i: Ignore) => move(i);
  return {
    ...file,
    text: source,
    statements: file.statements.map((s) => {
      const start = move({ line: s.line, column: s.column });
      const end = move({ line: s.endLine, column: s.endColumn });
      return { ...s, ...start, endLine: end.line, endColumn: end.column, ignores: s.ignores.map(moveIgnore) };
    }),
    fileIgnores: file.fileIgnores.map(moveIgnore),
    parseError: file.parseError && move(file.parseError),
  };
}

/** The plan's sql steps, each a file; `display` is the plan's path as the user gave it. */
export async function planSqlFiles(loaded: LoadedPlan, display: string): Promise<LintFile[]> {
  const source = readFileSync(loaded.path, "utf8");
  const files: LintFile[] = [];
  let searchFrom = 0;
  for (const [index, step] of loaded.plan.steps.entries()) {
    if (step.op !== "sql") continue;
    const sql = String(step.input.up);
    const offset = source.indexOf(sql, searchFrom);
    if (offset >= 0) {
      searchFrom = offset + sql.length;
      files.push(placedIn(await readLintFile(display, sql, "plan"), source, placeOf(source, offset)));
    } else {
      const label = typeof step.input.label === "string" ? ` "${step.input.label}"` : "";
      files.push(await readLintFile(`${display} (steps.${index}${label})`, sql, "plan"));
    }
  }
  return files;
}
