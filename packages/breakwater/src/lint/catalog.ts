// Catalog mode: what the live database says about the tables and enums a run's files touch (row
// estimates, sizes, columns and their types, labels, the server version), read in one read-only
// transaction under short timeouts, and the helpers rules use to turn a finding into a number.
import type { Database } from "@breakwater/runtime/internal";
import { sqlErrorInfo } from "@breakwater/runtime/internal/errors";
import { quoteIdent, quoteQualified } from "../db/quote.ts";
import { sqlParser, type ParseResult } from "../db/sql-parser.ts";
import type { TypeName } from "./nodes.ts";
import type { CatalogFacts, LintFile, RuleContext, TableFacts } from "./types.ts";

/** A count stops here: past a million rows the exact number changes nothing in a finding. */
const countBound = 1_000_000;

interface Mention {
  schema: string | null;
  name: string;
}

type Node = Record<string, unknown>;

const svals = (list: unknown): string[] => (Array.isArray(list) ? list.map((item) => ((item as { String?: { sval?: string } }).String?.sval ?? "") as string) : []);

/** Every table a file's statements name: RangeVars, and DROP TABLE's name lists. */
export function mentionedTables(files: LintFile[]): Mention[] {
  const seen = new Map<string, Mention>();
  const add = (schema: string | null, name: string) => seen.set(`${schema ?? ""}\u0000${name}`, { schema, name });
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === "object") {
      const node = value as Node;
      if (typeof node.relname === "string") add(typeof node.schemaname === "string" ? node.schemaname : null, node.relname);
      if (node.removeType === "OBJECT_TABLE" && Array.isArray(node.objects)) {
        for (const object of node.objects) {
          const names = svals((object as { List?: { items?: unknown } }).List?.items);
          if (names.length === 1) add(null, names[0]!);
          else if (names.length === 2) add(names[0]!, names[1]!);
        }
      }
      Object.values(node).forEach(visit);
    }
  };
  for (const file of files) for (const statement of file.statements) visit(statement.node);
  return [...seen.values()];
}

/**
 * Connects for catalog mode: Prisma's `?schema=` becomes the session's search_path (as deploy
 * does, but without creating the schema: catalog mode changes nothing).
 */
export async function connectForCatalog(url: string): Promise<Database> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema");
  parsed.searchParams.delete("schema");
  // pg is loaded only when a database is read: the rules import this module's size helpers.
  const { Database } = await import("@breakwater/runtime/internal");
  const db = await Database.connect(parsed.toString(), { applicationName: "breakwater lint", connectTimeoutMs: 5000 });
  if (schema) await db.query("SELECT set_config('search_path', $1, false)", [quoteIdent(schema)]);
  return db;
}

interface TableRow {
  at: number;
  schema: string;
  name: string;
  reltuples: number;
  bytes: string;
  columns: { name: string; type: string }[] | null;
}

/** Reads the facts for every table the files mention and every enum, read-only, under a 5 s statement_timeout. */
export async function readCatalog(db: Database, files: LintFile[]): Promise<CatalogFacts> {
  const mentions = mentionedTables(files);
  const parse = await sqlParser();
  return db.transaction(async (tx) => {
    await tx.query("SET TRANSACTION READ ONLY");
    await tx.query("SET LOCAL statement_timeout = '5s'");
    // pg_total_relation_size and the counts take ACCESS SHARE: never queue behind a migration's lock.
    await tx.query("SET LOCAL lock_timeout = '1s'");
    const { version } = await tx.one<{ version: number }>("SELECT current_setting('server_version_num')::int AS version");
    const { path } = await tx.one<{ path: string[] }>("SELECT current_schemas(false)::text[] AS path");
    const names = mentions.map((m) => (m.schema === null ? quoteIdent(m.name) : quoteQualified(m.schema, m.name)));
    const { rows } = await tx.query<TableRow>(
      `SELECT m.at::int AS at, n.nspname AS schema, c.relname AS name, c.reltuples::float8 AS reltuples,
              pg_total_relation_size(c.oid)::text AS bytes,
              (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
         FROM unnest($1::text[]) WITH ORDINALITY AS m(name, at)
         JOIN pg_class c ON c.oid = to_regclass(m.name) AND c.relkind IN ('r', 'p', 'm')
         JOIN pg_namespace n ON n.oid = c.relnamespace`,
      [names],
    );
    const bySchema = new Map<string, TableFacts>();
    const byMention = new Map<string, TableFacts>();
    for (const row of rows) {
      const key = `${row.schema}\u0000${row.name}`;
      let facts = bySchema.get(key);
      if (!facts) {
        facts = await tableFacts(tx, row, parse);
        bySchema.set(key, facts);
      }
      const mention = mentions[row.at - 1]!;
      byMention.set(`${mention.schema ?? ""}\u0000${mention.name}`, facts);
    }
    const enums = await tx.query<{ schema: string; name: string; labels: string[] }>(
      `SELECT n.nspname AS schema, t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
        GROUP BY n.nspname, t.typname`,
    );
    const labels = new Map(enums.rows.map((row) => [`${row.schema}\u0000${row.name}`, row.labels]));
    return {
      serverVersion: version,
      table: (schema, name) => byMention.get(`${schema ?? ""}\u0000${name}`) ?? (schema === null ? null : (bySchema.get(`${schema}\u0000${name}`) ?? null)),
      enumLabels: (schema, name) => {
        if (schema !== null) return labels.get(`${schema}\u0000${name}`) ?? null;
        for (const s of path) {
          const found = labels.get(`${s}\u0000${name}`);
          if (found) return found;
        }
        return null;
      },
    };
  });
}

/** One table's facts; the exact reads (a row exists, a bounded count) sit in a savepoint so a timeout or a missing privilege loses only them. */
async function tableFacts(tx: Database, row: TableRow, parse: (sql: string) => ParseResult): Promise<TableFacts> {
  const table = quoteQualified(row.schema, row.name);
  const facts: TableFacts = {
    schema: row.schema,
    name: row.name,
    rowEstimate: row.reltuples >= 0 ? Math.round(row.reltuples) : null,
    totalBytes: Number(row.bytes),
    hasRows: null,
    columns: (row.columns ?? []).map((column) => {
      const typeName = parsedType(parse, column.type);
      return typeName ? { ...column, typeName } : column;
    }),
  };
  await tx.query("SAVEPOINT breakwater_lint_table");
  try {
    facts.hasRows = (await tx.one<{ yes: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${table}) AS yes`)).yes;
    // Never analyzed (-1), or analyzed empty but holding rows now: count, up to the bound.
    if (facts.rowEstimate === null || (facts.rowEstimate === 0 && facts.hasRows)) {
      const { n } = await tx.one<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${table} LIMIT $1) AS bounded`, [countBound + 1]);
      facts.rowEstimate = Math.min(n, countBound);
      facts.rowEstimateAtLeast = n > countBound;
    }
    await tx.query("RELEASE SAVEPOINT breakwater_lint_table");
  } catch (error) {
    if (sqlErrorInfo(error).sqlstate === undefined) throw error;
    await tx.query("ROLLBACK TO SAVEPOINT breakwater_lint_table");
  }
  return facts;
}

/**
 * format_type's text (`character varying(20)`, `timestamp(3) without time zone`, `"Role"[]`) as
 * the parse tree spells a type, read by PostgreSQL's own grammar from `SELECT NULL::<type>`, so a
 * rule compares it with a statement's TypeName node for node; undefined if it does not parse.
 */
function parsedType(parse: (sql: string) => ParseResult, type: string): TypeName | undefined {
  try {
    const select = parse(`SELECT NULL::${type}`).stmts?.[0]?.stmt.SelectStmt as { targetList?: { ResTarget?: { val?: { TypeCast?: { typeName?: TypeName } } } }[] } | undefined;
    return select?.targetList?.[0]?.ResTarget?.val?.TypeCast?.typeName;
  } catch {
    return undefined;
  }
}

const units = ["bytes", "kB", "MB", "GB", "TB"];

/** Bytes as pg_size_pretty writes them (powers of 1024), one decimal past a kB: `1.3 GB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A row count for a message: `100,000` below a million, `4.2M` above. */
export function formatRows(rows: number): string {
  if (rows < 1_000_000) return rows.toLocaleString("en-US");
  if (rows < 1_000_000_000) return `${(rows / 1_000_000).toFixed(1).replace(/\.0$/, "")}M`;
  return `${(rows / 1_000_000_000).toFixed(1).replace(/\.0$/, "")}B`;
}

/** "~4.2M rows, 1.3 GB" for a table of the live database, or null without a catalog or the table. */
export function describeSize(context: Pick<RuleContext, "catalog">, schema: string | null, table: string): string | null {
  const facts = context.catalog?.table(schema, table);
  if (!facts) return null;
  const rows =
    facts.rowEstimate === null ? "an unknown number of rows"
    : facts.rowEstimateAtLeast ? `over ${formatRows(facts.rowEstimate)} rows`
    : `~${formatRows(facts.rowEstimate)} ${facts.rowEstimate === 1 ? "row" : "rows"}`;
  return `${rows}, ${formatBytes(facts.totalBytes)}`;
}

/** Whether the live table is empty (a lock on it then costs nothing); null when the catalog cannot say. */
export function isEmpty(context: Pick<RuleContext, "catalog">, schema: string | null, table: string): boolean | null {
  const facts = context.catalog?.table(schema, table);
  if (!facts) return null;
  if (facts.hasRows !== undefined && facts.hasRows !== null) return !facts.hasRows;
  return facts.rowEstimate === null ? null : facts.rowEstimate === 0;
}
