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

/** Raw SQL in the expand or contract phase, with optional `down` SQL used by rollback. */
export interface SqlInput {
  op: "sql";
  up: string;
  down?: string;
  /** default "expand" */
  phase?: "expand" | "contract";
  label?: string;
}

/** Every operation's input by its `op` name: a plan step is one of these. */
export interface StepInputs {
  renameEnumValue: RenameEnumValueInput;
  addEnumValue: AddEnumValueInput;
  backfill: BackfillInput;
  sql: SqlInput;
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
}

/** breakwater.config.ts: every key is optional. */
export interface BreakwaterConfig {
  /** default: the DATABASE_URL environment variable */
  databaseUrl?: string;
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
  /** at most this many transform batches per second (default: as fast as batch.maxMs allows) */
  throttle?: { maxBatchRate?: number };
  /** how long a run retries a lost connection before it stops, resumable */
  reconnect?: { timeoutMs?: number };
  reportDir?: string;
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

/** Plan step: raw SQL with optional down SQL for rollback. */
export function sql(up: string, options: Omit<SqlInput, "op" | "up"> = {}): SqlInput {
  return { op: "sql", up, ...options };
}
