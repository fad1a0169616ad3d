// `--format json`: a stable schema, version 1 (documented in the README). Fields are only ever added.
import type { Finding } from "../types.ts";
import { summarize } from "./text.ts";

export interface JsonReport {
  version: 1;
  /** how many files were linted */
  files: number;
  findings: Finding[];
  summary: { errors: number; warnings: number };
}

export function jsonReport(findings: Finding[], files: number): string {
  const report: JsonReport = { version: 1, files, findings, summary: summarize(findings) };
  return JSON.stringify(report, null, 2);
}
