// The per-process maintenance check: a store's cached watcher plus the policy, shared by every
// adapter. Problems reading the store are logged once (and once when they clear), not per request.
import { decide, type Decision, type MaintenancePolicy, type RequestFacts } from "./response.ts";
import type { MaintenanceStore, MaintenanceWatcher } from "./state.ts";

export interface MaintenanceOptions extends MaintenancePolicy {
  store: MaintenanceStore;
  /** where the one-time messages go (default console.warn) */
  log?: (message: string) => void;
}

export interface MaintenanceCheck {
  /** resolves once the first state is known */
  ready: Promise<void>;
  check(request: RequestFacts): Decision;
  close(): Promise<void>;
}

export function createMaintenanceCheck(options: MaintenanceOptions): MaintenanceCheck {
  const log = options.log ?? ((m: string) => console.warn(m));
  const watcher: MaintenanceWatcher = options.store.watch();
  let failing = false;
  const report = () => {
    const observed = watcher.current();
    if (observed.error && !failing) {
      failing = true;
      log(`breakwater: cannot read maintenance state from ${options.store.location} (${observed.error.message}); failing ${options.failMode ?? "open"}: ${(options.failMode ?? "open") === "open" ? "requests are served" : "requests get 503"} until it can be read again.`);
    } else if (!observed.error && failing) {
      failing = false;
      log(`breakwater: maintenance state readable again from ${options.store.location}.`);
    }
  };
  watcher.onChange(report);
  const ready = watcher.ready.then(report);
  return {
    ready,
    check: (request) => decide(request, watcher.current(), options),
    close: () => watcher.close(),
  };
}
