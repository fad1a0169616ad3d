// `breakwater lint --trace`: runs the linted statements on a throwaway PostgreSQL (a scratch
// database on a shadow server, or the embedded cluster), each file after the migrations before it, records
// the locks each statement took and the tables it rewrote, and compares both with the findings.
import { randomBytes } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { BreakwaterError, Database, sqlErrorInfo, withDatabase } from "@breakwater/runtime/internal";
import { startEmbeddedCluster } from "../db/embedded.ts";
import { quoteIdent, quoteQualified, quoteTable } from "../db/quote.ts";
import { mentionedTables } from "./catalog.ts";
import { alterCommands, constraintsOf, droppedNames, lockRank, statementLock, stronger } from "./nodes.ts";
import { readLintFile } from "./source.ts";
import type { Finding, LintFile, LintStatement, TableLock } from "./types.ts";

/** A migration run before a linted file, untraced: Prisma's as one query, plain SQL statement by statement. */
export interface HistoryFile {
  path: string;
  text: string;
  runner: "prisma" | "sql";
  /** the linted file it is applied just before: its index in the run's files */
  before: number;
}

export interface TracedLock {
  /** `schema.name`, or the oid when the relation is gone and was never seen */
  relation: string;
  /** pg_class.relkind: r table, p partitioned table, i index, S sequence, … */
  kind: string;
  mode: TableLock;
  /** false: requested, and held back by the observer's lock when read (only outside a transaction) */
  granted: boolean;
  /** the relation existed before the linted files ran (for a table: a busy table, in the rules' terms) */
  existing: boolean;
}

export type Agreement = "agree" | "explained" | "mismatch" | "failed" | "not traced";

export interface TraceRow {
  file: string;
  line: number;
  column: number;
  statement: string;
  /** in-transaction: BEGIN; statement; pg_locks; COMMIT · sampled: outside a transaction, pg_locks read from a second connection while that connection's locks held it back · skipped · failed */
  method: "in-transaction" | "sampled" | "skipped" | "failed";
  /** the findings' rules on this statement */
  rules: string[];
  /** the strongest lock the findings give, or null */
  predictedLock: TableLock | null;
  /** the strongest lock traced on a table that existed before the linted files, or null */
  tracedLock: TableLock | null;
  /** a finding says the statement rewrites its table */
  predictedRewrite: boolean;
  /** a table that existed before the linted files got a new relfilenode; null when not traced */
  tracedRewrite: boolean | null;
  /** every table whose relfilenode changed */
  rewritten: string[];
  /** indexes the statement built on a table that existed before the linted files */
  indexesBuilt: string[];
  /** every relation lock the statement held (outside a transaction: every one sampled) */
  locks: TracedLock[];
  agreement: Agreement;
  /** why a difference is expected, or why the statement was not traced, or PostgreSQL's error */
  explanation?: string;
}

export interface SeededTable {
  table: string;
  rows: number;
  /** why the insert failed: the table was left empty */
  error?: string;
}

export interface TraceReport {
  /** PostgreSQL's version string of the server traced on */
  server: string;
  /** `embedded` or `shadow` (a scratch database created there and dropped after) */
  on: "embedded" | "shadow";
  /** every migration applied untraced, in order: before the first linted file, or between two */
  history: string[];
  seeded: SeededTable[];
  rows: TraceRow[];
}

// -- the server ------------------------------------------------------------------------------

export interface TraceServer {
  /** URL of a database on the server from which the scratch database is created */
  url: string;
  on: "embedded" | "shadow";
  stop(): Promise<void>;
}

/** The given shadow server, or an embedded cluster started for this run (stopped by stop()). */
export async function openTraceServer(shadowUrl: string | undefined): Promise<TraceServer> {
  if (shadowUrl) return { url: shadowUrl, on: "shadow", stop: async () => undefined };
  const cluster = await startEmbeddedCluster();
  return { url: cluster.url, on: "embedded", stop: () => cluster.stop() };
}

/**
 * Creates a scratch database on the server, hands `fn` a connection URL to it and drops it after,
 * whatever happens: nothing else on the server is touched. Prisma's `?schema=` becomes a schema of
 * the scratch database and the search_path of its sessions.
 */
async function withScratchDatabase<T>(serverUrl: string, fn: (url: string, schema: string | null) => Promise<T>): Promise<T> {
  const parsed = new URL(serverUrl);
  const schema = parsed.searchParams.get("schema");
  parsed.searchParams.delete("schema");
  const admin = await Database.connect(parsed.toString(), { applicationName: "breakwater lint --trace", connectTimeoutMs: 10_000 });
  const name = `breakwater_trace_${randomBytes(6).toString("hex")}`;
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`).catch((error: unknown) => {
      throw new BreakwaterError("BW_SQL_FAILED", `Could not create a scratch database on the shadow server: ${sqlErrorInfo(error).message}`, {
        hint: "--trace needs a role with CREATEDB on the shadow server (it creates a database of its own and drops it after).",
      });
    });
    try {
      return await fn(withDatabase(parsed.toString(), name), schema);
    } finally {
      // WITH (FORCE) is PostgreSQL 13+; our own sessions are closed by then anyway.
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(() => admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`));
    }
  } finally {
    await admin.close();
  }
}

// -- the history -----------------------------------------------------------------------------

const prismaFile = /^(.*)[\\/]([^\\/]+)[\\/]migration\.sql$/;

/**
 * The migrations on disk that sort before a linted file: for a Prisma `<migrations>/<folder>/migration.sql`,
 * every migration folder sorted before it; for a plain .sql file, the .sql files before it in its folder.
 */
async function migrationsBefore(linted: LintFile): Promise<{ file: string; runner: "prisma" | "sql" }[]> {
  const match = linted.runner === "prisma" ? prismaFile.exec(linted.path) : null;
  if (match) {
    const folder = match[2]!;
    const migrations = path.resolve(match[1]!);
    const entries = await readdir(migrations, { withFileTypes: true });
    const found: { file: string; runner: "prisma" }[] = [];
    for (const entry of entries.filter((e) => e.isDirectory() && e.name < folder).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const file = path.join(migrations, entry.name, "migration.sql");
      if (await stat(file).catch(() => null)) found.push({ file, runner: "prisma" });
    }
    return found;
  }
  const dir = path.dirname(path.resolve(linted.path));
  const base = path.basename(linted.path);
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".sql") && e.name < base)
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((e) => ({ file: path.join(dir, e.name), runner: "sql" }));
}

/**
 * The history of the linted files: before each, the migrations on disk that sort before it and are
 * neither linted nor applied before an earlier linted file. Files that are not contiguous (0003 and
 * 0007 of eight, or files of two folders) then each run on the schema they meet in production.
 */
export async function historyBefore(files: LintFile[]): Promise<HistoryFile[]> {
  const linted = new Set(files.map((f) => path.resolve(f.path)));
  const applied = new Set<string>();
  const history: HistoryFile[] = [];
  for (const [at, lintFile] of files.entries()) {
    // stdin has no place among migrations; a plan's sql steps run on whatever database the plan is run on.
    if (lintFile.path === "<stdin>" || lintFile.runner === "plan") continue;
    for (const { file, runner } of await migrationsBefore(lintFile)) {
      if (linted.has(file) || applied.has(file)) continue;
      applied.add(file);
      history.push({ path: (path.relative(process.cwd(), file) || file).split(path.sep).join("/"), text: await readFile(file, "utf8"), runner, before: at });
    }
  }
  return history;
}

/** Applies history files; `afterLinted`: linted files ran before them, on tables seeded with a row. */
async function applyHistory(db: Database, history: HistoryFile[], afterLinted: boolean): Promise<void> {
  for (const file of history) {
    try {
      if (file.runner === "prisma") await db.query(file.text);
      else for (const statement of (await readLintFile(file.path, file.text, "sql")).statements) await db.query(statement.text);
    } catch (error) {
      await db.query("ROLLBACK").catch(() => undefined);
      throw new BreakwaterError("BW_SQL_FAILED", `--trace: the history migration ${file.path} failed on the scratch database: ${sqlErrorInfo(error).message}`, {
        hint:
          afterLinted ?
            "It ran between linted files, on tables the trace had seeded with a row (a migration that needs an empty table fails there); lint it too to trace it."
          : "The migrations before the linted files must apply on an empty database; lint from an earlier file to trace them too.",
      });
    }
  }
}

/** PostgreSQL's message and, in parentheses, its SQLSTATE. */
function withSqlstate(error: unknown): string {
  const { sqlstate, message } = sqlErrorInfo(error);
  return `${message}${sqlstate ? ` (${sqlstate})` : ""}`;
}

// -- seeding ---------------------------------------------------------------------------------

interface SeedColumn {
  name: string;
  notNull: boolean;
  category: string;
  type: string;
  label: string | null;
  refSchema: string | null;
  refTable: string | null;
  refColumn: string | null;
}

/** A value PostgreSQL reads as the column's type (bound as text: INSERT … VALUES infers the type from the column). */
function sampleValue(column: SeedColumn): string | null {
  if (column.label !== null) return column.label;
  if (column.type === "uuid") return "00000000-0000-4000-8000-000000000001";
  if (column.type === "json" || column.type === "jsonb") return "{}";
  if (column.type === "bytea") return "";
  const byCategory: Record<string, string> = { A: "{}", B: "false", D: "now", I: "127.0.0.1", N: "1", R: "empty", S: "x", T: "1 second", V: "0" };
  return byCategory[column.category] ?? null;
}

/**
 * One row in each table the history created (those not in `known`, the relations before it), so
 * rewrites, scans and NOT NULL checks meet a row as on a live table: every column without a default
 * gets a value of its type (a foreign key: the referenced table's row), so that a later SET NOT NULL
 * finds no null. Tables are retried until no insert succeeds, which orders them by their foreign
 * keys; a table whose insert still fails stays empty, with PostgreSQL's error.
 */
async function seedTables(db: Database, known: Map<number, Relation>): Promise<SeededTable[]> {
  const { rows: tables } = await db.query<{ oid: number; schema: string; name: string }>(
    `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('information_schema', 'pg_catalog', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
      ORDER BY n.nspname, c.relname`,
  );
  const created = tables.filter((t) => !known.has(t.oid));
  const errors = new Map<number, string>();
  let pending = created;
  for (let progress = true; progress && pending.length > 0;) {
    progress = false;
    const failed: typeof pending = [];
    for (const table of pending) {
      const error = await seedTable(db, table);
      if (error === null) progress = true;
      else {
        errors.set(table.oid, error);
        failed.push(table);
      }
    }
    pending = failed;
  }
  const display = (t: { schema: string; name: string }) => (t.schema === "public" ? t.name : `${t.schema}.${t.name}`);
  return created.map((t) => (pending.includes(t) ? { table: display(t), rows: 0, error: errors.get(t.oid) } : { table: display(t), rows: 1 }));
}

async function seedTable(db: Database, table: { oid: number; schema: string; name: string }): Promise<string | null> {
  const { rows: columns } = await db.query<SeedColumn>(
    `SELECT a.attname AS name, a.attnotnull AS "notNull", b.typcategory AS category, b.typname AS type,
            (SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = b.oid ORDER BY e.enumsortorder LIMIT 1) AS label,
            fk.schema AS "refSchema", fk.name AS "refTable", fk.column AS "refColumn"
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
       LEFT JOIN LATERAL (
         SELECT rn.nspname AS schema, rc.relname AS name, ra.attname AS column
           FROM pg_constraint k JOIN pg_class rc ON rc.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
           JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = k.confkey[1]
          WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND cardinality(k.conkey) = 1 AND k.conkey[1] = a.attnum LIMIT 1) fk ON true
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
      ORDER BY a.attnum`,
    [table.oid],
  );
  const names: string[] = [];
  const values: string[] = [];
  const params: string[] = [];
  for (const column of columns) {
    names.push(quoteIdent(column.name));
    if (column.refTable !== null && column.refSchema !== null && column.refColumn !== null) {
      values.push(`(SELECT ${quoteIdent(column.refColumn)} FROM ${quoteQualified(column.refSchema, column.refTable)} LIMIT 1)`);
      continue;
    }
    const value = sampleValue(column);
    if (value === null) {
      if (!column.notNull) {
        names.pop();
        continue;
      }
      return `no sample value for ${column.name} (${column.type})`;
    }
    params.push(value);
    values.push(`$${params.length}`);
  }
  const target = quoteTable(table);
  const sql = names.length === 0 ? `INSERT INTO ${target} DEFAULT VALUES` : `INSERT INTO ${target} (${names.join(", ")}) VALUES (${values.join(", ")})`;
  try {
    await db.query(sql, params);
    return null;
  } catch (error) {
    return withSqlstate(error);
  }
}

// -- tracing one statement -------------------------------------------------------------------

interface Relation {
  oid: number;
  schema: string;
  name: string;
  kind: string;
  filenode: number;
  /** an index's table */
  table: number | null;
}

/** Every user relation (oid ≥ 16384, PostgreSQL's FirstNormalObjectId) with its relfilenode. */
async function relations(db: Database): Promise<Map<number, Relation>> {
  const { rows } = await db.query<Relation>(
    `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, c.relfilenode::int8 AS filenode, i.indrelid::int8 AS "table"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_index i ON i.indexrelid = c.oid
      WHERE c.oid::int8 >= 16384 AND n.nspname NOT IN ('information_schema', 'pg_catalog') AND n.nspname NOT LIKE 'pg\\_temp\\_%'`,
  );
  return new Map(rows.map((r) => [r.oid, r]));
}

interface LockRow {
  oid: number;
  mode: string;
  granted: boolean;
}

const lockQuery = `SELECT l.relation::int8 AS oid, l.mode, l.granted FROM pg_locks l
  WHERE l.pid = $1 AND l.locktype = 'relation' AND l.relation::int8 >= 16384
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/** pg_locks' mode names (lock.c) as the linter writes them. */
const lockModes: Record<string, TableLock> = {
  AccessShareLock: "ACCESS SHARE",
  RowShareLock: "ROW SHARE",
  RowExclusiveLock: "ROW EXCLUSIVE",
  ShareUpdateExclusiveLock: "SHARE UPDATE EXCLUSIVE",
  ShareLock: "SHARE",
  ShareRowExclusiveLock: "SHARE ROW EXCLUSIVE",
  ExclusiveLock: "EXCLUSIVE",
  AccessExclusiveLock: "ACCESS EXCLUSIVE",
};

const tableKinds = new Set(["r", "p", "m"]);

interface Observed {
  method: "in-transaction" | "sampled";
  locks: LockRow[];
  before: Map<number, Relation>;
  after: Map<number, Relation>;
  error?: string;
  /** outside a transaction, no lock request was seen: why */
  untraced?: string;
}

/**
 * The observer's gates on a table, outermost first, with the modes each holds back (PostgreSQL's
 * docs, 13.3.1, "Conflicting Lock Modes"). Each holds back what the one before it does, and more
 * (SHARE is left out: it does not hold back SHARE), so that rolling back to the outermost gate that
 * holds a request back lets it through and still holds back any stronger request after it.
 */
const gates: { mode: TableLock; holdsBack: TableLock[] }[] = [
  { mode: "ACCESS SHARE", holdsBack: ["ACCESS EXCLUSIVE"] },
  { mode: "ROW SHARE", holdsBack: ["EXCLUSIVE", "ACCESS EXCLUSIVE"] },
  { mode: "ROW EXCLUSIVE", holdsBack: ["SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"] },
  { mode: "SHARE UPDATE EXCLUSIVE", holdsBack: ["SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"] },
  { mode: "SHARE ROW EXCLUSIVE", holdsBack: ["ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"] },
  { mode: "EXCLUSIVE", holdsBack: ["ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"] },
  {
    mode: "ACCESS EXCLUSIVE",
    holdsBack: ["ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"],
  },
];

/** How long the observer holds a statement's tables at most: past it, the statement runs unobserved. */
const holdMs = 5000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The tables a statement names that the scratch database has (for an index, its table), as regclass text. */
async function tablesNamed(observer: Database, statement: LintStatement): Promise<string[]> {
  const mentions = mentionedTables([{ path: "", text: "", runner: "sql", statements: [statement], fileIgnores: [], parseError: null }]);
  const dropped = statement.kind === "DropStmt" ? droppedNames(statement).map((n) => ({ schema: n.schemaname ?? null, name: n.relname })) : [];
  const names = [...mentions, ...dropped].map((m) => (m.schema === null ? quoteIdent(m.name) : quoteQualified(m.schema, m.name)));
  const { rows } = await observer.query<{ table: string }>(
    `SELECT DISTINCT t.oid::regclass::text AS "table" FROM unnest($1::text[]) AS m(name)
       JOIN pg_class c ON c.oid = to_regclass(m.name) LEFT JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class t ON t.oid = COALESCE(i.indrelid, c.oid)
      WHERE t.relkind IN ('r', 'p') ORDER BY 1`,
    [names],
  );
  return rows.map((r) => r.table);
}

/** Runs a statement; PostgreSQL's error with its SQLSTATE, or undefined. */
async function run(db: Database, sql: string): Promise<string | undefined> {
  try {
    await db.query(sql);
    return undefined;
  } catch (e) {
    return withSqlstate(e);
  }
}

/**
 * A statement PostgreSQL refuses in a transaction block (25001: VACUUM, CREATE INDEX CONCURRENTLY,
 * REINDEX / DROP INDEX CONCURRENTLY …) runs on its own while a second connection, the observer,
 * holds the tables it names behind every gate. Each time pg_locks shows the statement waiting for a
 * gate, its lock rows are read there and the gates holding that request back are rolled back: a
 * quick statement is caught as surely as a slow one. VACUUM, for one, is seen asking for ACCESS SHARE
 * (to look the table up), then for SHARE UPDATE EXCLUSIVE. A wait for anything else (CREATE INDEX
 * CONCURRENTLY waits for older transactions, the observer's among them) opens every gate, as does
 * the end of holdMs. The gates stand on all the statement's tables at once and open together: on a
 * second table, only a request stronger than those already let through is seen.
 */
async function traceHeldBack(db: Database, observer: Database, statement: LintStatement): Promise<Observed> {
  const before = await relations(db);
  const tables = await tablesNamed(observer, statement);
  if (tables.length === 0) {
    const error = await run(db, statement.text);
    const untraced = "it runs outside a transaction and names no table the scratch database has, so there was nothing to hold it at and read its locks";
    return { method: "sampled", locks: [], before, after: await relations(db), ...(error ? { error } : { untraced }) };
  }
  // The gates are the only locks anything waits for on the scratch database: the migration's lock_timeout would fire on them alone.
  const { timeout } = await db.one<{ timeout: string }>("SELECT current_setting('lock_timeout') AS timeout");
  /** the gates the observer holds: gate_0 … gate_{held-1} */
  let held = 0;
  const open = async (gate: number) => {
    held = gate;
    await observer.query(gate === 0 ? "ROLLBACK" : `ROLLBACK TO SAVEPOINT gate_${gate}`);
  };
  const seen = new Map<string, LockRow>();
  let timedOut = false;
  let error: string | undefined;
  await observer.query("BEGIN");
  try {
    for (const [at, gate] of gates.entries()) {
      held = at + 1;
      await observer.query(`SAVEPOINT gate_${at}`);
      await observer.query(`LOCK TABLE ${tables.join(", ")} IN ${gate.mode} MODE`);
    }
    await db.query("SET lock_timeout = 0");
    let done = false;
    const running = run(db, statement.text).then((e) => {
      done = true;
      error = e;
    });
    const started = Date.now();
    while (!done && held > 0) {
      const { rows } = await observer.query<{ locktype: string; mode: string }>("SELECT locktype, mode FROM pg_locks WHERE pid = $1 AND NOT granted", [db.backendPid]);
      const waiting = rows[0];
      if (waiting) {
        for (const row of (await observer.query<LockRow>(lockQuery, [db.backendPid])).rows) {
          const key = `${row.oid}/${row.mode}`;
          if (!seen.has(key) || row.granted) seen.set(key, row);
        }
        const mode = waiting.locktype === "relation" ? lockModes[waiting.mode] : undefined;
        const gate = mode ? gates.findIndex((g) => g.holdsBack.includes(mode)) : -1;
        // A request no held gate holds back waits for something else: let it go.
        await open(gate >= 0 && gate < held ? gate : 0);
      } else if (Date.now() - started > holdMs) {
        timedOut = true;
        await open(0);
      } else await sleep(1);
    }
    await running;
  } finally {
    if (held > 0) await open(0);
    await db.query("SELECT set_config('lock_timeout', $1, false)", [timeout]);
  }
  const after = await relations(db);
  if (error) return { method: "sampled", locks: [...seen.values()], before, after, error };
  const named = tables.join(", ");
  const untraced =
    seen.size > 0 ? undefined
    : timedOut ? `it asked for no lock on ${named} in the ${holdMs / 1000} s the observer held it, and ran unobserved after`
    : `it never waited for the observer's ACCESS EXCLUSIVE lock on ${named}: it took no lock there, or skipped what it could not lock at once (SKIP_LOCKED)`;
  return { method: "sampled", locks: [...seen.values()], before, after, ...(untraced ? { untraced } : {}) };
}

/** BEGIN; the statement; its pg_locks rows and the relfilenodes; COMMIT — or, on 25001, held back and read from outside. */
async function traceStatement(db: Database, observer: Database, statement: LintStatement): Promise<Observed> {
  const before = await relations(db);
  await db.query("BEGIN");
  try {
    await db.query(statement.text);
  } catch (e) {
    await db.query("ROLLBACK");
    // 25001 active_sql_transaction: the statement cannot run inside a transaction block.
    if (sqlErrorInfo(e).sqlstate === "25001") return traceHeldBack(db, observer, statement);
    return { method: "in-transaction", locks: [], before, after: before, error: withSqlstate(e) };
  }
  try {
    const { rows: locks } = await db.query<LockRow>(lockQuery, [db.backendPid]);
    const after = await relations(db);
    await db.query("COMMIT");
    return { method: "in-transaction", locks, before, after };
  } catch (e) {
    await db.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}

// -- comparing -------------------------------------------------------------------------------

const show = (r: Pick<Relation, "schema" | "name">) => (r.schema === "public" ? r.name : `${r.schema}.${r.name}`);

/** The foreign keys a statement adds (CREATE TABLE … REFERENCES, ALTER TABLE … ADD FOREIGN KEY). */
function addsForeignKey(statement: LintStatement): boolean {
  if (statement.kind === "CreateStmt") {
    const elements = ((statement.node as { tableElts?: Record<string, unknown>[] }).tableElts ?? []) as {
      ColumnDef?: Parameters<typeof constraintsOf>[0];
      Constraint?: { contype: string };
    }[];
    return elements.some((e) => e.Constraint?.contype === "CONSTR_FOREIGN" || (e.ColumnDef && constraintsOf(e.ColumnDef).some((c) => c.contype === "CONSTR_FOREIGN")));
  }
  return alterCommands(statement).some(
    (cmd) =>
      (cmd.subtype === "AT_AddConstraint" && cmd.def?.Constraint?.contype === "CONSTR_FOREIGN") ||
      (cmd.subtype === "AT_AddColumn" && constraintsOf(cmd.def?.ColumnDef ?? {}).some((c) => c.contype === "CONSTR_FOREIGN")),
  );
}

/** Why the trace differs from the findings, when the difference is expected; null when it is not. */
function explain(statement: LintStatement, findings: Finding[], traced: TableLock | null, rewrite: boolean, builtIndex: boolean): string | null {
  const predicted = findings.reduce<TableLock | null>((lock, f) => stronger(lock, f.lock), null);
  const predictedRewrite = findings.some((f) => f.rewrites === true);
  const reasons: string[] = [];
  if (rewrite !== predictedRewrite) {
    if (rewrite && findings.some((f) => f.rule === "alter-column-type" && f.rewrites === false))
      reasons.push(
        "alter-column-type warned without claiming a rewrite — the old type was unknown (no database, a column neither the run nor the catalog knows), or timestamp ↔ timestamptz, whose rewrite depends on the session's TimeZone — and the table was rewritten",
      );
    else if (rewrite && statement.kind === "TruncateStmt") reasons.push("TRUNCATE gives the table a new, empty file (relfilenode) without copying a row");
    else return null;
  }
  if (predicted !== traced) {
    const model = statementLock(statement)?.lock ?? null;
    const lockless = findings.filter((f) => f.lock === null).map((f) => f.rule);
    if (predicted === null && traced !== null && lockRank(traced) <= lockRank("SHARE UPDATE EXCLUSIVE") && !rewrite)
      reasons.push(`no finding, and nothing was rewritten: PostgreSQL took ${traced}, which blocks neither reads nor writes`);
    // An index built under the lock is not brief: that needs a finding.
    else if (predicted === null && traced !== null && traced === model && !rewrite && !builtIndex)
      reasons.push(
        `${lockless.length > 0 ? `${lockless.join(", ")} warn${lockless.length === 1 ? "s" : ""} about something other than a lock` : "no finding"}, and nothing was rewritten: PostgreSQL took ${traced}, the lock the linter's lock model gives this statement${
          lockRank(traced) <= lockRank("SHARE UPDATE EXCLUSIVE") ? ", which blocks neither reads nor writes" : ", held briefly for a change of the catalog"
        }`,
      );
    else if (predicted === null && traced !== null && lockRank(traced) <= lockRank("SHARE ROW EXCLUSIVE") && !rewrite && addsForeignKey(statement))
      reasons.push(`a foreign key from a new table: PostgreSQL holds ${traced} on the referenced table while it adds the constraint, with no row to check`);
    else return null;
  }
  return reasons.join("; ");
}

function compare(statement: LintStatement, file: LintFile, findings: Finding[], observed: Observed, existing: Map<number, Relation>, baseline: Set<number>): TraceRow {
  const names = new Map<number, Relation>([...observed.before, ...observed.after]);
  const locks: TracedLock[] = observed.locks.flatMap((lock) => {
    const mode = lockModes[lock.mode];
    const relation = names.get(lock.oid);
    // pg_toast relations come with their table.
    if (!mode || relation?.schema === "pg_toast") return [];
    return [{ relation: relation ? show(relation) : String(lock.oid), kind: relation?.kind ?? "?", mode, granted: lock.granted, existing: baseline.has(lock.oid) }];
  });
  const onTables = observed.locks.filter((l) => existing.has(l.oid) && tableKinds.has(existing.get(l.oid)!.kind) && lockModes[l.mode]);
  const tracedLock = onTables.reduce<TableLock | null>((lock, l) => stronger(lock, lockModes[l.mode]!), null);
  const rewrittenOids = [...observed.before.values()]
    .filter((r) => tableKinds.has(r.kind) && observed.after.has(r.oid) && observed.after.get(r.oid)!.filenode !== r.filenode)
    .map((r) => r.oid);
  const tracedRewrite = rewrittenOids.some((oid) => existing.has(oid));
  // A new index whose table existed before the files: CREATE INDEX, or a constraint's index.
  const built = [...observed.after.values()].filter((r) => r.kind === "i" && !observed.before.has(r.oid) && r.table !== null && existing.has(r.table));
  const predictedLock = findings.reduce<TableLock | null>((lock, f) => stronger(lock, f.lock), null);
  const predictedRewrite = findings.some((f) => f.rewrites === true);
  const row: TraceRow = {
    file: file.path,
    line: statement.line,
    column: statement.column,
    statement: statement.text,
    method: observed.method,
    rules: [...new Set(findings.map((f) => f.rule))],
    predictedLock,
    tracedLock,
    predictedRewrite,
    tracedRewrite,
    rewritten: rewrittenOids.map((oid) => show(observed.before.get(oid)!)),
    indexesBuilt: built.map(show),
    locks,
    agreement: "agree",
  };
  if (observed.error !== undefined) {
    const predictedBy = row.rules.length > 0 ? `; findings: ${row.rules.join(", ")}` : "";
    return { ...row, method: "failed", tracedLock: null, tracedRewrite: null, agreement: "failed", explanation: `PostgreSQL refused it: ${observed.error}${predictedBy}` };
  }
  if (observed.untraced !== undefined) return { ...row, tracedRewrite: null, agreement: "not traced", explanation: `not traced: ${observed.untraced}` };
  if (predictedLock === tracedLock && predictedRewrite === tracedRewrite) return row;
  const why = explain(statement, findings, tracedLock, tracedRewrite, built.length > 0);
  return why === null ? { ...row, agreement: "mismatch" } : { ...row, agreement: "explained", explanation: why };
}

// -- the run ---------------------------------------------------------------------------------

export interface TraceOptions {
  /** a database on the server to trace on: the scratch database is created from it and dropped after */
  serverUrl: string;
  on: "embedded" | "shadow";
  files: LintFile[];
  /** the run's findings, compared with what PostgreSQL did */
  findings: Finding[];
  /** historyBefore's migrations, each applied just before the linted file it names */
  history: HistoryFile[];
}

/**
 * Runs and traces each linted file's statements in order, each file after its history; the tables
 * the history creates are seeded, and count as existing (busy) ones, as in production.
 */
export async function traceFiles(options: TraceOptions): Promise<TraceReport> {
  return withScratchDatabase(options.serverUrl, async (url, schema) => {
    const db = await Database.connect(url, { applicationName: "breakwater lint --trace" });
    const observer = await Database.connect(url, { applicationName: "breakwater lint --trace (observer)" });
    try {
      if (schema) {
        await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
        for (const session of [db, observer]) await session.query("SELECT set_config('search_path', $1, false)", [quoteIdent(schema)]);
      }
      const { server } = await db.one<{ server: string }>("SELECT current_setting('server_version') AS server");
      const seeded: SeededTable[] = [];
      /** the relations the history created: those that existed before the linted files touched them */
      const baseline = new Set<number>();
      /** the tables among them */
      const existing = new Map<number, Relation>();
      const rows: TraceRow[] = [];
      // A file given twice runs once, as a migration does.
      const traced = new Set<string>();
      for (const [at, file] of options.files.entries()) {
        if (file.path !== "<stdin>" && traced.has(path.resolve(file.path))) continue;
        traced.add(path.resolve(file.path));
        const history = options.history.filter((h) => h.before === at);
        if (history.length > 0) {
          const known = await relations(db);
          await applyHistory(db, history, at > 0);
          seeded.push(...(await seedTables(db, known)));
          for (const [oid, relation] of await relations(db)) {
            if (known.has(oid)) continue;
            baseline.add(oid);
            if (tableKinds.has(relation.kind) && relation.schema !== "pg_toast") existing.set(oid, relation);
          }
        }
        for (const statement of file.statements) {
          const findings = options.findings.filter((f) => f.file === file.path && f.line === statement.line && f.column === statement.column);
          if (statement.kind === "TransactionStmt") {
            rows.push({
              file: file.path,
              line: statement.line,
              column: statement.column,
              statement: statement.text,
              method: "skipped",
              rules: findings.map((f) => f.rule),
              predictedLock: null,
              tracedLock: null,
              predictedRewrite: false,
              tracedRewrite: null,
              rewritten: [],
              indexesBuilt: [],
              locks: [],
              agreement: "agree",
              explanation: "transaction control: the trace runs each statement in a transaction of its own",
            });
            continue;
          }
          rows.push(compare(statement, file, findings, await traceStatement(db, observer, statement), existing, baseline));
        }
      }
      return { server, on: options.on, history: options.history.map((h) => h.path), seeded, rows };
    } finally {
      await observer.close();
      await db.close();
    }
  });
}
