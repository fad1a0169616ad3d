// Express / Connect adapter: `app.use(maintenanceExpress({ store }))` before the routes.
import { createMaintenanceCheck, type MaintenanceOptions } from "../maintenance.ts";

interface NodeRequest {
  method?: string;
  url?: string;
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
}
interface NodeResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

export type ExpressMaintenance = ((req: NodeRequest, res: NodeResponse, next: (error?: unknown) => void) => void) & { close(): Promise<void> };

function header(req: NodeRequest, name: string): string | null {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join("; ") : (value ?? null);
}

export function maintenanceExpress(options: MaintenanceOptions): ExpressMaintenance {
  const check = createMaintenanceCheck(options);
  let ready = false;
  void check.ready.then(() => (ready = true));
  const handle = (req: NodeRequest, res: NodeResponse, next: (error?: unknown) => void) => {
    const url = req.originalUrl ?? req.url ?? "/";
    if (check.passes(url)) return next();
    const decision = check.check({ method: req.method ?? "GET", path: url.split("?")[0]!, cookie: header(req, "cookie"), accept: header(req, "accept") });
    if (decision.kind === "pass") return next();
    res.statusCode = decision.status;
    for (const [k, v] of Object.entries(decision.headers)) res.setHeader(k, v);
    res.end(decision.body);
  };
  const middleware = (req: NodeRequest, res: NodeResponse, next: (error?: unknown) => void) => {
    if (ready) return handle(req, res, next);
    void check.ready.then(() => handle(req, res, next), next);
  };
  return Object.assign(middleware, { close: () => check.close() });
}
