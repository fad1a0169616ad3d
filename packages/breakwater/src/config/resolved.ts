// The config as commands use it (defaults filled in, paths absolute), and loading it. Apart from
// the validator (config.ts, zod): a command run without a config file starts without zod.
import path from "node:path";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import type { BackupSettings } from "../backup/backup.ts";
import { defaultLockPolicy, type LockPolicy } from "../db/locks.ts";
import type { ParsedConfig } from "./config.ts";
import { findConfigFile } from "./locate.ts";
import { importUserModule } from "./user-module.ts";

export interface BatchPolicy {
  size: number;
  maxMs: number;
  pauseMs: number;
}

export interface ResolvedConfig {
  databaseUrl: string | undefined;
  /** where databaseUrl comes from, as messages name it: "DATABASE_URL" or "databaseUrl in breakwater.config.ts" */
  databaseUrlSource: string;
  /** a connection past any transaction-mode pooler (directUrl, else DIRECT_URL); undefined when neither is set */
  directUrl: string | undefined;
  /** where directUrl comes from, as messages name it: "DIRECT_URL" or "directUrl in breakwater.config.ts" */
  directUrlSource: string;
  maintenanceFile: string;
  maintenance: { store: "file" | "postgres"; mode: "read-only" | "full"; fence: boolean; retryAfter: number | null };
  backup: BackupSettings & { beforeRun: "snapshot" | "full" | "both"; beforeDeploy: "never" | "destructive" | "always" };
  lock: LockPolicy;
  batch: BatchPolicy;
  /** at most this many transform batches per second; null: no limit */
  maxBatchRate: number | null;
  /** the transform waits while a standby replays more than this far behind */
  maxReplicaLagMs: number;
  /** absolute path of throttle.pauseFile: while it exists, batches hold (null: no flag file) */
  pauseFile: string | null;
  shadowThresholdRows: number;
  reconnectTimeoutMs: number;
  reportDir: string;
  /** lint.rules: rule id → off / warning / error */
  lintRules: Record<string, "off" | "warning" | "error">;
  /** lint.deploy: deploy and boot lint the pending files first (default true) */
  lintDeploy: boolean;
  configPath: string | null;
}

export const defaultBatchPolicy: BatchPolicy = { size: 50_000, maxMs: 200, pauseMs: 0 };

/** What the validator makes of an empty config: every section present, every setting unset. */
export const emptyConfig: ParsedConfig = { maintenance: {}, lock: {}, batch: {}, backup: {}, throttle: {}, reconnect: {}, lint: {} };

/** A validated config with its defaults filled in, paths resolved from `cwd`, URLs from `env` when unset. */
export function resolveParsed(c: ParsedConfig, cwd: string, configPath: string | null, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  return {
    databaseUrl: c.databaseUrl ?? env.DATABASE_URL,
    databaseUrlSource: c.databaseUrl === undefined ? "DATABASE_URL" : `databaseUrl in ${configPath ? path.basename(configPath) : "the config"}`,
    directUrl: c.directUrl ?? (env.DIRECT_URL || undefined),
    directUrlSource: c.directUrl === undefined ? "DIRECT_URL" : `directUrl in ${configPath ? path.basename(configPath) : "the config"}`,
    maintenanceFile: path.resolve(cwd, c.maintenance.file ?? "maintenance/enabled.lock"),
    maintenance: {
      store: c.maintenance.store ?? "file",
      mode: c.maintenance.mode ?? "read-only",
      fence: c.maintenance.fence ?? true,
      retryAfter: c.maintenance.retryAfter ?? null,
    },
    lock: {
      lockTimeoutMs: c.lock.timeoutMs ?? defaultLockPolicy.lockTimeoutMs,
      retries: c.lock.retries ?? defaultLockPolicy.retries,
      backoffMs: c.lock.backoffMs ?? defaultLockPolicy.backoffMs,
      maxBackoffMs: c.lock.maxBackoffMs ?? defaultLockPolicy.maxBackoffMs,
    },
    backup: {
      dir: path.resolve(cwd, c.backup.dir ?? "backups"),
      format: c.backup.format ?? "custom",
      jobs: c.backup.jobs ?? 2,
      pgDump: c.backup.pgDump,
      pgRestore: c.backup.pgRestore,
      commandPrefix: c.backup.commandPrefix,
      beforeRun: c.backup.beforeRun ?? "snapshot",
      beforeDeploy: c.backup.beforeDeploy ?? "never",
    },
    batch: { size: c.batch.size ?? defaultBatchPolicy.size, maxMs: c.batch.maxMs ?? defaultBatchPolicy.maxMs, pauseMs: c.batch.pauseMs ?? defaultBatchPolicy.pauseMs },
    maxBatchRate: c.throttle.maxBatchRate ?? null,
    maxReplicaLagMs: c.throttle.maxReplicaLagMs ?? 1000,
    pauseFile: c.throttle.pauseFile === undefined ? null : path.resolve(cwd, c.throttle.pauseFile),
    shadowThresholdRows: c.shadowThresholdRows ?? 10_000,
    reconnectTimeoutMs: c.reconnect.timeoutMs ?? 60_000,
    reportDir: path.resolve(cwd, c.reportDir ?? "breakwater-reports"),
    lintRules: c.lint.rules ?? {},
    lintDeploy: c.lint.deploy ?? true,
    configPath,
  };
}

/** Loads breakwater.config.* from `cwd` (or `explicitPath`); no file means defaults + DATABASE_URL. */
export async function loadConfig(options: { cwd?: string; explicitPath?: string } = {}): Promise<ResolvedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const file = findConfigFile(cwd, options.explicitPath);
  if (!file) return resolveParsed(emptyConfig, cwd, null);
  // The validator first: once tsx's loader is registered for the file, every later import goes through it.
  const { resolveConfig } = await import("./config.ts");
  const module = await importUserModule(file, {
    code: "BW_CONFIG_INVALID",
    what: path.relative(cwd, file) || file,
    hint: "Fix the syntax or imports of the config file; see the README section “Configuration”.",
    cwd,
  });
  return resolveConfig(module.default, cwd, file);
}

export function requireDatabaseUrl(config: ResolvedConfig): string {
  if (!config.databaseUrl) {
    throw new BreakwaterError("BW_CONFIG_INVALID", "No database to connect to: DATABASE_URL is not set.", {
      hint: "Set DATABASE_URL, or databaseUrl in breakwater.config.ts. To try breakwater without a database, run `npx breakwater demo`.",
    });
  }
  return checkDatabaseUrl(config.databaseUrl, config.databaseUrlSource);
}

/**
 * Refuses a URL that pg cannot parse or would read differently than written, without ever
 * repeating it (its password). `source` names where it comes from, e.g. "DATABASE_URL".
 */
export function checkDatabaseUrl(url: string, source: string): string {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new BreakwaterError("BW_CONFIG_INVALID", `${source} must be a postgres:// or postgresql:// URL.`);
  const problem = databaseUrlProblem(url);
  if (problem) {
    throw new BreakwaterError("BW_CONFIG_INVALID", `${source} is not a valid URL: ${problem}`, {
      hint: "The form is postgres:// then user:password@host:5432/database, the user name and password percent-encoded as encodeURIComponent does (# → %23, ? → %3F, / → %2F, % → %25).",
    });
  }
  return url;
}

function databaseUrlProblem(url: string): string | null {
  const rest = url.slice(url.indexOf("://") + 3);
  // As pg parses it: "user@/db" (no host: pg's default host) is valid too.
  const parsed = [url, url.replace("@/", "@___DUMMY___/")].some((candidate) => URL.canParse(candidate));
  // The host part ends at the first / ? or #. An @ after that one means it was written inside
  // the user name or password: pg would take what precedes it as the host and port, or fail.
  // (An @ in a password is read as pg reads it: the last @ ends the password.)
  const end = rest.search(/[/?#]/);
  const at = end < 0 ? -1 : rest.indexOf("@", end);
  if (at >= 0) {
    const delimiter = rest[end]!;
    // "?application_name=a@b" is a parameter, "host/db@x" a database name; a fragment means
    // nothing to pg, and a database name holds no "/".
    const inParameter = /\?[^#]*=/.test(rest.slice(end, at));
    if (delimiter === "#" || (!inParameter && (delimiter === "?" || !parsed || rest.includes("/", at)))) {
      const where = rest.slice(0, end).includes(":") ? "password" : "user name";
      return `a \`${delimiter}\` in the ${where} must be written ${encodeURIComponent(delimiter)} (percent-encode special characters in the user name and password).`;
    }
  }
  if (parsed) return null;
  const authority = end < 0 ? rest : rest.slice(0, end);
  const port = /:([^:\]]*)$/.exec(authority.slice(authority.lastIndexOf("@") + 1))?.[1];
  if (port !== undefined && !(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) return "the port must be a number from 1 to 65535.";
  return "expected postgres:// followed by user:password@host:5432/database (percent-encode special characters in the user name and password).";
}
