// The one renderer of the command line. It draws the core's events (runs, backups, restores,
// deploys), a command's result and its errors in three modes: on a terminal, a live line for
// what is under way and a line with a symbol for what is done; off a terminal (CI, pipes, files),
// plain lines with words instead of symbols and no escape code (unless FORCE_COLOR); with --json,
// one JSON object per line on stdout. Progress goes to stderr, results to stdout. Secrets never
// reach these outputs: events carry no URL.
import type { SourceLocation } from "../config/user-module.ts";
import { BreakwaterError, errorMessage, isBreakwaterError, isConnectionLoss, redactSecrets } from "@breakwater/runtime/internal/errors";
import type { BackupEvent, BreakwaterEvent } from "../runner/events.ts";
import { exitCodeFor } from "./exit-codes.ts";
import { isTerminal, paletteFor, type OutputStream, type Paint, type Palette } from "./style.ts";

export type OutputMode = "tty" | "plain" | "json";

/** JSON with --json; else a live terminal when stderr (where progress goes) is one, plain lines otherwise. */
export function outputMode(json: boolean | undefined, stream: OutputStream = process.stderr): OutputMode {
  if (json) return "json";
  return isTerminal(stream) ? "tty" : "plain";
}

const formatRate = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));
const formatEta = (s: number | null) =>
  s === null ? "?"
  : s < 60 ? `${Math.ceil(s)}s`
  : `${Math.floor(s / 60)}m${Math.ceil(s % 60)}s`;
const formatDuration = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`);
const megabytes = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const formatBytes = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} kB` : megabytes(n));
const count = (n: number) => n.toLocaleString("en-US");

/** How a line starts: a symbol on a terminal, a word (or nothing) off one. */
const marks = {
  done: { tty: "✔", plain: "done" },
  skipped: { tty: "↷", plain: "skipped" },
  failed: { tty: "✘", plain: "FAILED" },
  warning: { tty: "⚠", plain: "warning:" },
  retry: { tty: "⟳", plain: "waiting:" },
  rollback: { tty: "↩", plain: "" },
  note: { tty: "ℹ", plain: "" },
  on: { tty: "●", plain: "" },
  off: { tty: "○", plain: "" },
} as const;

/** Plain progress lines come at most this often (a terminal's live line follows every event). */
const plainProgressEveryMs = 2000;

export class EventRenderer {
  readonly mode: OutputMode;
  /** colours for stdout, where results go */
  readonly palette: Palette;
  private readonly out: OutputStream;
  private readonly err: OutputStream;
  private readonly colors: Palette;
  /** visible length of the live line on stderr (0: none shown) */
  private liveLength = 0;
  private lastPlainProgress = 0;

  constructor(mode: OutputMode, streams: { out?: OutputStream; err?: OutputStream; env?: NodeJS.ProcessEnv } = {}) {
    this.mode = mode;
    this.out = streams.out ?? process.stdout;
    this.err = streams.err ?? process.stderr;
    this.palette = paletteFor(this.out, streams.env);
    this.colors = paletteFor(this.err, streams.env);
  }

  /** The symbol on a terminal, the word off one. */
  private mark(kind: keyof typeof marks, paint: Paint): string {
    const text = marks[kind][this.mode === "tty" ? "tty" : "plain"];
    return text ? `${paint(text)} ` : "";
  }

  /** The symbol on a terminal, nothing off one (where the words that follow say it). */
  private symbol(kind: keyof typeof marks, paint: Paint): string {
    return this.mode === "tty" ? `${paint(marks[kind].tty)} ` : "";
  }

  /** Replaces the live line (terminal only). Cleared with spaces, so it holds no escape code of its own. */
  private live(text: string): void {
    if (this.mode !== "tty") return;
    const width = Math.max(20, (this.err.columns || 100) - 1);
    const shown = text.length > width ? `${text.slice(0, width - 1)}…` : text;
    this.err.write(`\r${this.colors.dim(shown)}${" ".repeat(Math.max(0, this.liveLength - shown.length))}`);
    this.liveLength = shown.length;
  }

  private clearLive(): void {
    if (this.liveLength === 0) return;
    this.err.write(`\r${" ".repeat(this.liveLength)}\r`);
    this.liveLength = 0;
  }

  /** A line that stays, on stderr. */
  private line(text: string): void {
    this.clearLive();
    this.err.write(`${text}\n`);
  }

  /** Progress: the live line on a terminal, a plain line every few seconds otherwise. */
  private progress(text: string): void {
    if (this.mode === "tty") return this.live(text);
    if (Date.now() - this.lastPlainProgress < plainProgressEveryMs) return;
    this.lastPlainProgress = Date.now();
    this.line(text);
  }

  /** Work starting: the live line on a terminal, a line starting with … otherwise. */
  private started(text: string): void {
    if (this.mode === "tty") this.live(`  › ${text}`);
    else this.line(`  … ${text}`);
  }

  readonly handle = (event: BreakwaterEvent): void => {
    if (this.mode === "json") {
      this.out.write(`${JSON.stringify(event)}\n`);
      return;
    }
    const c = this.colors;
    switch (event.type) {
      case "run":
        this.line(c.bold(`${event.resumed ? "Resuming" : "Running"} ${event.planId} — run ${event.runId}`));
        break;
      case "step-start":
        this.started(`[${event.phase}] ${event.label}`);
        break;
      case "step-done": {
        const lock = event.lockHoldMs !== null && event.lockMode ? `, ${event.lockMode} held ${event.lockHoldMs.toFixed(1)} ms` : "";
        const rows = event.rows > 0 ? `, ${count(event.rows)} rows` : "";
        const mark = event.skipped ? this.mark("skipped", c.dim) : this.mark("done", c.green);
        this.line(`  ${mark}[${event.phase}] ${event.label} ${c.dim(`(${event.durationMs.toFixed(0)} ms${rows}${lock})`)}`);
        break;
      }
      case "progress": {
        const pct = event.total > 0 ? Math.min(100, (100 * event.scanned) / event.total) : 100;
        this.progress(
          `    ${event.label}: ${count(event.scanned)}/${count(event.total)} rows (${pct.toFixed(0)}%), ${formatRate(event.rowsPerSecond)} rows/s, ETA ${formatEta(event.etaSeconds)}, batch ${event.batchSize} rows in ${event.lastBatchMs.toFixed(0)} ms`,
        );
        break;
      }
      case "paused":
        if (event.reason === "flag-file")
          this.line(`  ${this.mark("warning", c.yellow)}"${event.label}" paused: flag file ${event.file} exists (between batches); removing it goes on`);
        else this.line(`  ${this.mark("warning", c.yellow)}paused "${event.label}" between batches (breakwater pause); \`breakwater continue ${event.runId}\` goes on`);
        break;
      case "continued":
        this.line(`  continued "${event.label}" after ${(event.pausedMs / 1000).toFixed(1)} s paused`);
        break;
      case "throttled": {
        const behind = event.lagBytes === null ? "" : ` (${formatBytes(event.lagBytes)} behind)`;
        const lag = `replica lag ${formatDuration(event.lagMs)} on standby ${event.standby}${behind}`;
        if (event.waitedMs === 0) {
          this.line(`  ${this.mark("retry", c.yellow)}throttled "${event.label}": ${lag}, over throttle.maxReplicaLagMs ${formatDuration(event.maxLagMs)}`);
        } else this.progress(`    ${event.label}: throttled: ${lag}, waiting ${formatDuration(event.waitedMs)}`);
        break;
      }
      case "unthrottled":
        this.line(`  continued "${event.label}" after ${(event.waitedMs / 1000).toFixed(1)} s throttled (replica lag)`);
        break;
      case "lock-retry": {
        const holders = event.info.blockers.map((b) => `pid ${b.pid}${b.applicationName ? ` (${b.applicationName})` : ""}`).join(", ") || "another session";
        this.line(`  ${this.mark("retry", c.yellow)}lock busy for "${event.label}" (attempt ${event.info.attempt}); retrying in ${event.info.waitMs} ms — held by ${holders}`);
        break;
      }
      case "check": {
        const { ok, name, expected, actual } = event.result;
        const mark =
          this.mode === "tty" ? `${ok ? c.green("✔") : c.red("✘")} check:`
          : ok ? "check passed:"
          : c.red("check FAILED:");
        this.line(`  ${mark} ${name} — expected ${String(expected)}, got ${String(actual)}`);
        break;
      }
      case "maintenance":
        this.line(
          `  ${event.enabled ? `${this.mark("on", c.yellow)}${c.yellow("maintenance mode on")}` : `${this.mark("off", c.green)}${c.green("maintenance mode off")}`} (${event.file})`,
        );
        break;
      case "rollback-start":
        this.line(`  ${this.mark("rollback", c.yellow)}${c.yellow("rolling back:")} ${event.reason}`);
        break;
      case "warning":
        this.line(`  ${this.mark("warning", c.yellow)}${event.message}`);
        break;
      case "backup-step":
      case "backup-step-done":
      case "backup-progress":
        this.backup(event);
        break;
      case "migration-start":
        if (this.mode === "tty") this.live(`  › applying ${event.name}`);
        else this.line(`  applying ${event.name}`);
        break;
      case "migration-done":
        this.line(`  ${this.symbol("done", c.green)}applied ${event.name} ${c.dim(`(${formatDuration(event.durationMs)})`)}`);
        break;
      case "migration-note":
        this.line(`  ${this.mark("note", c.cyan)}${event.name}: ${event.message}`);
        break;
      case "migration-waiting":
        // The result names the folder that waits and the plan it waits for.
        break;
      case "boot-note":
        this.line(`  ${event.message}`);
        break;
    }
  };

  private backup(event: BackupEvent): void {
    const c = this.colors;
    if (event.type === "backup-step") return this.started(event.message);
    if (event.type === "backup-step-done") {
      const mark = event.ok ? this.symbol("done", c.green) : this.mark("failed", c.red);
      return this.line(`  ${mark}${event.ok ? event.message : c.red(event.message)} ${c.dim(`(${formatDuration(event.durationMs)})`)}`);
    }
    const tables =
      event.tablesTotal !== null ? `${count(event.tablesDone ?? 0)}/${count(event.tablesTotal)} tables`
      : event.tablesDone ? `${count(event.tablesDone)} tables`
      : null;
    const parts = [event.bytes === null ? null : megabytes(event.bytes), tables, `${(event.elapsedMs / 1000).toFixed(1)} s`].filter((p) => p !== null);
    this.progress(`    ${event.phase === "dump" ? "pg_dump" : "pg_restore"}: ${parts.join(", ")}`);
  }

  /** An informative line on stderr (not with --json), e.g. where the migration log was written. */
  note(text: string): void {
    if (this.mode !== "json") this.line(text);
  }

  /** A command's result on stdout: `value` as one JSON line with --json, `text` otherwise. */
  result(value: unknown, text: string): void {
    this.clearLive();
    this.out.write(this.mode === "json" ? `${JSON.stringify(value)}\n` : `${text}\n`);
  }

  /** Prints an error (message + hint; a JSON line with --json) and returns the exit code. */
  error(error: unknown): number {
    this.clearLive();
    const bw =
      isBreakwaterError(error) ? error
      : isConnectionLoss(error) ?
        new BreakwaterError("BW_CONNECTION_FAILED", `Lost the database connection: ${errorMessage(error)}`, {
          hint: "Nothing committed is lost. Run the command again when the database is reachable (`breakwater status` shows where a run stands; `breakwater resume` continues it).",
        })
      : new BreakwaterError("BW_INTERNAL", errorMessage(error));
    const location = bw.details?.location as SourceLocation | undefined;
    if (this.mode === "json") {
      const where = location ? { location: { file: location.file, line: location.line, column: location.column } } : {};
      const details = publicDetails(bw.details);
      const line = JSON.stringify({ type: "error", error: { code: bw.code, message: errorMessage(bw.message), hint: bw.hint ?? null, ...where, ...(details ? { details } : {}) } });
      this.out.write(`${redactSecrets(line)}\n`);
    } else {
      const c = this.colors;
      this.err.write(`\n${c.red(c.bold("breakwater:"))} ${errorMessage(bw.message)} ${c.dim(`[${bw.code}]`)}\n`);
      if (location) this.err.write(sourceExcerpt(location));
      if (bw.hint) this.err.write(`  ${c.yellow("hint:")} ${bw.hint}\n`);
      if (bw.code === "BW_INTERNAL" && error instanceof Error && process.env.BREAKWATER_DEBUG) this.err.write(`${error.stack}\n`);
    }
    return exitCodeFor(bw.code);
  }

  /** Clears the live line once the command is over. */
  end(): void {
    this.clearLive();
  }
}

/**
 * An error's details as a script reads them (--json): a lint refusal's findings, a lock timeout's
 * blocking sessions, a SQLSTATE. Left out: the source location (printed as `location`) and the
 * blocking sessions' query text, which may hold another application's secrets.
 */
function publicDetails(details: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!details) return null;
  const { location: _location, blockers, ...rest } = details;
  const shown: Record<string, unknown> = { ...rest };
  if (Array.isArray(blockers)) shown.blockers = blockers.map(({ query: _query, ...blocker }: Record<string, unknown>) => blocker);
  return Object.keys(shown).length > 0 ? shown : null;
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
