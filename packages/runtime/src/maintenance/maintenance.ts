// The per-process maintenance check: a store's cached watcher plus the policy, shared by every
// adapter. Problems reading the store are logged once (and once when they clear), not per request.
import { BreakwaterError } from "../errors.ts";
import { decide, type Decision, type MaintenancePolicy, type RequestFacts } from "./response.ts";
import { isActive, type MaintenanceStore, type MaintenanceWatcher } from "./state.ts";

export interface MaintenanceOptions extends MaintenancePolicy {
  store: MaintenanceStore;
  /** where the one-time messages go (default console.warn) */
  log?: (message: string) => void;
}

export interface MaintenanceCheck {
  /** resolves once the first state is known */
  ready: Promise<void>;
  /**
   * The per-request fast path: true when the request surely passes (maintenance off, the store
   * readable, and the URL not the bypass link), without building anything.
   */
  passes(url: string): boolean;
  check(request: RequestFacts): Decision;
  close(): Promise<void>;
}

/** Mistakes in the options fail when the app starts, not as an error on every request. */
function validateOptions(options: MaintenanceOptions): void {
  const secret: unknown = options.bypass?.secret;
  if (options.bypass && (typeof secret !== "string" || secret === "")) {
    // Says what the value is, never the value.
    const what = secret === undefined || secret === null ? String(secret) : secret === "" ? "an empty string" : `a ${typeof secret}, not a string`;
    throw new BreakwaterError("BW_CONFIG_INVALID", `The maintenance option bypass.secret is ${what}: the bypass link needs a secret.`, {
      hint: "Set the environment variable it is read from (e.g. BREAKWATER_MAINTENANCE_SECRET), or leave out the bypass option.",
    });
  }
  const failMode: unknown = options.failMode;
  if (failMode !== undefined && failMode !== "open" && failMode !== "closed") {
    throw new BreakwaterError("BW_CONFIG_INVALID", `The maintenance option failMode is ${JSON.stringify(failMode)}; it must be "open" or "closed".`, {
      hint: '"open" serves requests when the maintenance state cannot be read; "closed" answers them with 503.',
    });
  }
}

export function createMaintenanceCheck(options: MaintenanceOptions): MaintenanceCheck {
  validateOptions(options);
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
  const bypassPrefix = options.bypass ? `${options.bypass.path ?? "/__maintenance/bypass"}/` : null;
  return {
    ready,
    passes: (url) => {
      const observed = watcher.current();
      return observed.error === null && !isActive(observed.state) && (bypassPrefix === null || !url.includes(bypassPrefix));
    },
    check: (request) => decide(request, watcher.current(), options),
    close: () => watcher.close(),
  };
}
