// The file store: `maintenance/enabled.lock` exists → maintenance on. Its content (JSON:
// reason, since, retryAfter, mode, until) is optional, so `touch`/`rm` from a shell keep working.
// Requests read a cached flag refreshed by fs.watch, with a short stat poll as a fallback
// (fs.watch is unreliable on network volumes).
import { readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { applyChange, maintenanceOff, stateFromJson, stateToJson, type MaintenanceChange, type MaintenanceState, type MaintenanceStore, type MaintenanceWatcher, type Observed } from "../state.ts";

export interface FileStoreOptions {
  /** default: maintenance/enabled.lock in the working directory */
  path?: string;
  /** stat fallback interval for watchers, ms (default 500) */
  pollMs?: number;
}

function parse(text: string): MaintenanceState {
  if (text.trim() === "") return stateFromJson({}, true);
  try {
    return stateFromJson(JSON.parse(text), true);
  } catch {
    return stateFromJson({}, true);
  }
}

function readSync(file: string): MaintenanceState {
  try {
    return parse(readFileSync(file, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return maintenanceOff;
    throw error;
  }
}

function signature(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.mtimeMs}:${s.size}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "absent";
    return `error:${(error as NodeJS.ErrnoException).code}`;
  }
}

export function fileStore(options: FileStoreOptions = {}): MaintenanceStore {
  const file = path.resolve(options.path ?? path.join("maintenance", "enabled.lock"));
  const pollMs = options.pollMs ?? 500;
  return {
    kind: "file",
    location: file,
    async read() {
      try {
        return parse(await readFile(file, "utf8"));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return maintenanceOff;
        throw error;
      }
    },
    async enable(change: MaintenanceChange) {
      const wasOn = signature(file) !== "absent";
      await mkdir(path.dirname(file), { recursive: true });
      // Write then rename, so a reader never sees half a file.
      const temporary = `${file}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(stateToJson(applyChange(change)))}\n`);
      await rename(temporary, file);
      return !wasOn;
    },
    async disable() {
      await rm(file, { force: true });
    },
    watch(): MaintenanceWatcher {
      let observed: Observed;
      const read = (): Observed => {
        try {
          return { state: readSync(file), error: null };
        } catch (error) {
          return { state: null, error: error as Error };
        }
      };
      observed = read();
      let last = signature(file);
      const listeners: ((o: Observed) => void)[] = [];
      const refresh = () => {
        const now = signature(file);
        if (now === last) return;
        last = now;
        observed = read();
        for (const l of listeners) l(observed);
      };
      let watcher: FSWatcher | undefined;
      const watchDirectory = () => {
        try {
          watcher = watch(path.dirname(file), { persistent: false }, () => refresh());
          watcher.on("error", () => {
            watcher?.close();
            watcher = undefined;
          });
        } catch {
          watcher = undefined; // the folder may not exist yet: the poll covers it
        }
      };
      watchDirectory();
      const timer = setInterval(() => {
        if (!watcher) watchDirectory();
        refresh();
      }, pollMs);
      timer.unref();
      return {
        ready: Promise.resolve(),
        current: () => observed,
        onChange: (listener) => void listeners.push(listener),
        close: async () => {
          clearInterval(timer);
          watcher?.close();
        },
      };
    },
  };
}
