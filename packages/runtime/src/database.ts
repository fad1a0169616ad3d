// The small database interface the rest of breakwater talks to: query, transaction, advisory
// locks, cancel. It is the only module that imports `pg`.
import pg from "pg";
import { BreakwaterError, sqlErrorInfo } from "./errors.ts";

// Return int8 and numeric as JS numbers when safe (row counts), as strings otherwise.
pg.types.setTypeParser(20, (value: string) => {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value;
});

export type Row = Record<string, unknown>;

export interface QueryResult<T extends object = Row> {
  rows: T[];
  rowCount: number;
}

/** A PostgreSQL error as breakwater needs it: SQLSTATE and text. */
export class Database {
  private readonly client: pg.Client;
  private closed = false;
  readonly backendPid: number;

  private constructor(client: pg.Client, backendPid: number) {
    this.client = client;
    this.backendPid = backendPid;
  }

  /**
   * `connectTimeoutMs` bounds the connection and its start-up; `queryTimeoutMs` bounds every query
   * on the client's side, so a server that stops answering cannot hang the caller (a timed-out
   * query leaves the connection busy: close it).
   */
  static async connect(url: string, options: { applicationName?: string; connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): Promise<Database> {
    const client = new pg.Client({
      connectionString: url,
      application_name: options.applicationName ?? "breakwater",
      connectionTimeoutMillis: options.connectTimeoutMs,
      query_timeout: options.queryTimeoutMs,
    });
    // An idle connection that drops (server restart, network) must not crash the process.
    client.on("error", () => undefined);
    let result: pg.QueryResult<{ pid: number }>;
    try {
      await client.connect();
      result = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    } catch (error) {
      await client.end().catch(() => undefined);
      throw new BreakwaterError("BW_CONNECTION_FAILED", `Cannot connect to PostgreSQL at ${describeUrl(url)}: ${sqlErrorInfo(error).message}`, {
        hint: "Check DATABASE_URL (or databaseUrl in breakwater.config.ts) and that the server is running.",
      });
    }
    return new Database(client, result.rows[0]!.pid);
  }

  async query<T extends object = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    const result = await this.client.query(sql, params as unknown[]);
    return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
  }

  async one<T extends object = Row>(sql: string, params: readonly unknown[] = []): Promise<T> {
    const { rows } = await this.query<T>(sql, params);
    if (rows.length !== 1) throw new BreakwaterError("BW_INTERNAL", `expected one row, got ${rows.length}`);
    return rows[0]!;
  }

  /** Runs `fn` inside BEGIN … COMMIT; any error rolls back and is rethrown. */
  async transaction<T>(fn: (db: Database) => Promise<T>): Promise<T> {
    await this.client.query("BEGIN");
    try {
      const value = await fn(this);
      await this.client.query("COMMIT");
      return value;
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  /**
   * Runs `fn` in a READ ONLY transaction that is always rolled back, so nothing it does can
   * persist: preflight's EXPLAINs, measures and checks.
   */
  async readOnly<T>(fn: (db: Database) => Promise<T>, isolation: "READ COMMITTED" | "REPEATABLE READ" = "READ COMMITTED"): Promise<T> {
    await this.client.query(`BEGIN ISOLATION LEVEL ${isolation} READ ONLY`);
    try {
      return await fn(this);
    } finally {
      await this.client.query("ROLLBACK").catch(() => undefined);
    }
  }

  /** Session-level advisory lock; false when another session holds it. */
  async tryAdvisoryLock(key: bigint): Promise<boolean> {
    const row = await this.one<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS ok", [key.toString()]);
    return row.ok;
  }

  async advisoryUnlock(key: bigint): Promise<void> {
    await this.query("SELECT pg_advisory_unlock($1::bigint)", [key.toString()]);
  }

  /** Cancels the statement another backend is running (pg_cancel_backend). */
  async cancel(pid: number): Promise<boolean> {
    const row = await this.one<{ ok: boolean }>("SELECT pg_cancel_backend($1) AS ok", [pid]);
    return row.ok;
  }

  /** LISTEN on a channel; `onNotify` gets each payload. */
  async listen(channel: string, onNotify: (payload: string) => void): Promise<void> {
    this.client.on("notification", (message) => {
      if (message.channel === channel) onNotify(message.payload ?? "");
    });
    await this.client.query(`LISTEN "${channel.replaceAll('"', '""')}"`);
  }

  /** Called once when the connection fails or ends unexpectedly. */
  onLost(callback: (error: Error) => void): void {
    let fired = false;
    const fire = (error: Error) => {
      if (fired || this.closed) return;
      fired = true;
      callback(error);
    };
    this.client.on("error", fire);
    this.client.on("end", () => fire(new Error("connection ended")));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.end().catch(() => undefined);
  }
}

/** host:port/database of a URL, never its credentials. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ""}${parsed.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

/** The same URL pointing at another database on the same server. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}
