// Maintenance mode for the whole app: 503 while `breakwater maintenance on` (or a breakwater run)
// is active; in read-only mode only the form's POST is refused.
import { fileStore, maintenanceProxy, postgresStore } from "@breakwater/runtime/next";

const store =
  process.env.BREAKWATER_MAINTENANCE_STORE === "postgres" ?
    postgresStore({ url: process.env.DATABASE_URL! })
  : fileStore({ path: process.env.BREAKWATER_MAINTENANCE_FILE ?? "maintenance/enabled.lock" });

export const proxy = maintenanceProxy({
  store,
  bypass: process.env.BREAKWATER_MAINTENANCE_SECRET ? { secret: process.env.BREAKWATER_MAINTENANCE_SECRET } : undefined,
});

export const config = { matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"] };
