// The linter's shared vocabulary: a file split into statements with their places, a rule (one
// module each under rules/), and a finding with the lock the statement takes and the fix.
import type { LockMode } from "../operations/types.ts";
import type { TypeName } from "./nodes.ts";

/** PostgreSQL's table lock modes (the runner's LockMode, plus the ones only statements take: CREATE INDEX's SHARE). */
export type TableLock = LockMode | "ROW SHARE" | "SHARE" | "EXCLUSIVE";

export type Severity = "warning" | "error";
export type RuleSetting = Severity | "off";

/**
 * How the file is run: Prisma runs a migration.sql as one script with no implicit transaction;
 * "sql" files statement by statement; breakwater runs a plan's sql step in one transaction with
 * lock_timeout set.
 */
export type Runner = "prisma" | "sql" | "plan";

export interface LintStatement {
  /** the statement's text, without the comments and blank lines before it */
  text: string;
  /** the parse node's name: AlterTableStmt, IndexStmt, TransactionStmt, … */
  kind: string;
  node: Record<string, unknown>;
  /** 1-based line and column of its first character, and of its last */
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** position in the file, from 0 */
  index: number;
  /** inside an explicit BEGIN … COMMIT of the file */
  inTransaction: boolean;
  /** the `-- breakwater-ignore <rule>: <reason>` comments just before it */
  ignores: Ignore[];
}

export interface Ignore {
  rule: string;
  reason: string;
  line: number;
  column: number;
  /** ignore-file: the whole file */
  file: boolean;
}

export interface LintFile {
  /** as given (relative to the working directory), or `<stdin>` */
  path: string;
  text: string;
  runner: Runner;
  statements: LintStatement[];
  /** `-- breakwater-ignore-file <rule>: <reason>` */
  fileIgnores: Ignore[];
  /** the file does not parse: PostgreSQL's message and where */
  parseError: { message: string; line: number; column: number } | null;
}

/** What the live database says about a table (catalog mode); absent without a database. */
export interface TableFacts {
  schema: string;
  name: string;
  /** pg_class.reltuples (-1 / never analyzed: null) */
  rowEstimate: number | null;
  totalBytes: number;
  /** the estimate came from a count stopped at its bound: the table holds at least that many rows */
  rowEstimateAtLeast?: boolean;
  /** whether a row exists, read exactly (a stale reltuples of 0 must not make a busy table look empty); null when unreadable */
  hasRows?: boolean | null;
  /** the columns and their types (format_type), in order; typeName is that text as PostgreSQL's parser reads it (absent when it does not parse) */
  columns?: { name: string; type: string; typeName?: TypeName }[];
}

export interface CatalogFacts {
  /** server_version_num, e.g. 150004 */
  serverVersion: number;
  /** `schema.name` → facts (search_path resolved by the engine) */
  table(schema: string | null, name: string): TableFacts | null;
  /** an enum type's labels in order (unqualified names resolved by search_path), null when no such enum */
  enumLabels?(schema: string | null, name: string): string[] | null;
}

export interface RuleContext {
  file: LintFile;
  /** every file linted in this run, in order (earlier pending files come first) */
  files: LintFile[];
  /** the table was created earlier in this file or in an earlier file of the run: it is new, nobody uses it yet */
  createdEarlier(schema: string | null, name: string, before: LintStatement): boolean;
  /** null without a reachable database */
  catalog: CatalogFacts | null;
  /** from the catalog, else the configured or assumed version (PostgreSQL 15: 150000) */
  serverVersion: number;
}

/** What a rule reports about one statement. */
export interface RuleHit {
  message: string;
  /** overrides the rule's fix for this statement (e.g. with the table's name) */
  fix?: string;
  /** overrides the rule's lock when it depends on the statement */
  lock?: TableLock;
  /** overrides the rule's default severity for this statement (a setting still wins) */
  severity?: Severity;
  /** overrides the rule's `rewrites` for this statement */
  rewrites?: boolean;
}

export interface Rule {
  /** stable, kebab-case: `index-not-concurrent`, `prisma-enum-swap` */
  id: string;
  defaultSeverity: Severity;
  /** the lock the statement takes, and what it blocks while held */
  lock: TableLock | null;
  blocks: ("reads" | "writes")[];
  /** the statement rewrites the table (a new relfilenode: every row copied); absent: it does not */
  rewrites?: boolean;
  /** one line: why it is dangerous on a large, busy table */
  why: string;
  /** the safe SQL rewrite, or the breakwater command / operation that makes the change safely */
  fix: string;
  /** the statement kinds (libpg-query's node names) the rule reads: it is called for those only; absent: every statement */
  kinds?: readonly string[];
  /** reads one statement */
  check(statement: LintStatement, context: RuleContext): RuleHit[];
}

export interface Finding {
  rule: string;
  severity: Severity;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** the statement's text (for code frames and SARIF snippets) */
  statement: string;
  message: string;
  lock: TableLock | null;
  blocks: ("reads" | "writes")[];
  /** the statement rewrites the table (set only by rules that say so) */
  rewrites?: boolean;
  why: string;
  fix: string;
}
