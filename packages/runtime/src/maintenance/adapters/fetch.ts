// Fetch-style adapter: `(Request) => Response | undefined` for Hono, Bun, Deno and any
// WinterCG server. `undefined` means "not in maintenance for this request: go on".
import { createMaintenanceCheck, type MaintenanceOptions } from "../maintenance.ts";
import type { Decision } from "../response.ts";

export type FetchMaintenance = ((request: Request) => Promise<Response | undefined>) & { close(): Promise<void> };

export function toResponse(decision: Decision): Response | undefined {
  if (decision.kind === "pass") return undefined;
  return new Response(decision.body === "" ? null : decision.body, { status: decision.status, headers: decision.headers });
}

export function maintenanceFetch(options: MaintenanceOptions): FetchMaintenance {
  const check = createMaintenanceCheck(options);
  const handler = async (request: Request) => {
    await check.ready;
    if (check.passes(request.url)) return undefined;
    const url = new URL(request.url);
    return toResponse(check.check({ method: request.method, path: url.pathname, cookie: request.headers.get("cookie"), accept: request.headers.get("accept") }));
  };
  return Object.assign(handler, { close: () => check.close() });
}
