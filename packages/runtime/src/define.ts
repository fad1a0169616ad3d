// What plan files and breakwater.config.ts import: plain-data types and identity helpers. The
// command line validates the same shapes (its schemas are checked against these types), so a
// plan type-checks here exactly when breakwater accepts it.

/** A table by name (schema `public`) or by schema and name. */
export type TableInput = string | { schema: string; name: string };

/** Rename an enum value on every column using the enum, then remove the old value. */
export interface RenameEnumValueInput {
  op: "renameEnumValue";
  /** default "public" */
  schema?: string;
  enum: string;
  from: string;
  to: string;
  /** values to create besides `to`, each once; listing `to` again is harmless, listing `from` is refused */
  add?: string[];
  /** the final order of the values; by default `to` takes the place of `from`, followed by `add` */
  values?: string[];
  /** how the old value leaves the type (default "auto": shadow columns on large tables, else typeSwap) */
  contract?: "auto" | "shadow" | "typeSwap" | "renameValue";
  /**
   * The application serving during and after the run already reads the new values. Without it
   * the run keeps full maintenance until `breakwater maintenance off`.
   */
  appReadsNewValues?: boolean;
}

/** ALTER TYPE … ADD VALUE, committed on its own before later steps use the value. */
export interface AddEnumValueInput {
  op: "addEnumValue";
  /** default "public" */
  schema?: string;
  enum: string;
  value: string;
  before?: string;
  after?: string;
}

/** `UPDATE table SET … WHERE …` in resumable keyset batches, with a snapshot for rollback. */
export interface BackfillInput {
  op: "backfill";
  table: TableInput;
  /** column → SQL expression, e.g. `{ role: "'EMPLOYEE'" }` */
  set: Record<string, string>;
  /** SQL predicate choosing the rows, e.g. `"role" = 'USER'` */
  where?: string;
}

/** One key of an index: a column name, or a column or SQL expression with its sort order and operator class. */
export type IndexKey = string | { column: string; sort?: "asc" | "desc"; opclass?: string } | { expression: string; sort?: "asc" | "desc"; opclass?: string };

/** CREATE INDEX CONCURRENTLY: reads and writes go on while it builds; a failed build leaves nothing behind. */
export interface CreateIndexInput {
  op: "createIndex";
  table: TableInput;
  /** default: Prisma's name, `<Table>_<columns>_idx` (`_key` when unique); required with an expression key */
  name?: string;
  columns: IndexKey[];
  unique?: boolean;
  /** partial index predicate, e.g. `"deletedAt" IS NULL` */
  where?: string;
  /** default "btree" */
  using?: "btree" | "hash" | "gin" | "gist" | "brin";
  /** default "expand" (before the plan's transforms); "contract" builds it after them */
  phase?: "expand" | "contract";
}

export type ReferentialAction = "CASCADE" | "RESTRICT" | "NO ACTION" | "SET NULL" | "SET DEFAULT";

/** A foreign key added NOT VALID (a brief lock), then validated while reads and writes go on. */
export interface AddForeignKeyInput {
  op: "addForeignKey";
  table: TableInput;
  columns: string[];
  references: { table: TableInput; columns: string[] };
  /** default: Prisma's name, `<Table>_<columns>_fkey` */
  name?: string;
  /** default "NO ACTION", as in SQL (Prisma writes RESTRICT for a required relation, SET NULL for an optional one) */
  onDelete?: ReferentialAction;
  /** default "NO ACTION", as in SQL (Prisma writes CASCADE) */
  onUpdate?: ReferentialAction;
  /** default "expand" (before the plan's transforms); "contract" validates after them */
  phase?: "expand" | "contract";
}

/** SET NOT NULL without a long exclusive lock; `fill` gives the existing NULL rows a value, in batches. */
export interface SetNotNullInput {
  op: "setNotNull";
  table: TableInput;
  column: string;
  /** SQL expression for the rows that hold NULL, e.g. `'unknown'` or `now()`; without it, NULL rows are refused */
  fill?: string;
}

/** Raw SQL in the expand or contract phase, with optional `down` SQL used by rollback. */
export interface SqlInput {
  op: "sql";
  up: string;
  down?: string;
  /** default "expand" */
  phase?: "expand" | "contract";
  label?: string;
}

/** Rename a column (Prisma: a field's `@map`); online, both names work until the contract. */
export interface RenameColumnInput {
  op: "renameColumn";
  table: TableInput;
  from: string;
  to: string;
}

/** Rename a table (Prisma: `@@map`); online, the old name stays a view over the new one until the contract. */
export interface RenameTableInput {
  op: "renameTable";
  from: TableInput;
  /** the new name, in the same schema */
  to: string;
}

/** Change a column's type (Prisma: a field's type or @db attribute) without a long exclusive lock; reversible until cleanup. */
export interface ChangeColumnTypeInput {
  op: "changeColumnType";
  table: TableInput;
  column: string;
  /** the new SQL type, e.g. "bigint", "numeric(12,2)", "varchar(80)", "timestamptz" */
  type: string;
  /** SQL expression of the row giving the new value, e.g. `round("price", 2)`; default `"column"::type` (refused when it would change a value) */
  using?: string;
}

/** Add a column (Prisma: a new field); a volatile default fills the existing rows in batches instead of rewriting the table. */
export interface AddColumnInput {
  op: "addColumn";
  table: TableInput;
  column: string;
  /** SQL type, e.g. "uuid", "timestamp(3)", "text" */
  type: string;
  /** SQL expression, e.g. "gen_random_uuid()", "CURRENT_TIMESTAMP", "'active'" */
  default?: string;
  /** default false */
  notNull?: boolean;
}

/** Every operation's input by its `op` name: a plan step is one of these. */
export interface StepInputs {
  changeColumnType: ChangeColumnTypeInput;
  addColumn: AddColumnInput;
  renameEnumValue: RenameEnumValueInput;
  addEnumValue: AddEnumValueInput;
  backfill: BackfillInput;
  createIndex: CreateIndexInput;
  addForeignKey: AddForeignKeyInput;
  setNotNull: SetNotNullInput;
  sql: SqlInput;
  renameColumn: RenameColumnInput;
  renameTable: RenameTableInput;
}

export type StepInput = StepInputs[keyof StepInputs];

export interface UserCheck {
  name: string;
  /** one row, one column */
  sql: string;
  /** a value, or "before": the same query's value measured before the transform */
  expect: number | boolean | string;
}

export interface MigrationInput {
  id: string;
  description?: string;
  steps: StepInput[];
  checks?: UserCheck[];
  /** overrides of the configured batching for this plan */
  batch?: { size?: number; maxMs?: number; pauseMs?: number };
  /** "snapshot": only the targeted snapshot (default); "full" / "both": also a pg_dump before the transform */
  backup?: "snapshot" | "full" | "both";
  /**
   * Leave maintenance mode on after a successful run (the write fence is lowered), for a
   * contract migration deployed next — `breakwater deploy`, then `breakwater maintenance off`.
   */
  keepMaintenance?: boolean;
  /**
   * Online: no maintenance mode and no write fence; the application keeps reading and writing
   * during the whole run, and triggers keep the old and the new form of the data in step.
   * Every step must support it (the run refuses at preflight otherwise).
   */
  online?: boolean;
}

/** breakwater.config.ts: every key is optional. */
export interface BreakwaterConfig {
  /** default: the DATABASE_URL environment variable */
  databaseUrl?: string;
  /**
   * A connection that reaches PostgreSQL itself, not through a transaction-mode pooler
   * (PgBouncer): used by run, deploy and the postgres maintenance store when databaseUrl goes
   * through one. Default: the DIRECT_URL environment variable (Prisma's convention).
   */
  directUrl?: string;
  maintenance?: {
    store?: "file" | "postgres";
    /** the file store's path (default maintenance/enabled.lock) */
    file?: string;
    /** during a run: read-only (default, only writes refused) or full */
    mode?: "read-only" | "full";
    /** refuse writes to the transformed tables in the database itself during a run (default true) */
    fence?: boolean;
    retryAfter?: number;
  };
  lock?: { timeoutMs?: number; retries?: number; backoffMs?: number; maxBackoffMs?: number };
  batch?: { size?: number; maxMs?: number; pauseMs?: number };
  backup?: {
    dir?: string;
    format?: "custom" | "directory";
    jobs?: number;
    pgDump?: string;
    pgRestore?: string;
    /** run pg_dump / pg_restore through this, e.g. ["docker", "exec", "-i", "postgres-production"] */
    commandPrefix?: string[];
    /** what a run takes before its transform when the plan does not say: snapshot (default), full or both */
    beforeRun?: "snapshot" | "full" | "both";
    /** a full backup before `breakwater deploy` applies a file: never (default), destructive (drops or rewrites data), always */
    beforeDeploy?: "never" | "destructive" | "always";
  };
  /** tables with at least this many rows get the shadow-column contract under contract: "auto" */
  shadowThresholdRows?: number;
  throttle?: {
    /** at most this many transform batches per second (default: as fast as batch.maxMs allows) */
    maxBatchRate?: number;
    /** the transform waits between batches while a standby replays more than this far behind (default 1000) */
    maxReplicaLagMs?: number;
    /**
     * a flag file, relative to the working directory: while it exists, the transform (and the
     * verification) holds between two batches, as with `breakwater pause` (default: none)
     */
    pauseFile?: string;
  };
  /** how long a run retries a lost connection before it stops, resumable */
  reconnect?: { timeoutMs?: number };
  reportDir?: string;
  lint?: {
    /** per rule id: off, warning or error (default: the rule's own severity; `breakwater lint --list-rules`) */
    rules?: Record<string, "off" | "warning" | "error">;
    /** `breakwater deploy` / `boot` lint the pending files first and refuse error findings (default true; `--no-lint`) */
    deploy?: boolean;
  };
}

/** Identity with types: `export default defineConfig({ … })` in breakwater.config.ts. */
export function defineConfig(config: BreakwaterConfig): BreakwaterConfig {
  return config;
}

/** Identity with types: `export default defineMigration({ … })` in a plan file. */
export function defineMigration(migration: MigrationInput): MigrationInput {
  return migration;
}

/** Plan step: rename an enum value on every column using the enum, then remove the old value. */
export function renameEnumValue(input: Omit<RenameEnumValueInput, "op">): RenameEnumValueInput {
  return { op: "renameEnumValue", ...input };
}

/** Plan step: add a value to an enum, committed on its own. */
export function addEnumValue(input: Omit<AddEnumValueInput, "op">): AddEnumValueInput {
  return { op: "addEnumValue", ...input };
}

/** Plan step: `UPDATE table SET … WHERE …` in resumable batches, with a snapshot for rollback. */
export function backfill(input: Omit<BackfillInput, "op">): BackfillInput {
  return { op: "backfill", ...input };
}

/** Plan step: CREATE INDEX CONCURRENTLY, a failed build dropped and a leftover invalid index rebuilt. */
export function createIndex(input: Omit<CreateIndexInput, "op">): CreateIndexInput {
  return { op: "createIndex", ...input };
}

/** Plan step: a foreign key added NOT VALID, then validated without blocking reads or writes. */
export function addForeignKey(input: Omit<AddForeignKeyInput, "op">): AddForeignKeyInput {
  return { op: "addForeignKey", ...input };
}

/** Plan step: SET NOT NULL proven by a validated CHECK, existing NULL rows filled in batches. */
export function setNotNull(input: Omit<SetNotNullInput, "op">): SetNotNullInput {
  return { op: "setNotNull", ...input };
}

/** Plan step: raw SQL with optional down SQL for rollback. */
export function sql(up: string, options: Omit<SqlInput, "op" | "up"> = {}): SqlInput {
  return { op: "sql", up, ...options };
}

/** Plan step: rename a column; online, the old and the new name both work until the contract. */
export function renameColumn(input: Omit<RenameColumnInput, "op">): RenameColumnInput {
  return { op: "renameColumn", ...input };
}

/** Plan step: rename a table; online, the old name stays usable (a view) until the contract. */
export function renameTable(input: Omit<RenameTableInput, "op">): RenameTableInput {
  return { op: "renameTable", ...input };
}

/** Plan step: change a column's type; a column of the new type filled in batches and swapped in by rename (or catalog only when binary-coercible). */
export function changeColumnType(input: Omit<ChangeColumnTypeInput, "op">): ChangeColumnTypeInput {
  return { op: "changeColumnType", ...input };
}

/** Plan step: add a column; a volatile default fills the existing rows in batches instead of rewriting the table. */
export function addColumn(input: Omit<AddColumnInput, "op">): AddColumnInput {
  return { op: "addColumn", ...input };
}
