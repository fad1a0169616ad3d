// What every command starts from, built here and nowhere else: the validated config
// (breakwater.config.ts, or --config), the database URL, the output (one renderer: terminal,
// plain or JSON) and the maintenance store handed to the core.
import { BreakwaterError, fileStore, postgresStore, type MaintenanceStore } from "@breakwater/runtime/internal";
import { checkDatabaseUrl, emptyConfig, loadConfig, requireDatabaseUrl, resolveParsed, type ResolvedConfig } from "../config/resolved.ts";
import { chooseSessionUrl } from "../db/pooler.ts";
import type { EventRenderer } from "./render.ts";

/** The options every command reads: --config and --json, global ones. */
export interface CommandOptions {
  config?: string;
  json?: boolean;
}

export interface CommandContext {
  config: ResolvedConfig;
  /** events, results and errors, drawn in the command's output mode */
  output: EventRenderer;
  /** DATABASE_URL (or databaseUrl in the config), checked; BW_CONFIG_INVALID when there is none */
  databaseUrl(): string;
  /**
   * The URL for work that needs a session of its own (runner lock, Prisma's lock, LISTEN):
   * DATABASE_URL, or DIRECT_URL when DATABASE_URL goes through a transaction pooler (said on
   * stderr); BW_TRANSACTION_POOLER when neither reaches PostgreSQL itself. Probes on every call.
   */
  sessionUrl(): Promise<string>;
  /** the maintenance store the config names; `url` when it must use another session than DATABASE_URL's */
  maintenanceStore(url?: string): MaintenanceStore;
}

/** The maintenance store the config names (file by default, or the database itself). */
export function maintenanceStoreFor(config: ResolvedConfig, databaseUrl: string | undefined): MaintenanceStore {
  if (config.maintenance.store === "postgres") {
    if (!databaseUrl) throw new BreakwaterError("BW_CONFIG_INVALID", "maintenance.store is postgres but there is no DATABASE_URL.");
    checkDatabaseUrl(databaseUrl, config.databaseUrlSource);
    return postgresStore({ url: databaseUrl });
  }
  return fileStore({ path: config.maintenanceFile });
}

/** A context around a config; `loadConfig: false` for commands that read none (plan, demo): the defaults then. */
export async function commandContext(options: CommandOptions, output: EventRenderer, needs: { loadConfig?: boolean } = {}): Promise<CommandContext> {
  const config =
    needs.loadConfig === false ? resolveParsed(emptyConfig, process.cwd(), null) : await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
  return contextFor(config, output);
}

/** A context around a config built in the command (the demo's, whose own cluster needs no pooler check). */
export function contextFor(config: ResolvedConfig, output: EventRenderer, databaseUrl?: string): CommandContext {
  return {
    config,
    output,
    databaseUrl: () => databaseUrl ?? requireDatabaseUrl(config),
    sessionUrl: async () => {
      if (databaseUrl !== undefined) return databaseUrl;
      const chosen = await chooseSessionUrl(config);
      if (chosen.notice) output.note(chosen.notice);
      return chosen.url;
    },
    maintenanceStore: (url) => maintenanceStoreFor(config, url ?? databaseUrl ?? config.databaseUrl),
  };
}
