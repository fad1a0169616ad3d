// What every database command needs: the validated config, the database URL, the renderer,
// and writing the migration log next to the project.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadConfig, requireDatabaseUrl, type ResolvedConfig } from "../config/config.ts";
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
}

export async function commandContext(options: GlobalOptions): Promise<CommandContext> {
  const config = await loadConfig(options.config === undefined ? {} : { explicitPath: options.config });
  const mode = outputMode(options.json);
  return { config, databaseUrl: requireDatabaseUrl(config), mode, renderer: new EventRenderer(mode) };
}

/** Writes `<reportDir>/<runId>.md` and `.json`; returns the Markdown path. */
export async function writeReportFiles(reportDir: string, log: MigrationLog): Promise<string> {
  await mkdir(reportDir, { recursive: true });
  const base = path.join(reportDir, log.runId);
  await writeFile(`${base}.md`, renderMarkdown(log));
  await writeFile(`${base}.json`, `${JSON.stringify(log, null, 2)}\n`);
  return `${base}.md`;
}
