// Renders runner events: a live progress line on a TTY, plain lines otherwise (CI, pipes),
// JSON lines with --json. Secrets never reach these outputs: events carry no URLs.
import type { SourceLocation } from "../config/user-module.ts";
import { BreakwaterError, errorMessage, isBreakwaterError, isConnectionLoss, redactSecrets } from "@breakwater/runtime/internal";
import { renderMarkdown, type MigrationLog } from "../report/migration-log.ts";
import type { RunnerEvent } from "../runner/events.ts";
import { exitCodeFor } from "./exit-codes.ts";

export type OutputMode = "tty" | "plain" | "json";

export function outputMode(json: boolean | undefined, stream: NodeJS.WriteStream = process.stderr): OutputMode {
  if (json) return "json";
  return stream.isTTY && !process.env.CI ? "tty" : "plain";
}

const formatRate = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));
const formatEta = (s: number | null) => (s === null ? "?" : s < 60 ? `${Math.ceil(s)}s` : `${Math.floor(s / 60)}m${Math.ceil(s % 60)}s`);

export class EventRenderer {
  private readonly mode: OutputMode;
  private readonly out: NodeJS.WriteStream;
  private lastPlainProgress = 0;
  private progressShown = false;

  constructor(mode: OutputMode, out: NodeJS.WriteStream = process.stderr) {
    this.mode = mode;
    this.out = out;
  }

  private clearProgress(): void {
    if (this.progressShown) {
      this.out.write("\r\x1b[2K");
      this.progressShown = false;
    }
  }

  private line(text: string): void {
    this.clearProgress();
    this.out.write(`${text}\n`);
  }

  readonly handle = (event: RunnerEvent): void => {
    if (this.mode === "json") {
      process.stdout.write(`${JSON.stringify(event)}\n`);
      return;
    }
    switch (event.type) {
      case "run":
        this.line(`${event.resumed ? "Resuming" : "Running"} ${event.planId} — run ${event.runId}`);
        break;
      case "step-start":
        if (this.mode === "plain") this.line(`  … [${event.phase}] ${event.label}`);
        break;
      case "step-done": {
        const lock = event.lockHoldMs !== null && event.lockMode ? `, ${event.lockMode} held ${event.lockHoldMs.toFixed(1)} ms` : "";
        const rows = event.rows > 0 ? `, ${event.rows.toLocaleString("en-US")} rows` : "";
        this.line(`  ${event.skipped ? "↷" : "✔"} [${event.phase}] ${event.label} (${event.durationMs.toFixed(0)} ms${rows}${lock})`);
        break;
      }
      case "progress": {
        const pct = event.total > 0 ? Math.min(100, (100 * event.scanned) / event.total) : 100;
        const text = `    ${event.label}: ${event.scanned.toLocaleString("en-US")}/${event.total.toLocaleString("en-US")} rows (${pct.toFixed(0)}%), ${formatRate(event.rowsPerSecond)} rows/s, ETA ${formatEta(event.etaSeconds)}, batch ${event.batchSize} rows in ${event.lastBatchMs.toFixed(0)} ms`;
        if (this.mode === "tty") {
          const width = this.out.columns ?? 120;
          this.out.write(`\r\x1b[2K${text.slice(0, width - 1)}`);
          this.progressShown = true;
        } else if (Date.now() - this.lastPlainProgress >= 2000) {
          this.lastPlainProgress = Date.now();
          this.line(text);
        }
        break;
      }
      case "lock-retry":
        this.line(`  ⏳ lock busy for "${event.label}" (attempt ${event.info.attempt}); retrying in ${event.info.waitMs} ms — held by ${event.info.blockers.map((b) => `pid ${b.pid}${b.applicationName ? ` (${b.applicationName})` : ""}`).join(", ") || "another session"}`);
        break;
      case "check":
        this.line(`  ${event.result.ok ? "✔" : "✘"} check: ${event.result.name} — expected ${String(event.result.expected)}, got ${String(event.result.actual)}`);
        break;
      case "maintenance":
        this.line(`  ${event.enabled ? "🔧 maintenance mode on" : "🟢 maintenance mode off"} (${event.file})`);
        break;
      case "rollback-start":
        this.line(`  ↩ rolling back: ${event.reason}`);
        break;
      case "warning":
        this.line(`  ⚠ ${event.message}`);
        break;
    }
  };
}

export function printReport(log: MigrationLog, mode: OutputMode): void {
  if (mode === "json") process.stdout.write(`${JSON.stringify({ type: "report", report: log })}\n`);
  else process.stdout.write(`\n${renderMarkdown(log)}\n`);
}

/** The source line at an error's location, with a caret under its column (a URL's password hidden). */
function sourceExcerpt(location: SourceLocation): string {
  if (location.lineText === null) return "";
  const gutter = String(location.line);
  const line = redactSecrets(location.lineText);
  const prefix = location.column === null ? null : redactSecrets(location.lineText.slice(0, location.column - 1));
  const caret = prefix !== null && prefix.length <= 200 ? `    ${" ".repeat(gutter.length)} | ${prefix.replace(/[^\t]/g, " ")}^\n` : "";
  return `    ${gutter} | ${line.length > 200 ? `${line.slice(0, 200)}…` : line}\n${caret}`;
}

/** Prints an error (message + hint) and returns the exit code. */
export function reportError(error: unknown, mode: OutputMode): number {
  const bw = isBreakwaterError(error)
    ? error
    : isConnectionLoss(error)
      ? new BreakwaterError("BW_CONNECTION_FAILED", `Lost the database connection: ${errorMessage(error)}`, { hint: "Nothing committed is lost. Run the command again when the database is reachable (`breakwater status` shows where a run stands; `breakwater resume` continues it)." })
      : new BreakwaterError("BW_INTERNAL", errorMessage(error));
  const location = bw.details?.location as SourceLocation | undefined;
  if (mode === "json") {
    const where = location ? { location: { file: location.file, line: location.line, column: location.column } } : {};
    process.stdout.write(`${JSON.stringify({ type: "error", error: { code: bw.code, message: errorMessage(bw.message), hint: bw.hint ?? null, ...where } })}\n`);
  } else {
    process.stderr.write(`\nbreakwater: ${errorMessage(bw.message)} [${bw.code}]\n`);
    if (location) process.stderr.write(sourceExcerpt(location));
    if (bw.hint) process.stderr.write(`  hint: ${bw.hint}\n`);
    if (bw.code === "BW_INTERNAL" && error instanceof Error && process.env.BREAKWATER_DEBUG) process.stderr.write(`${error.stack}\n`);
  }
  return exitCodeFor(bw.code);
}
