// The seeds' maintenance signal: `maintenance/enabled.lock` exists → the app answers 503.
// Minimal here (on/off/read); the content is optional JSON so a plain `touch` keeps working.
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";

export interface MaintenanceInfo {
  reason?: string;
  since?: string;
  runId?: string;
}

export function isMaintenanceOn(file: string): boolean {
  return existsSync(file);
}

/** Turns maintenance on; returns false when it was already on (someone else owns it). */
export async function enableMaintenance(file: string, info: MaintenanceInfo): Promise<boolean> {
  if (existsSync(file)) return false;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ ...info, since: info.since ?? new Date().toISOString() })}\n`, { flag: "wx" }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  return true;
}

export async function disableMaintenance(file: string): Promise<void> {
  await rm(file, { force: true });
}

export async function readMaintenance(file: string): Promise<MaintenanceInfo | null> {
  if (!existsSync(file)) return null;
  const text = await readFile(file, "utf8").catch(() => "");
  try {
    return text.trim() ? (JSON.parse(text) as MaintenanceInfo) : {};
  } catch {
    return {};
  }
}
