// `--trace` in the terminal: what the trace ran on, then one row per statement — predicted lock,
// traced lock, rewrite predicted and traced, agreement — and the mismatches with their explanation.
import type { Palette } from "../../cli/style.ts";
import type { TracedLock, TraceReport, TraceRow } from "../trace.ts";
import { lockRank } from "../nodes.ts";

const statementWidth = 60;

/** The statement on one line, cut to the table's width. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > statementWidth ? `${flat.slice(0, statementWidth - 1)}…` : flat;
}

const cell = (text: string) => text.replaceAll("|", "\\|");
const yesNo = (value: boolean | null) =>
  value === null ? "—"
  : value ? "yes"
  : "no";

function agreement(row: TraceRow, c: Palette): string {
  if (row.agreement === "agree") return c.green("agree");
  if (row.agreement === "explained") return c.yellow("explained");
  if (row.agreement === "mismatch") return c.red(c.bold("MISMATCH"));
  if (row.agreement === "failed") return c.red("failed");
  return c.dim("not traced");
}

export function traceTable(report: TraceReport, c: Palette): string {
  const where = report.on === "embedded" ? "an embedded PostgreSQL" : "a scratch database on the shadow server";
  const history = report.history.length === 0 ? "no history" : `after ${report.history.length} earlier migration${report.history.length === 1 ? "" : "s"}`;
  const seeded = report.seeded.filter((s) => s.rows > 0).length;
  const version = report.server.split(" ")[0];
  const lines = [c.bold(`Trace on PostgreSQL ${version} (${where}), ${history}; ${seeded} of ${report.seeded.length} tables seeded with a row.`)];
  for (const empty of report.seeded.filter((s) => s.rows === 0)) lines.push(`  ${empty.table} left empty: ${empty.error ?? "the insert failed"}`);
  lines.push("", "| Statement | Predicted lock | Traced lock | Rewrite predicted | Rewrite traced | Agreement |", "| --- | --- | --- | --- | --- | --- |");
  // One file: its name once above the table, each statement by its line.
  const files = new Set(report.rows.map((r) => r.file));
  if (files.size === 1) lines.splice(2, 0, `File: ${[...files][0]}`);
  for (const row of report.rows) {
    const place = files.size === 1 ? `${row.line}` : `${row.file}:${row.line}`;
    lines.push(
      `| ${cell(`${place} ${oneLine(row.statement)}`)} | ${row.predictedLock ?? "—"} | ${row.tracedLock ?? "—"} | ${yesNo(row.predictedRewrite)} | ${yesNo(row.tracedRewrite)} | ${agreement(row, c)} |`,
    );
  }
  const explained = report.rows.filter((r) => r.agreement === "explained");
  const mismatches = report.rows.filter((r) => r.agreement === "mismatch");
  const others = report.rows.filter((r) => r.agreement === "failed" || r.agreement === "not traced");
  const detail = (row: TraceRow) => {
    // The strongest lock on each table (a statement also takes the weaker ones on the way).
    const strongest = new Map<string, TracedLock>();
    for (const lock of row.locks.filter((l) => l.kind === "r" || l.kind === "p" || l.kind === "m")) {
      const held = strongest.get(lock.relation);
      if (!held || lockRank(lock.mode) > lockRank(held.mode)) strongest.set(lock.relation, lock);
    }
    const locks = [...strongest.values()].map((l) => `${l.relation} ${l.mode}${l.granted ? "" : " (waited for)"}${l.existing ? "" : " (new)"}`);
    const facts = [
      row.rules.length > 0 ? `findings: ${row.rules.join(", ")}` : "no finding",
      locks.length > 0 ? `tables locked: ${locks.join(", ")}` : "no table locked",
      ...(row.rewritten.length > 0 ? [`rewritten: ${row.rewritten.join(", ")}`] : []),
    ];
    const what =
      row.explanation ??
      `predicted ${row.predictedLock ?? "no lock"}, traced ${row.tracedLock ?? "no lock"}; rewrite predicted ${yesNo(row.predictedRewrite)}, traced ${yesNo(row.tracedRewrite)}`;
    return `  ${row.file}:${row.line} ${oneLine(row.statement)}\n    ${what}.\n    (${facts.join("; ")})`;
  };
  if (explained.length > 0) lines.push("", c.bold("Explained differences:"), ...explained.map(detail));
  if (others.length > 0) lines.push("", c.bold("Failed or not traced:"), ...others.map(detail));
  lines.push("", mismatches.length === 0 ? c.green("No unexplained mismatch.") : c.red(c.bold(`Unexplained mismatches (${mismatches.length}):`)), ...mismatches.map(detail));
  return lines.join("\n");
}
