// Next.js adapter, `import { maintenanceProxy } from "breakwater/next"`:
// - Next 16: `export const proxy = maintenanceProxy({ store })` in proxy.ts (always Node.js);
// - Next 15.5+: `export const middleware = maintenanceProxy({ store })` in middleware.ts with
//   `export const config = { runtime: "nodejs" }`.
// Returning undefined lets the request through; a Response is sent as is (a real 503, not a
// rewrite, which would keep status 200).
import { maintenanceFetch, type FetchMaintenance } from "./fetch.ts";
import type { MaintenanceOptions } from "../maintenance.ts";

declare const EdgeRuntime: string | undefined;

export function maintenanceProxy(options: MaintenanceOptions): FetchMaintenance {
  if (typeof EdgeRuntime === "string") {
    throw new Error(
      'breakwater/next needs the Node.js runtime (it reads a file or listens to PostgreSQL). Use proxy.ts on Next 16, or add `export const config = { runtime: "nodejs" }` to middleware.ts on Next 15.5+.',
    );
  }
  return maintenanceFetch(options);
}

export { fileStore } from "../stores/file.ts";
export { postgresStore } from "../stores/postgres.ts";
