// bench/online.ts — the live load test: pgbench clients read users by id, update users, insert
// users and insert posts while the seeds' enum rename (Role: USER → EMPLOYEE, add MANAGER) runs on
// "User", each scenario on a fresh database:
//   (a) no migration (the same load over an idle window of --idle seconds),
//   (b) the seeds' way: ADD VALUE, one UPDATE, then Prisma's type swap (retried on deadlock),
//   (c) breakwater in maintenance mode (runPlan; the write fence refuses writes to "User"),
//   (d) breakwater online (the same plan with `online: true`).
// From pgbench's per-transaction logs: failed transactions by SQLSTATE, p50/p99/max latency of the
// committed transactions overlapping the migration, and the longest time within the migration in
// which no transaction completed. Goal for (d): 0 failed, longest stall ≤ 100 ms, p99 ≤ 2× (a).
// Usage: npm run bench:online [-- --rows 1000000 --scenarios a,b,c,d --clients 8 --rate 0 --json]
// Uses BENCH_DATABASE_URL when set, otherwise a throwaway embedded PostgreSQL 15; needs pgbench ≥ 15
// (--pgbench, PGBENCH, Debian's postgresql-client or PATH).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { renameEnumValue } from "@breakwater/runtime";
import { Database, errorMessage, fileStore, sqlErrorInfo, withDatabase } from "@breakwater/runtime/internal";
import { resolveConfig } from "../packages/breakwater/src/config/config.ts";
import { quoteIdent } from "../packages/breakwater/src/db/quote.ts";
import { FENCE_SQLSTATE } from "../packages/breakwater/src/maintenance/write-fence.ts";
import { validatePlan } from "../packages/breakwater/src/plan/plan.ts";
import { runPlan, RunFailure } from "../packages/breakwater/src/runner/runner.ts";
import { benchDatabase } from "./fixtures/database.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    scenarios: { type: "string", default: "a,b,c,d" },
    clients: { type: "string", default: "8" },
    /** total target transactions/s over all clients (pgbench -R); 0: as fast as they go */
    rate: { type: "string", default: "0" },
    before: { type: "string", default: "2" },
    after: { type: "string", default: "2" },
    idle: { type: "string", default: "5" },
    attempts: { type: "string", default: "3" },
    /** ms an aborted client waits before it starts again (0: at once, as an app serves the next request) */
    "restart-delay": { type: "string", default: "0" },
    protocol: { type: "string", default: "extended" },
    pgbench: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const rows = Number(values.rows);
const clients = Number(values.clients);
const rate = Number(values.rate);
const attempts = Number(values.attempts);
const chosen = values.scenarios.split(",").map((s) => s.trim());
const pgbench =
  values.pgbench ??
  process.env.PGBENCH ??
  ["/usr/lib/postgresql/17/bin/pgbench", "/usr/lib/postgresql/16/bin/pgbench", "/usr/lib/postgresql/15/bin/pgbench"].find(existsSync) ??
  "pgbench";

const log = (text: string) => process.stderr.write(`${text}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Wall-clock microseconds since the epoch, the clock of pgbench's log (time_epoch, time_us). */
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (micros: number) => (micros >= 100_000 ? fmt(micros / 1000) : (micros / 1000).toFixed(micros >= 10_000 ? 1 : 2));

// The load, as pgbench scripts with weights: 60% reads by id, 20% updates of a user's email (not
// its role), 10% new users (role by DEFAULT), 10% new posts. Ids of new users come from a sequence,
// so a restarted client cannot reuse one (a duplicate key would be a failure of the harness).
const scripts = [
  { name: "read user", weight: 6, sql: `\\set id random(1, :rows)\nSELECT id, email, role FROM "User" WHERE id = :id;\n` },
  {
    name: "update user",
    weight: 2,
    sql: `\\set id random(1, :rows)\n\\set n random(1, 1000000000)\nUPDATE "User" SET email = 'user' || :id || '.' || :n || '@example.org' WHERE id = :id;\n`,
  },
  { name: "insert user", weight: 1, sql: `INSERT INTO "User" (id, email) SELECT n, 'user' || n || '@example.com' FROM nextval('"User_bench_id_seq"') AS n;\n` },
  { name: "insert post", weight: 1, sql: `\\set id random(1, :rows)\nINSERT INTO "Post" ("authorId", title) VALUES (:id, 'Hello');\n` },
];

/** The seeds' schema with `count` users, 1 in 10 ADMIN, and an empty second table. */
async function createSchema(db: Database, count: number): Promise<void> {
  await db.query(`
    CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
    CREATE TABLE "User" (id int PRIMARY KEY, email text NOT NULL UNIQUE, role "Role" NOT NULL DEFAULT 'USER', "createdAt" timestamptz NOT NULL DEFAULT now());
    CREATE INDEX "User_role_idx" ON "User" (role);
    CREATE TABLE "Post" (id bigserial PRIMARY KEY, "authorId" int NOT NULL, title text NOT NULL);`);
  await db.query(
    `INSERT INTO "User" (id, email, role) SELECT i, 'user' || i || '@example.com', (CASE WHEN i % 10 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role" FROM generate_series(1, $1::int) i`,
    [count],
  );
  await db.query(`CREATE SEQUENCE "User_bench_id_seq" START ${count + 1}`);
  // Autovacuum off in every scenario alike, so it cannot land inside one measurement only.
  await db.query(`ALTER TABLE "User" SET (autovacuum_enabled = false); ALTER TABLE "Post" SET (autovacuum_enabled = false)`);
  await db.query(`VACUUM ANALYZE "User", "Post"`);
}

// pgbench prints the server's message but not its SQLSTATE (libpq's default error verbosity, which
// no environment variable changes), so a client's abort is mapped from the messages this load can
// meet; the sessions run with lc_messages=C when the role may set it, so the text is English.
const knownMessages: [RegExp, string][] = [
  [/are paused while breakwater run/, FENCE_SQLSTATE],
  [/in a read-only transaction/, "25006"],
  [/cached plan must not change result type/, "0A000"],
  [/lock timeout|could not obtain lock/, "55P03"],
  [/deadlock detected/, "40P01"],
  [/could not serialize access/, "40001"],
  [/invalid input value for enum|invalid input syntax/, "22P02"],
  [/duplicate key value violates unique constraint/, "23505"],
  [/null value in column/, "23502"],
  [/canceling statement due to (statement timeout|user request)/, "57014"],
  [/terminating connection due to administrator command/, "57P01"],
  [/relation .* does not exist/, "42P01"],
  [/column .* does not exist/, "42703"],
  [/type .* does not exist/, "42704"],
  [/is of type .* but expression is of type|operator does not exist/, "42804"],
  [/cache lookup failed|could not open relation with OID/, "XX000"],
  [/server closed the connection|connection to server .* failed|could not connect/, "08006"],
];

interface Abort {
  /** when the client's process ended, epoch µs */
  at: number;
  sqlstate: string;
  message: string;
  script: string | null;
}

/** The client's abort in pgbench's stderr: "client 0 script 1 aborted in command 2 query 0: ERROR:  …", or why it could not start. */
function abortIn(stderr: string, at: number): Abort {
  const aborted = /script (\d+) aborted in command \d+ query \d+: (?:ERROR|FATAL|PANIC):\s+(.*)/.exec(stderr);
  const message = aborted?.[2] ?? /(?:ERROR|FATAL):\s+(.*)/.exec(stderr)?.[1] ?? /error: (.*)/.exec(stderr)?.[1] ?? (stderr.trim() || "pgbench ended without a message");
  const sqlstate = knownMessages.find(([pattern]) => pattern.test(message))?.[1] ?? "unknown";
  return { at, sqlstate, message: message.trim(), script: aborted ? (scripts[Number(aborted[1])]?.name ?? null) : null };
}

// Each client is a bash loop around pgbench, so that starting a client again costs a fork of a
// small shell, not of this process: the runner of (c) and (d) shares this process's event loop.
const clientLoop = `i=0
while [ ! -e "$STOP" ]; do
  "$@" --log-prefix="$DIR/log-$CLIENT.$i" >/dev/null 2>"$DIR/stderr-$CLIENT.$i"
  echo "$i $? \${EPOCHREALTIME/./}" >>"$DIR/exits-$CLIENT"
  i=$((i + 1))
  [ "$DELAY" = 0 ] || sleep "$DELAY"
done`;

/**
 * One pgbench process per client (-c 1) instead of one with -c 8 -j 2: pgbench 15 aborts a client
 * on any error but a serialization failure or deadlock (25006, BW001, 0A000, 22P02 …), and the
 * rest of the run would go on with fewer clients. Here an aborted client is counted as a failed
 * transaction and started again at once, as an application retries on a new connection. The load
 * is stopped by ending its sessions (pg_terminate_backend): pgbench then closes its logs, whereas
 * SIGINT kills it with the last lines still in its buffers.
 */
function startLoad(url: string, dir: string, applicationName: string, admin: Database, sessionOptions: string) {
  const args = [
    "--no-vacuum",
    "--client=1",
    "--jobs=1",
    "--time=86400",
    // Not "prepared": pgbench would cache each statement, and a cached statement over a column
    // whose type is replaced fails once with 0A000 "cached plan must not change result type",
    // as any driver's statement cache would. "extended" sends each statement with its
    // parameters, unnamed, as node-postgres does by default (--protocol prepared measures that).
    `--protocol=${values.protocol}`,
    "--random-seed=rand",
    "--log",
    // Serialization failures and deadlocks are logged, not retried: each is a failed transaction.
    "--max-tries=1",
    "--failures-detailed",
    "--verbose-errors",
    ...(rate > 0 ? [`--rate=${rate / clients}`] : []),
    `--define=rows=${rows}`,
    ...scripts.flatMap((s, i) => ["-f", `${path.join(dir, `script${i}.sql`)}@${s.weight}`]),
    url,
  ];
  const env = {
    ...process.env,
    LC_ALL: "C",
    STOP: path.join(dir, "stop"),
    DIR: dir,
    DELAY: String(Number(values["restart-delay"]) / 1000),
    PGAPPNAME: applicationName,
    PGOPTIONS: sessionOptions,
  };
  const loops = Array.from({ length: clients }, (_, client) => {
    const child = spawn("bash", ["-c", clientLoop, "bash", pgbench, ...args], { env: { ...env, CLIENT: String(client) }, stdio: "ignore", detached: true });
    return { child, exited: new Promise<void>((resolve) => (child.on("close", () => resolve()), child.on("error", () => resolve()))) };
  });
  return {
    /** Stops the clients; returns their aborts before the stop. */
    async stop(): Promise<Abort[]> {
      const stoppedAt = nowMicros();
      await writeFile(path.join(dir, "stop"), "");
      const deadline = performance.now() + 10_000;
      // Again until every loop is gone: a client may be connecting while the first sessions end.
      while (loops.some((l) => l.child.exitCode === null && l.child.signalCode === null)) {
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [applicationName]);
        if (performance.now() > deadline) for (const l of loops) if (l.child.pid && l.child.exitCode === null) process.kill(-l.child.pid, "SIGKILL");
        await sleep(100);
      }
      await Promise.all(loops.map((l) => l.exited));
      const aborts: Abort[] = [];
      for (let client = 0; client < clients; client++) {
        const exits = await readFile(path.join(dir, `exits-${client}`), "utf8").catch(() => "");
        for (const line of exits.split("\n")) {
          const [run, code, at] = line.split(" ").map(Number);
          // 0: --time ran out; after the stop: ended by it.
          if (run === undefined || code === undefined || at === undefined || !line || code === 0 || at >= stoppedAt) continue;
          if (code === 127) throw new Error(`cannot run ${pgbench}`);
          aborts.push(abortIn(await readFile(path.join(dir, `stderr-${client}.${run}`), "utf8"), at));
        }
      }
      return aborts;
    },
  };
}

interface Transaction {
  /** when it completed, epoch µs */
  end: number;
  /** µs (from its scheduled start with --rate) */
  latency: number;
  /** SQLSTATE of a failed transaction, null when it committed */
  failure: string | null;
}

/** pgbench 15's per-transaction log: client_id transaction_no time script_no time_epoch time_us [schedule_lag] */
async function readLogs(dir: string): Promise<Transaction[]> {
  const transactions: Transaction[] = [];
  for (const file of await readdir(dir)) {
    if (!file.startsWith("log-")) continue;
    for (const line of (await readFile(path.join(dir, file), "utf8")).split("\n")) {
      const fields = line.split(" ");
      if (fields.length < 6) continue;
      const end = Number(fields[4]) * 1_000_000 + Number(fields[5]);
      // time is the latency, or with --failures-detailed why the transaction failed.
      const time = fields[2]!;
      const failure = /^\d+$/.test(time) ? null : ({ serialization: "40001", deadlock: "40P01" }[time] ?? time);
      transactions.push({ end, latency: failure ? 0 : Number(time), failure });
    }
  }
  return transactions;
}

const percentile = (sorted: number[], p: number) => sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;

interface Measurement {
  /** failed transactions over the whole load (logged failures and aborted clients) by SQLSTATE */
  failed: Record<string, number>;
  committed: number;
  /** committed transactions overlapping the migration window */
  committedInWindow: number;
  latencyMs: { p50: number; p99: number; max: number };
  longestStallMs: number;
  windowMs: number;
  tpsBefore: number;
  tpsInWindow: number;
}

function measure(transactions: Transaction[], aborts: Abort[], loadStart: number, windowStart: number, windowEnd: number): Measurement {
  const failed: Record<string, number> = {};
  for (const failure of [...transactions.flatMap((t) => (t.failure ? [t.failure] : [])), ...aborts.map((a) => a.sqlstate)]) failed[failure] = (failed[failure] ?? 0) + 1;
  const committed = transactions.filter((t) => t.failure === null);
  // A transaction counts for the migration when it ran during any part of it (one blocked by a
  // lock from its start to after the migration ended included).
  const overlapping = committed.filter((t) => t.end - t.latency < windowEnd && t.end > windowStart);
  const latencies = overlapping.map((t) => t.latency).sort((a, b) => a - b);
  const ends = committed
    .map((t) => t.end)
    .filter((end) => end >= windowStart && end <= windowEnd)
    .sort((a, b) => a - b);
  let stall = 0;
  let previous = windowStart;
  for (const end of [...ends, windowEnd]) {
    stall = Math.max(stall, end - previous);
    previous = end;
  }
  // The first half second is left out of the rate before: the clients are still connecting.
  const before = committed.filter((t) => t.end >= loadStart + 500_000 && t.end < windowStart).length;
  return {
    failed,
    committed: committed.length,
    committedInWindow: overlapping.length,
    latencyMs: { p50: percentile(latencies, 50) / 1000, p99: percentile(latencies, 99) / 1000, max: (latencies.at(-1) ?? 0) / 1000 },
    longestStallMs: stall / 1000,
    windowMs: (windowEnd - windowStart) / 1000,
    tpsBefore: before / Math.max(0.001, (windowStart - loadStart - 500_000) / 1e6),
    tpsInWindow: ends.length / Math.max(0.001, (windowEnd - windowStart) / 1e6),
  };
}

interface Attempt {
  step: string;
  attempt: number;
  ms: number;
  rows: number | null;
  error: { sqlstate: string | undefined; message: string } | null;
}

interface MigrationResult {
  notes: string[];
  attempts?: Attempt[];
  /** the migration failed: why (the load was measured all the same) */
  error?: string;
}

/**
 * (b) The seeds' migrations as `prisma migrate deploy` sends them, each file one simple-protocol
 * query: the new values, the data script's single UPDATE, then the type swap Prisma generates
 * (its own BEGIN/COMMIT). A step that deadlocks (40P01) or fails to serialize is tried again.
 */
async function seedsWay(db: Database): Promise<MigrationResult> {
  const steps: [string, string][] = [
    ["add values", `ALTER TYPE "Role" ADD VALUE 'EMPLOYEE'; ALTER TYPE "Role" ADD VALUE 'MANAGER';`],
    ["update", `UPDATE "User" SET role = 'EMPLOYEE' WHERE role = 'USER'`],
    [
      "type swap",
      `BEGIN;
       CREATE TYPE "Role_new" AS ENUM ('EMPLOYEE', 'ADMIN', 'MANAGER');
       ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
       ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
       ALTER TYPE "Role" RENAME TO "Role_old";
       ALTER TYPE "Role_new" RENAME TO "Role";
       DROP TYPE "Role_old";
       ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'EMPLOYEE';
       COMMIT;`,
    ],
  ];
  const tries: Attempt[] = [];
  for (const [step, sql] of steps) {
    for (let attempt = 1; ; attempt++) {
      const start = performance.now();
      try {
        const result = await db.query(sql);
        tries.push({ step, attempt, ms: performance.now() - start, rows: step === "update" ? result.rowCount : null, error: null });
        break;
      } catch (error) {
        // A failed statement inside the file's BEGIN leaves the session's transaction aborted.
        await db.query("ROLLBACK").catch(() => undefined);
        const info = sqlErrorInfo(error);
        tries.push({ step, attempt, ms: performance.now() - start, rows: null, error: info });
        if ((info.sqlstate !== "40P01" && info.sqlstate !== "40001") || attempt >= attempts) {
          const notes = describeAttempts(tries);
          // The column's DEFAULT is still 'USER' until the swap: every user the load inserts after the UPDATE has the old value.
          const left = await db.one<{ n: number }>(`SELECT count(*)::int8 AS n FROM "User" WHERE role::text = 'USER'`).catch(() => null);
          if (left) notes.push(`${fmt(left.n)} users still USER after the failure`);
          return { notes, attempts: tries, error: `${step}: ${info.sqlstate ?? ""} ${info.message}`.trim() };
        }
      }
    }
  }
  return { notes: describeAttempts(tries), attempts: tries };
}

function describeAttempts(tries: Attempt[]): string[] {
  return tries.map(
    (t) =>
      `${t.step}${t.attempt > 1 ? ` (attempt ${t.attempt})` : ""}: ` +
      (t.error ? `${t.error.sqlstate ?? "error"} after ${fmt(t.ms)} ms (${t.error.message})` : `${(t.ms / 1000).toFixed(2)} s${t.rows !== null ? `, ${fmt(t.rows)} rows` : ""}`),
  );
}

/** (c) and (d): the seeds' rename as a breakwater plan, run in-process as `breakwater run` would. */
async function breakwaterRun(db: Database, url: string, online: boolean): Promise<MigrationResult> {
  const dir = await mkdtemp(path.join(tmpdir(), "breakwater-bench-"));
  const notes: string[] = [];
  let lockRetries = 0;
  const phases: string[] = [];
  try {
    const config = resolveConfig({ maintenance: { file: path.join(dir, "maintenance", "enabled.lock") } }, dir, null, {});
    const plan = validatePlan({
      id: online ? "bench_online_rename" : "bench_maintenance_rename",
      ...(online ? { online: true } : {}),
      // The load reads roles and inserts users by DEFAULT; "reads new values" as an app deployed for EMPLOYEE would.
      steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], appReadsNewValues: true })],
    });
    const outcome = await runPlan(
      { plan, path: "bench", sha256: "" },
      {
        config,
        databaseUrl: url,
        store: fileStore({ path: config.maintenanceFile }),
        emit: (event) => {
          if (event.type === "lock-retry") lockRetries++;
          if (event.type === "step-done" && event.durationMs >= 100) phases.push(`${event.label} ${(event.durationMs / 1000).toFixed(2)} s`);
          if (event.type === "warning") notes.push(`warning: ${event.message}`);
        },
      },
    );
    const run = outcome.log;
    notes.unshift(
      `run ${outcome.state}` +
        (run.writeOutageSeconds !== null ? `, writes refused ${run.writeOutageSeconds} s` : ", no maintenance window") +
        `, longest ACCESS EXCLUSIVE ${run.longestAccessExclusiveMs.toFixed(1)} ms` +
        (run.longestBatchMs !== null ? `, longest batch ${run.longestBatchMs.toFixed(1)} ms` : "") +
        `, ${lockRetries} lock retries`,
    );
    if (phases.length > 0) notes.push(`steps over 0.1 s: ${phases.join(", ")}`);
    const transform = await db.query<{ batches: number; scanned: number }>(
      `SELECT (data->>'batches')::int AS batches, (data->>'scanned')::int8 AS scanned FROM breakwater.steps WHERE run_id = $1 AND phase = 'transform'`,
      [outcome.runId],
    );
    for (const t of transform.rows) notes.push(`transform: ${fmt(t.scanned)} rows in ${fmt(t.batches)} batches`);
    return outcome.state === "completed" ? { notes } : { notes, error: `run ended ${outcome.state}` };
  } catch (error) {
    const detail = error instanceof RunFailure ? ` (run ${error.outcome.state})` : "";
    return { notes, error: `${(error as { code?: string }).code ?? "error"}: ${errorMessage(error)}${detail}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const scenarios: Record<string, { title: string; migrate: (db: Database, url: string) => Promise<MigrationResult> }> = {
  a: { title: "(a) no migration", migrate: async () => (await sleep(Number(values.idle) * 1000), { notes: [`idle window of ${values.idle} s`] }) },
  b: { title: "(b) seeds' way (UPDATE + type swap)", migrate: (db) => seedsWay(db) },
  c: { title: "(c) breakwater, maintenance mode", migrate: (db, url) => breakwaterRun(db, url, false) },
  d: { title: "(d) breakwater online", migrate: (db, url) => breakwaterRun(db, url, true) },
};
for (const key of chosen) if (!scenarios[key]) throw new Error(`unknown scenario ${key} (known: ${Object.keys(scenarios).join(", ")})`);

interface ScenarioResult extends Measurement {
  scenario: string;
  title: string;
  migrationMs: number;
  error: string | null;
  notes: string[];
  attempts: Attempt[] | null;
  /** the aborted clients' messages, one per distinct SQLSTATE and message */
  abortMessages: { sqlstate: string; script: string | null; message: string; count: number }[];
}

const database = await benchDatabase(log);
const admin = await Database.connect(database.url);
const results: ScenarioResult[] = [];
try {
  const server = (await admin.one<{ server_version: string }>("SHOW server_version")).server_version;
  const superuser = (await admin.one<{ rolsuper: boolean }>("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).rolsuper;
  const sessionOptions = [process.env.PGOPTIONS, superuser ? "-c lc_messages=C" : ""].filter(Boolean).join(" ");
  const pgbenchVersion = await new Promise<string>((resolve) => {
    const child = spawn(pgbench, ["--version"]);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", () => resolve(""));
    child.on("close", () => resolve(out.trim()));
  });
  if (!/\b(1[5-9]|[2-9]\d)\./.test(pgbenchVersion)) throw new Error(`pgbench 15 or later is needed (--pgbench or PGBENCH); ${pgbench} says ${JSON.stringify(pgbenchVersion)}`);

  for (const key of chosen) {
    const scenario = scenarios[key]!;
    const name = `${database.name}_${key}`;
    log(`${scenario.title}: creating "User" with ${fmt(rows)} rows…`);
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    const url = withDatabase(database.url, name);
    const db = await Database.connect(url);
    const dir = await mkdtemp(path.join(tmpdir(), "breakwater-bench-online-"));
    try {
      await createSchema(db, rows);
      for (const [i, script] of scripts.entries()) await writeFile(path.join(dir, `script${i}.sql`), script.sql);
      await db.query("CHECKPOINT");
      log(`${scenario.title}: ${clients} clients for ${values.before} s, then the migration, then ${values.after} s more…`);
      const loadStart = nowMicros();
      const load = startLoad(url, dir, `bw_online_load_${key}`, admin, sessionOptions);
      let windowStart = 0;
      let windowEnd = 0;
      let result: MigrationResult;
      let aborts: Abort[] = [];
      try {
        await sleep(Number(values.before) * 1000);
        windowStart = nowMicros();
        result = await scenario.migrate(db, url).catch((error: unknown) => ({ notes: [], error: errorMessage(error) }));
        windowEnd = nowMicros();
        await sleep(Number(values.after) * 1000);
      } finally {
        aborts = await load.stop();
      }
      const measured = measure(await readLogs(dir), aborts, loadStart, windowStart, windowEnd);
      const distinct = new Map<string, ScenarioResult["abortMessages"][number]>();
      for (const a of aborts) {
        const id = `${a.sqlstate}\n${a.script}\n${a.message}`;
        distinct.set(id, { sqlstate: a.sqlstate, script: a.script, message: a.message, count: (distinct.get(id)?.count ?? 0) + 1 });
      }
      results.push({
        scenario: key,
        title: scenario.title,
        migrationMs: (windowEnd - windowStart) / 1000,
        error: result.error ?? null,
        notes: result.notes,
        attempts: result.attempts ?? null,
        abortMessages: [...distinct.values()].sort((x, y) => y.count - x.count),
        ...measured,
      });
      const r = results.at(-1)!;
      log(
        `  ${(r.migrationMs / 1000).toFixed(2)} s; failed ${JSON.stringify(r.failed)}; p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms, max ${r.latencyMs.max.toFixed(1)} ms; longest stall ${r.longestStallMs.toFixed(1)} ms${r.error ? `; error: ${r.error}` : ""}`,
      );
    } finally {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      await rm(dir, { recursive: true, force: true });
    }
  }

  const baseline = results.find((r) => r.scenario === "a");
  const online = results.find((r) => r.scenario === "d");
  const goals =
    online && !online.error ?
      {
        noFailures: Object.keys(online.failed).length === 0,
        stallWithin100Ms: online.longestStallMs <= 100,
        p99WithinTwiceBaseline: baseline ? online.latencyMs.p99 <= 2 * baseline.latencyMs.p99 : null,
      }
    : null;
  const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    "",
    `bench/online.ts — ${fmt(rows)} users, ${clients} pgbench clients (${values.protocol} protocol, ${rate > 0 ? `${fmt(rate)} tx/s in all` : "unthrottled"}), PostgreSQL ${server}, ${pgbenchVersion}`,
    `latency: committed transactions overlapping the migration; stall: longest time within the migration with no transaction completed; failures: the whole load`,
    "",
    "| scenario | migration time | failed tx by SQLSTATE | p50 | p99 | max | longest stall | notes |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...results.map((r) => {
      const failed = Object.entries(r.failed)
        .sort((x, y) => y[1] - x[1])
        .map(([state, count]) => `${state} ×${fmt(count)}`)
        .join(", ");
      const notes = [
        ...(r.error ? [`**error**: ${r.error}`] : []),
        ...r.notes,
        ...r.abortMessages.slice(0, 3).map((a) => `${a.sqlstate} ×${fmt(a.count)} on ${a.script ?? "connect"}: “${a.message}”`),
        `${fmt(r.tpsInWindow)} tx/s during (${fmt(r.tpsBefore)} before)`,
      ];
      return `| ${r.title} | ${r.scenario === "a" ? "—" : `${(r.migrationMs / 1000).toFixed(2)} s`} | ${failed || "0"} | ${r.latencyMs.p50.toFixed(2)} ms | ${r.latencyMs.p99.toFixed(2)} ms | ${ms(r.latencyMs.max * 1000)} ms | ${ms(r.longestStallMs * 1000)} ms (of ${(r.windowMs / 1000).toFixed(2)} s) | ${cell(notes.join("; "))} |`;
    }),
    "",
    ...(goals ?
      [
        `(d) goals: 0 failed transactions ${goals.noFailures ? "✓" : "✗"}   longest stall ${online!.longestStallMs.toFixed(1)} ms ≤ 100 ms ${goals.stallWithin100Ms ? "✓" : "✗"}   ` +
          (baseline ?
            `p99 ${online!.latencyMs.p99.toFixed(2)} ms ≤ 2× (a) = ${(2 * baseline.latencyMs.p99).toFixed(2)} ms ${goals.p99WithinTwiceBaseline ? "✓" : "✗"}`
          : "p99: (a) not run"),
        "",
      ]
    : []),
  ];
  const table = lines.join("\n") + "\n";
  if (values.json) {
    process.stderr.write(table);
    process.stdout.write(
      JSON.stringify({ rows, clients, rate, protocol: values.protocol, server, pgbench: pgbenchVersion, scenarios: results, goals }, (_key, value: unknown) =>
        typeof value === "number" && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value,
      ) + "\n",
    );
  } else {
    process.stdout.write(table);
  }
} finally {
  await admin.close();
  await database.drop();
  process.exit(process.exitCode ?? 0);
}
