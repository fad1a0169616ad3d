// Transaction-mode poolers (PgBouncer's pool_mode = transaction, and the like) hand each
// transaction to whichever server connection is free, so session state — the runner's advisory
// lock, Prisma's, session settings, LISTEN — lands on a backend other clients then share, and a
// lock taken there outlives the command. This module tells whether a URL has a backend of its own
// and picks the URL session-level work uses: databaseUrl, else directUrl (Prisma's convention).
import { BreakwaterError, Database, describeUrl, isBreakwaterError } from "@breakwater/runtime/internal";
import { checkDatabaseUrl, requireDatabaseUrl, type ResolvedConfig } from "../config/resolved.ts";

export interface PoolerProbe {
  /** why the URL goes through a transaction-mode pooler, or null when nothing showed one */
  transactionPooler: string | null;
  /** the backend pids the two connections saw, in order (empty when the URL says ?pgbouncer=true) */
  pids: [number[], number[]];
  durationMs: number;
}

/**
 * Two connections (opened together) ask for their backend pid in separate statements, each its
 * own transaction: A and B at start-up, then A, A, B. PostgreSQL itself gives A one pid and B
 * another for their whole sessions. Behind a transaction (or statement) pooler, A's next statement
 * gets whichever server connection is free: PgBouncer hands out the most recently released one
 * (B's, or else A's own, which B's statement then gets too), a pool of size 1 has only one, and
 * with server_round_robin the least recently used. A session-mode pooler keeps one backend per
 * client and is rightly not reported. A pooler that picks servers some other way could pass
 * unnoticed: a positive result is proof, a negative one is not. Prisma's `?pgbouncer=true` in the
 * URL says so without asking.
 */
export async function detectTransactionPooler(url: string): Promise<PoolerProbe> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  // pg also reads "postgres://user@/db" (its default host), which URL cannot parse.
  const parsed = URL.canParse(url) ? new URL(url) : null;
  if (parsed?.searchParams.get("pgbouncer") === "true") return { transactionPooler: "the URL says ?pgbouncer=true", pids: [[], []], durationMs: elapsed() };
  // Prisma's ?schema= means nothing to pg (deploy turns it into the search_path).
  parsed?.searchParams.delete("schema");
  const plain = parsed?.toString() ?? url;
  const options = { applicationName: "breakwater pooler check", connectTimeoutMs: 10_000, queryTimeoutMs: 10_000 };
  const opened = await Promise.allSettled([Database.connect(plain, options), Database.connect(plain, options)]);
  const [a, b] = opened.map((o) => (o.status === "fulfilled" ? o.value : undefined));
  try {
    if (!a || !b) throw (opened.find((o) => o.status === "rejected") as PromiseRejectedResult).reason;
    const pid = async (db: Database) => (await db.one<{ pid: number }>("SELECT pg_backend_pid() AS pid")).pid;
    // connect() asked each connection for its pid already.
    const pids: [number[], number[]] = [[a.backendPid], [b.backendPid]];
    pids[0].push(await pid(a), await pid(a));
    pids[1].push(await pid(b));
    const [first, second] = pids;
    const shared = first.find((p) => second.includes(p));
    const transactionPooler =
      shared !== undefined ? `two connections were served by the same backend (pid ${shared})`
      : new Set(first).size > 1 || new Set(second).size > 1 ? `the backend pid changed between transactions (${[...new Set(first)].join(" → ")})`
      : null;
    return { transactionPooler, pids, durationMs: elapsed() };
  } finally {
    await Promise.all([a?.close(), b?.close()]);
  }
}

export interface SessionUrl {
  url: string;
  /** where it comes from, as messages name it ("DATABASE_URL", "DIRECT_URL", "directUrl in …") */
  source: string;
  /** set when databaseUrl goes through a transaction pooler and directUrl is used instead */
  notice: string | null;
}

/**
 * The URL for work that needs a session of its own (advisory locks, session settings, LISTEN):
 * databaseUrl when it reaches PostgreSQL with a backend of its own; directUrl when databaseUrl goes
 * through a transaction pooler and directUrl does not; otherwise BW_TRANSACTION_POOLER before
 * anything is changed. Probes on every call: a pooler put in front later is still seen.
 */
export async function chooseSessionUrl(config: ResolvedConfig): Promise<SessionUrl> {
  const databaseUrl = requireDatabaseUrl(config);
  const pooled = await probe(databaseUrl, config.databaseUrlSource, false);
  if (pooled === null) return { url: databaseUrl, source: config.databaseUrlSource, notice: null };
  const where = `${config.databaseUrlSource} (${describeUrl(databaseUrl)}) goes through a transaction-mode connection pooler such as PgBouncer: ${pooled}`;
  const why = "breakwater's advisory locks and session settings need a connection to PostgreSQL itself";
  const setDirect = `Set ${config.directUrlSource === "DIRECT_URL" ? "DIRECT_URL (or directUrl in breakwater.config.ts)" : config.directUrlSource} to a URL that reaches PostgreSQL directly, as Prisma's directUrl does (the server's own port, e.g. 5432, not the pooler's 6432 or 6543).`;
  if (config.directUrl === undefined) {
    throw new BreakwaterError("BW_TRANSACTION_POOLER", `${where}. ${why}, and ${config.directUrlSource} is not set. Nothing was changed.`, { hint: setDirect });
  }
  const directUrl = checkDatabaseUrl(config.directUrl, config.directUrlSource);
  const directPooled = directUrl === databaseUrl ? pooled : await probe(directUrl, config.directUrlSource, true);
  if (directPooled !== null) {
    throw new BreakwaterError(
      "BW_TRANSACTION_POOLER",
      `${where}, and so does ${config.directUrlSource} (${describeUrl(directUrl)}): ${directPooled}. ${why}. Nothing was changed.`,
      { hint: setDirect },
    );
  }
  return { url: directUrl, source: config.directUrlSource, notice: `${where}; using ${config.directUrlSource} (${describeUrl(directUrl)}) instead.` };
}

/** The probe's verdict; a failure to connect to directUrl says so in its hint (connect()'s names DATABASE_URL). */
async function probe(url: string, source: string, isDirectUrl: boolean): Promise<string | null> {
  try {
    return (await detectTransactionPooler(url)).transactionPooler;
  } catch (error) {
    if (isDirectUrl && isBreakwaterError(error, "BW_CONNECTION_FAILED")) {
      throw new BreakwaterError("BW_CONNECTION_FAILED", error.message, { hint: `Check ${source} and that the server is running.`, cause: error });
    }
    if (error instanceof Error && error.message === "Query read timeout") {
      throw new BreakwaterError("BW_CONNECTION_FAILED", `PostgreSQL at ${describeUrl(url)} (${source}) did not answer within 10 s.`, {
        hint: "The server (or a pooler in front of it with no free server connection) is up but not answering.",
      });
    }
    throw error;
  }
}
