// `--format github`: GitHub Actions workflow commands, one annotation per finding
// (docs.github.com/actions: "Setting an error message"), 1-based lines and columns.
import type { Finding } from "../types.ts";

/** The message part: % CR LF escaped, as GitHub's toolkit escapeData does. */
export function escapeData(text: string): string {
  return text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

/** A property value: also : and , escaped (toolkit escapeProperty). */
export function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(":", "%3A").replaceAll(",", "%2C");
}

export function githubReport(findings: Finding[]): string {
  return findings
    .map((f) => {
      const properties = [`file=${escapeProperty(f.file)}`, `line=${f.line}`, `col=${f.column}`, `endLine=${f.endLine}`, `title=${escapeProperty(`breakwater ${f.rule}`)}`];
      // endColumn only applies to an annotation on one line.
      if (f.endLine === f.line) properties.splice(4, 0, `endColumn=${f.endColumn}`);
      return `::${f.severity} ${properties.join(",")}::${escapeData(`${f.message}\nFix: ${f.fix}`)}`;
    })
    .join("\n");
}
