// What every database command needs: the validated config, the database URL, the renderer,
// and writing the migration log next to the project.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { BreakwaterError, fileStore, postgresStore, type MaintenanceStore } from "@breakwater/runtime/internal";
import { checkDatabaseUrl, loadConfig, requireDatabaseUrl, type ResolvedConfig } from "../config/config.ts";
import { renderMarkdown, type MigrationLog } from "../report/migration-log.ts";
import { EventRenderer, outputMode, type OutputMode } from "./render.ts";

export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export interface CommandContext {
  config: ResolvedConfig;
  databaseUrl: string;
  mode: OutputMode;
  renderer: EventRenderer;
  /** the maintenance store the config names, handed to the runner */
  store: MaintenanceStore;
}

export async function commandContext(options: GlobalOptions): Promise<CommandContext> {
  const config = await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
  const mode = outputMode(options.json);
  const databaseUrl = requireDatabaseUrl(config);
  return { config, databaseUrl, mode, renderer: new EventRenderer(mode), store: maintenanceStoreFor(config, databaseUrl) };
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

/** Writes `<reportDir>/<runId>.md` and `.json`; returns the Markdown path. */
export async function writeReportFiles(reportDir: string, log: MigrationLog): Promise<string> {
  await mkdir(reportDir, { recursive: true });
  const base = path.join(reportDir, log.runId);
  await writeFile(`${base}.md`, renderMarkdown(log));
  await writeFile(`${base}.json`, `${JSON.stringify(log, null, 2)}\n`);
  return `${base}.md`;
}
