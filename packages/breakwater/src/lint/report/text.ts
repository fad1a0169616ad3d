// The terminal reporter: file:line:column, severity, rule, message, the statement's lines with a
// caret, the lock and what it blocks, why, and the fix. Colour only when the palette has it.
import type { Palette } from "../../cli/style.ts";
import type { Finding } from "../types.ts";

const maxFrameLines = 6;

/** The statement's lines, numbered, with a caret under its first character. */
function codeFrame(finding: Finding, c: Palette): string {
  const lines = finding.statement.split("\n");
  const shown = lines.slice(0, maxFrameLines);
  const width = String(finding.line + shown.length - 1).length;
  const out = shown.flatMap((text, i) => {
    const number = String(finding.line + i).padStart(width);
    const line = `${i === 0 ? c.red(">") : " "} ${c.dim(`${number} |`)} ${i === 0 ? " ".repeat(finding.column - 1) : ""}${text}`;
    return i === 0 ? [line, `  ${" ".repeat(width)} ${c.dim("|")} ${" ".repeat(finding.column - 1)}${c.red("^")}`] : [line];
  });
  if (lines.length > maxFrameLines) out.push(`  ${" ".repeat(width)} ${c.dim(`| … ${lines.length - maxFrameLines} more line(s)`)}`);
  return out.map((l) => `  ${l}`).join("\n");
}

function indent(text: string, by: string): string {
  return text.split("\n").join(`\n${by}`);
}

export function textReport(findings: Finding[], files: number, c: Palette): string {
  const blocks = findings.map((f) => {
    const level = f.severity === "error" ? c.red(c.bold("error")) : c.yellow(c.bold("warning"));
    const lines = [`${c.bold(`${f.file}:${f.line}:${f.column}`)} ${level} ${c.cyan(f.rule)}`, `  ${f.message}`, codeFrame(f, c)];
    if (f.lock) lines.push(`  ${c.dim("lock:")} ${f.lock}${f.blocks.length > 0 ? ` — blocks ${f.blocks.join(" and ")}` : ""}`);
    lines.push(`  ${c.dim("why:")}  ${f.why}`, `  ${c.green("fix:")}  ${indent(f.fix, "        ")}`);
    return lines.join("\n");
  });
  const { errors, warnings } = summarize(findings);
  const summary =
    findings.length === 0 ?
      c.green(`No findings in ${files} file${files === 1 ? "" : "s"}.`)
    : `${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"} in ${files} file${files === 1 ? "" : "s"}.`;
  return [...blocks, summary].join("\n\n");
}

export function summarize(findings: Finding[]): { errors: number; warnings: number } {
  return { errors: findings.filter((f) => f.severity === "error").length, warnings: findings.filter((f) => f.severity === "warning").length };
}
