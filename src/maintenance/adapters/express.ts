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

export function maintenanceExpress(options: MaintenanceOptions): ExpressMaintenance {
  const check = createMaintenanceCheck(options);
  let ready = false;
  void check.ready.then(() => (ready = true));
  const middleware = (req: NodeRequest, res: NodeResponse, next: (error?: unknown) => void) => {
    const run = () => {
      const header = (name: string) => {
        const value = req.headers[name];
        return Array.isArray(value) ? value.join("; ") : (value ?? null);
      };
      const decision = check.check({ method: req.method ?? "GET", path: (req.originalUrl ?? req.url ?? "/").split("?")[0]!, cookie: header("cookie"), accept: header("accept") });
      if (decision.kind === "pass") return next();
      res.statusCode = decision.status;
      for (const [k, v] of Object.entries(decision.headers)) res.setHeader(k, v);
      res.end(decision.body);
    };
    if (ready) run();
    else void check.ready.then(run, next);
  };
  return Object.assign(middleware, { close: () => check.close() });
}
