// The shared store for apps with several replicas: one row in breakwater.maintenance, changes
// announced with NOTIFY so every replica's LISTEN connection flips within milliseconds; a new
// replica reads the row at start; a periodic re-read covers a missed notification and notices a
// database that stopped answering. Every connect and query is bounded by `timeoutMs`, so a hung
// server turns into "cannot read" (the adapters' fail mode) instead of a request that never ends.
import { Database, describeUrl } from "../../database.ts";
import { BreakwaterError, sqlErrorInfo } from "../../errors.ts";
import { applyChange, maintenanceOff, stateFromJson, stateToJson, type MaintenanceChange, type MaintenanceState, type MaintenanceStore, type MaintenanceWatcher, type Observed } from "../state.ts";

export const MAINTENANCE_CHANNEL = "breakwater_maintenance";

export interface PostgresStoreOptions {
  /**
   * A URL that reaches PostgreSQL itself (DIRECT_URL where DATABASE_URL goes through a
   * transaction-mode pooler such as PgBouncer): LISTEN needs a session of its own; through such a
   * pooler notifications may never arrive, and changes are seen only at the pollMs re-read.
   */
  url: string;
  /** re-read interval for watchers, ms (default 1000) */
  pollMs?: number;
  /**
   * how long a connect or a query may go unanswered before the state counts as unreadable, ms
   * (default 3000): a replica started meanwhile decides by its fail mode within it, a running
   * one within pollMs + timeoutMs
   */
  timeoutMs?: number;
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
  try {
    const { rows } = await db.query<{ enabled: boolean; state: unknown }>("SELECT enabled, state FROM breakwater.maintenance WHERE id = 1");
    return rows[0] ? stateFromJson(rows[0].state, rows[0].enabled) : maintenanceOff;
  } catch (error) {
    // 42P01 undefined_table: maintenance was never turned on in this database.
    if (sqlErrorInfo(error).sqlstate === "42P01") return maintenanceOff;
    throw error;
  }
}

async function write(db: Database, enabled: boolean, state: MaintenanceState): Promise<boolean> {
  await db.query(ensureSql);
  return db.transaction(async (tx) => {
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
}

export function postgresStore(options: PostgresStoreOptions): MaintenanceStore {
  const pollMs = options.pollMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 3000;
  const reconnectMs = options.reconnectMs ?? 500;
  const where = describeUrl(options.url);
  const connect = (applicationName: string) => Database.connect(options.url, { applicationName, connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs });
  const noAnswer = () =>
    new BreakwaterError("BW_CONNECTION_FAILED", `PostgreSQL at ${where} did not answer within ${timeoutMs} ms`, {
      hint: "The server is up but not answering (overloaded, stuck, or a network that drops packets); timeoutMs in postgresStore() sets how long to wait.",
    });
  // pg reports its client-side query timeout as a plain Error with this message.
  const described = (error: unknown): Error => (error instanceof Error && error.message === "Query read timeout" ? noAnswer() : (error as Error));
  /** One connection per call, closed after, with every failure bounded and described. */
  const withConnection = async <T>(fn: (db: Database) => Promise<T>): Promise<T> => {
    const db = await connect("breakwater maintenance");
    try {
      return await fn(db);
    } catch (error) {
      throw described(error);
    } finally {
      await db.close();
    }
  };
  return {
    kind: "postgres",
    location: `breakwater.maintenance on ${where}`,
    read: () => withConnection(readRow),
    enable: (change: MaintenanceChange) => withConnection((db) => write(db, true, applyChange(change))),
    async disable() {
      await withConnection((db) => write(db, false, maintenanceOff));
    },
    watch(): MaintenanceWatcher {
      const unread = new Error("maintenance state not read yet");
      let observed: Observed = { state: null, error: unread };
      const listeners: ((o: Observed) => void)[] = [];
      let db: Database | undefined;
      let closed = false;
      let delay = reconnectMs;
      let reconnectTimer: NodeJS.Timeout | undefined;
      let reading = false;
      let readAgain = false;
      const set = (next: Observed) => {
        const changed = JSON.stringify(next.state) !== JSON.stringify(observed.state) || (next.error === null) !== (observed.error === null);
        observed = next;
        if (changed) for (const l of listeners) l(observed);
      };
      const fail = (error: unknown) => set({ state: null, error: described(error) });
      const scheduleReconnect = () => {
        if (closed || reconnectTimer) return;
        reconnectTimer = setTimeout(() => {
          reconnectTimer = undefined;
          void open();
        }, delay);
        reconnectTimer.unref();
        delay = Math.min(delay * 2, 5000);
      };
      /** Gives up the current connection (failed, or silent past the timeout) for a fresh one. */
      const drop = (connection: Database, error: unknown) => {
        if (connection !== db) return;
        db = undefined;
        // A timed-out query keeps the client busy; close() then destroys the socket.
        void connection.close();
        fail(error);
        scheduleReconnect();
      };
      // One query at a time on the connection (pg warns when a query is issued on a busy client):
      // a re-read asked for while one runs is done once it ends.
      const refresh = async (): Promise<void> => {
        if (reading) {
          readAgain = true;
          return;
        }
        reading = true;
        try {
          do {
            readAgain = false;
            const connection = db;
            if (!connection) return;
            try {
              set({ state: await readRow(connection), error: null });
            } catch (error) {
              drop(connection, error);
            }
          } while (readAgain);
        } finally {
          reading = false;
        }
      };
      const open = async (): Promise<void> => {
        let connection: Database | undefined;
        try {
          connection = await connect("breakwater maintenance watcher");
          if (closed) {
            await connection.close();
            return;
          }
          const listening = connection;
          listening.onLost((error) => drop(listening, error));
          await listening.listen(MAINTENANCE_CHANNEL, (payload) => {
            try {
              const value = JSON.parse(payload) as { enabled?: boolean };
              set({ state: stateFromJson(value, value.enabled === true), error: null });
            } catch {
              void refresh();
            }
          });
          if (closed) {
            await listening.close();
            return;
          }
          db = listening;
          delay = reconnectMs;
          await refresh();
        } catch (error) {
          void connection?.close();
          fail(error);
          scheduleReconnect();
        }
      };
      const poll = setInterval(() => {
        // A re-read still running is bounded by timeoutMs; the next tick comes after it.
        if (db && !reading) void refresh();
      }, pollMs);
      poll.unref();
      // A replica started while the database does not answer still decides (by its fail mode)
      // within timeoutMs; the connection attempt goes on behind.
      const ready = new Promise<void>((resolve) => {
        const deadline = setTimeout(() => {
          if (observed.error === unread) observed = { state: null, error: noAnswer() };
          resolve();
        }, timeoutMs);
        deadline.unref();
        void open().then(() => {
          clearTimeout(deadline);
          resolve();
        });
      });
      return {
        ready,
        current: () => observed,
        onChange: (listener) => void listeners.push(listener),
        close: async () => {
          closed = true;
          clearInterval(poll);
          if (reconnectTimer) clearTimeout(reconnectTimer);
          const connection = db;
          db = undefined;
          await connection?.close();
        },
      };
    },
  };
}
