// `--format json`: a stable schema, version 1 (documented in the README). Fields are only ever added.
import type { TraceReport, TraceRow } from "../trace.ts";
import type { Finding } from "../types.ts";
import { summarize } from "./text.ts";

export interface JsonReport {
  version: 1;
  /** how many files were linted */
  files: number;
  findings: Finding[];
  summary: { errors: number; warnings: number };
  /** `--trace` only: one row per statement, what PostgreSQL did beside what the findings predict */
  trace?: TraceRow[];
  /** `--trace` only: the server, the history applied before the files, the tables seeded */
  traceSetup?: Omit<TraceReport, "rows">;
}

export function jsonReport(findings: Finding[], files: number, trace?: TraceReport): string {
  const report: JsonReport = { version: 1, files, findings, summary: summarize(findings) };
  if (trace) {
    const { rows, ...setup } = trace;
    report.trace = rows;
    report.traceSetup = setup;
  }
  return JSON.stringify(report, null, 2);
}
