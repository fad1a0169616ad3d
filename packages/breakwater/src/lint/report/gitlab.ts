// `--format gitlab`: GitLab code quality report (a JSON array; docs.gitlab.com "Code Quality").
// The fingerprint hashes the rule, the file and the statement's text (not its line), so a finding
// keeps its identity when lines move above it.
import { createHash } from "node:crypto";
import type { Finding } from "../types.ts";

export function gitlabReport(findings: Finding[]): string {
  const seen = new Map<string, number>();
  const issues = findings.map((f) => {
    const key = `${f.rule}\0${f.file}\0${f.statement.replace(/\s+/g, " ").trim()}`;
    const occurrence = seen.get(key) ?? 0;
    seen.set(key, occurrence + 1);
    return {
      description: `${f.message} Fix: ${f.fix}`,
      check_name: f.rule,
      fingerprint: createHash("sha256").update(`${key}\0${occurrence}`).digest("hex"),
      severity: f.severity === "error" ? "major" : "minor",
      location: { path: f.file, lines: { begin: f.line, end: f.endLine } },
    };
  });
  return JSON.stringify(issues, null, 2);
}
