// Finding and running the real pg_dump / pg_restore: on PATH, in the usual install folders, or
// configured; optionally through a command prefix (`docker exec -i <container>`) for a database in a container.
// Credentials go through the environment (PGPASSWORD …), never the command line, so they appear
// in no process listing.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";

export interface ToolConfig {
  /** explicit paths (default: found on PATH or in the PostgreSQL install folders) */
  pgDump?: string | undefined;
  pgRestore?: string | undefined;
  /** e.g. ["docker", "exec", "-i", "postgres-production"]: the tools then run by name inside it */
  commandPrefix?: string[] | undefined;
}

export interface Tool {
  name: "pg_dump" | "pg_restore";
  /** argv before the tool's own arguments (prefix + binary) */
  argv: string[];
  major: number;
  version: string;
}

const installFolders = () => {
  const roots = ["/usr/lib/postgresql", "/usr/pgsql", "/opt/homebrew/opt", "/usr/local/opt"];
  const found: string[] = [];
  for (const root of roots) {
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root)) {
      const bin = path.join(root, entry, "bin");
      if (existsSync(bin)) found.push(bin);
    }
  }
  // Highest version first: /usr/lib/postgresql/17/bin before …/15/bin.
  return found.sort((a, b) => Number(/(\d+)/.exec(b)?.[1] ?? 0) - Number(/(\d+)/.exec(a)?.[1] ?? 0));
};

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

function versionOf(argv: string[]): { major: number; version: string } | null {
  const result = spawnSync(argv[0]!, [...argv.slice(1), "--version"], { encoding: "utf8", timeout: 30_000 });
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(result.stdout ?? "");
  return match ? { major: Number(match[1]), version: `${match[1]}${match[2] ? `.${match[2]}` : ""}` } : null;
}

/**
 * Locates a tool whose major version is at least the server's. Without a prefix: the configured
 * path, then the install folders (newest first), then PATH.
 */
export function findTool(name: "pg_dump" | "pg_restore", config: ToolConfig, serverMajor: number): Tool {
  const configured = name === "pg_dump" ? config.pgDump : config.pgRestore;
  const candidates: string[][] = [];
  if (config.commandPrefix && config.commandPrefix.length > 0) candidates.push([...config.commandPrefix, configured ?? name]);
  else if (configured) {
    if (!existsSync(configured)) {
      throw new BreakwaterError("BW_BACKUP_TOOL", `${name} was not found at ${configured} (backup.${name === "pg_dump" ? "pgDump" : "pgRestore"} in the config).`, {
        hint: `Point it at the PostgreSQL ${serverMajor} (or newer) ${name}, or remove the setting to search PATH and the usual folders.`,
      });
    }
    candidates.push([configured]);
  } else {
    for (const dir of installFolders()) if (existsSync(path.join(dir, name))) candidates.push([path.join(dir, name)]);
    const inPath = onPath(name);
    if (inPath) candidates.push([inPath]);
  }
  if (candidates.length === 0) {
    throw new BreakwaterError("BW_BACKUP_TOOL", `${name} was not found (looked on PATH and in ${installFolders().join(", ") || "the usual PostgreSQL folders"}).`, {
      hint: `Install the PostgreSQL ${serverMajor} client tools (Debian: apt-get install postgresql-client-${serverMajor}), or set backup.${name === "pg_dump" ? "pgDump" : "pgRestore"} or backup.commandPrefix in breakwater.config.ts.`,
    });
  }
  let newest: { argv: string[]; major: number; version: string } | null = null;
  for (const argv of candidates) {
    const version = versionOf(argv);
    if (!version) continue;
    if (version.major >= serverMajor) return { name, argv, ...version };
    if (!newest || version.major > newest.major) newest = { argv, ...version };
  }
  if (!newest) {
    throw new BreakwaterError("BW_BACKUP_TOOL", `${candidates.map((c) => c.join(" ")).join(", ")} did not answer --version like ${name}.`, {
      hint: `Check the path of ${name}, or the command prefix.`,
    });
  }
  throw new BreakwaterError(
    "BW_BACKUP_TOOL",
    `${name} ${newest.version} (${newest.argv.join(" ")}) is older than the server (PostgreSQL ${serverMajor}); it cannot dump or restore it safely.`,
    {
      hint: `Install the PostgreSQL ${serverMajor} client tools or newer, or point backup.${name === "pg_dump" ? "pgDump" : "pgRestore"} at them.`,
    },
  );
}

/** The database a URL names (libpq's default: postgres). */
export function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, "")) || "postgres";
}

/** libpq environment for a URL: the tools read credentials from here, not from argv. */
export function libpqEnvironment(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: decodeURIComponent(u.hostname) || "localhost",
    PGPORT: u.port || "5432",
    PGDATABASE: databaseOf(url),
  };
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslmode = u.searchParams.get("sslmode");
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

/**
 * A `--dbname` value for a tool: a libpq connection string holding the database and startup
 * options, never credentials (those stay in the environment). It reaches the tool unchanged
 * through a command prefix, where extra environment variables would not.
 */
export function toolConnectionString(database: string, options: string): string {
  const value = (text: string) => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  return `dbname=${value(database)} options=${value(options)}`;
}

export interface ToolRun {
  code: number;
  stderr: string;
}

/** Called with each line the tool writes to stderr (its --verbose output); true when the line is progress, not kept as error text. */
export type StderrLine = (line: string) => boolean;

/** A tool's stderr, line by line: progress lines go to `onLine`, the rest (the last 100 kB) is kept for the error message. */
export function stderrCollector(onLine?: StderrLine): { push: (chunk: Buffer) => void; end: () => string } {
  let kept = "";
  let partial = "";
  const keep = (line: string) => {
    if (onLine?.(line)) return;
    kept += `${line}\n`;
    if (kept.length > 100_000) kept = kept.slice(-100_000);
  };
  return {
    push: (chunk) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      lines.forEach(keep);
    },
    end: () => {
      if (partial) keep(partial);
      partial = "";
      return kept;
    },
  };
}

/** Runs a tool; stdout goes to `onStdout` when given (streamed), stderr is collected (see stderrCollector). */
export function runTool(
  tool: Tool,
  args: string[],
  url: string,
  options: { onStdout?: (chunk: Buffer) => void; onStderrLine?: StderrLine; database?: string } = {},
): Promise<ToolRun> {
  const env = libpqEnvironment(url);
  if (options.database) env.PGDATABASE = options.database;
  return new Promise((resolve, reject) => {
    const child = spawn(tool.argv[0]!, [...tool.argv.slice(1), ...args], { env, stdio: ["ignore", options.onStdout ? "pipe" : "ignore", "pipe"] });
    const stderr = stderrCollector(options.onStderrLine);
    child.stderr!.on("data", stderr.push);
    if (options.onStdout) child.stdout!.on("data", options.onStdout);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stderr: stderr.end() }));
  });
}
