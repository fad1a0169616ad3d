// The shared store for apps with several replicas: one row in breakwater.maintenance, changes
// announced with NOTIFY so every replica's LISTEN connection flips within milliseconds; a new
// replica reads the row at start; a periodic re-read covers a missed notification.
import { Database, describeUrl } from "../../db/database.ts";
import { applyChange, maintenanceOff, stateFromJson, stateToJson, type MaintenanceChange, type MaintenanceState, type MaintenanceStore, type MaintenanceWatcher, type Observed } from "../state.ts";

export const MAINTENANCE_CHANNEL = "breakwater_maintenance";

export interface PostgresStoreOptions {
  url: string;
  /** re-read interval for watchers, ms (default 5000) */
  pollMs?: number;
  /** first reconnect delay after the connection is lost, ms (default 500, doubling up to 5000) */
  reconnectMs?: number;
}

const ensureSql = `
  CREATE SCHEMA IF NOT EXISTS breakwater;
  CREATE TABLE IF NOT EXISTS breakwater.maintenance (
    id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    enabled boolean NOT NULL,
    state jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
  );`;

async function readRow(db: Database): Promise<MaintenanceState> {
  const exists = await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.maintenance') IS NOT NULL AS ok");
  if (!exists.ok) return maintenanceOff;
  const { rows } = await db.query<{ enabled: boolean; state: unknown }>("SELECT enabled, state FROM breakwater.maintenance WHERE id = 1");
  return rows[0] ? stateFromJson(rows[0].state, rows[0].enabled) : maintenanceOff;
}

async function write(url: string, enabled: boolean, state: MaintenanceState): Promise<boolean> {
  const db = await Database.connect(url, { applicationName: "breakwater maintenance" });
  try {
    await db.query(ensureSql);
    return await db.transaction(async (tx) => {
      const before = await tx.query<{ enabled: boolean }>("SELECT enabled FROM breakwater.maintenance WHERE id = 1 FOR UPDATE");
      const json = stateToJson(state);
      await tx.query(
        `INSERT INTO breakwater.maintenance (id, enabled, state, updated_at) VALUES (1, $1, $2, clock_timestamp())
         ON CONFLICT (id) DO UPDATE SET enabled = EXCLUDED.enabled, state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`,
        [enabled, JSON.stringify(json)],
      );
      // Delivered at COMMIT, to every session listening.
      await tx.query("SELECT pg_notify($1, $2)", [MAINTENANCE_CHANNEL, JSON.stringify({ enabled, ...json })]);
      return !(before.rows[0]?.enabled ?? false);
    });
  } finally {
    await db.close();
  }
}

export function postgresStore(options: PostgresStoreOptions): MaintenanceStore {
  const pollMs = options.pollMs ?? 5000;
  const reconnectMs = options.reconnectMs ?? 500;
  return {
    kind: "postgres",
    location: `breakwater.maintenance on ${describeUrl(options.url)}`,
    async read() {
      const db = await Database.connect(options.url, { applicationName: "breakwater maintenance" });
      try {
        return await readRow(db);
      } finally {
        await db.close();
      }
    },
    enable: (change: MaintenanceChange) => write(options.url, true, applyChange(change)),
    async disable() {
      await write(options.url, false, maintenanceOff);
    },
    watch(): MaintenanceWatcher {
      let observed: Observed = { state: null, error: new Error("maintenance state not read yet") };
      const listeners: ((o: Observed) => void)[] = [];
      let db: Database | undefined;
      let closed = false;
      let delay = reconnectMs;
      let reconnectTimer: NodeJS.Timeout | undefined;
      const set = (next: Observed) => {
        const changed = JSON.stringify(next.state) !== JSON.stringify(observed.state) || (next.error === null) !== (observed.error === null);
        observed = next;
        if (changed) for (const l of listeners) l(observed);
      };
      const connect = async (): Promise<void> => {
        try {
          const connection = await Database.connect(options.url, { applicationName: "breakwater maintenance watcher" });
          if (closed) {
            await connection.close();
            return;
          }
          connection.onLost((error) => {
            db = undefined;
            set({ state: null, error });
            scheduleReconnect();
          });
          await connection.listen(MAINTENANCE_CHANNEL, (payload) => {
            try {
              const value = JSON.parse(payload) as { enabled?: boolean };
              set({ state: stateFromJson(value, value.enabled === true), error: null });
            } catch {
              void refresh();
            }
          });
          db = connection;
          delay = reconnectMs;
          set({ state: await readRow(connection), error: null });
        } catch (error) {
          set({ state: null, error: error as Error });
          scheduleReconnect();
        }
      };
      const scheduleReconnect = () => {
        if (closed || reconnectTimer) return;
        reconnectTimer = setTimeout(() => {
          reconnectTimer = undefined;
          void connect();
        }, delay);
        reconnectTimer.unref();
        delay = Math.min(delay * 2, 5000);
      };
      const refresh = async () => {
        if (!db) return;
        try {
          set({ state: await readRow(db), error: null });
        } catch (error) {
          set({ state: null, error: error as Error });
        }
      };
      const poll = setInterval(() => void refresh(), pollMs);
      poll.unref();
      const ready = connect();
      return {
        ready,
        current: () => observed,
        onChange: (listener) => void listeners.push(listener),
        close: async () => {
          closed = true;
          clearInterval(poll);
          if (reconnectTimer) clearTimeout(reconnectTimer);
          await db?.close();
        },
      };
    },
  };
}
