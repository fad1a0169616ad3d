// `--format sarif`: SARIF 2.1.0 (OASIS), as GitHub code scanning and most CI dashboards read it.
import type { Finding, Rule } from "../types.ts";

const schema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/** A relative path as a URI reference: forward slashes, each segment percent-encoded. */
export function pathUri(file: string): string {
  return file.split(/[\\/]/).map(encodeURIComponent).join("/");
}

export function sarifReport(findings: Finding[], rules: Rule[], version: string): string {
  const index = new Map(rules.map((rule, i) => [rule.id, i]));
  const log = {
    $schema: schema,
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "breakwater",
            version,
            rules: rules.map((rule) => ({
              id: rule.id,
              shortDescription: { text: rule.why },
              help: { text: rule.fix },
              defaultConfiguration: { level: rule.defaultSeverity },
              properties: { lock: rule.lock, blocks: rule.blocks },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.rule,
          ...(index.has(f.rule) ? { ruleIndex: index.get(f.rule)! } : {}),
          level: f.severity,
          message: { text: `${f.message} Fix: ${f.fix}` },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: pathUri(f.file) },
                // SARIF's endColumn is the column after the last character.
                region: { startLine: f.line, startColumn: f.column, endLine: f.endLine, endColumn: f.endColumn + 1, snippet: { text: f.statement } },
              },
            },
          ],
        })),
      },
    ],
  };
  return JSON.stringify(log, null, 2);
}
