// The shared interface of every operation (one module per operation, registered in registry.ts).
// An operation inspects the catalog once, then plans purely: input + facts → SQL actions
// labelled by phase. Only the runner executes them.
import type { StepInputs } from "@breakwater/runtime";
import type { z } from "zod";
import type { Database } from "@breakwater/runtime/internal";
import type { KeyColumn } from "../db/catalog.ts";
import type { TableRef } from "../db/quote.ts";

export type LockMode = "ACCESS SHARE" | "ROW EXCLUSIVE" | "SHARE UPDATE EXCLUSIVE" | "SHARE ROW EXCLUSIVE" | "ACCESS EXCLUSIVE";

export interface Action {
  label: string;
  statements: string[];
  /** Taken explicitly (LOCK TABLE … IN mode MODE) before the statements, so its hold time is measured. */
  lock?: { tables: TableRef[]; mode: LockMode };
  /** Run outside a transaction (CREATE INDEX CONCURRENTLY). Must be idempotent: skipped when `skipIf` returns true. */
  outsideTransaction?: { skipIf: string; cleanupBeforeRetry: string[] };
  /** Checks evaluated inside the transaction, before COMMIT: a failure leaves nothing behind. */
  checks?: CheckSpec[];
  /** Committing this action passes the point where `rollback` no longer applies (use `rollbackAfterContract`). */
  commitPoint?: boolean;
}

export type Expectation =
  | { equals: number | boolean | string }
  /** equal to the sum of values measured before the transform */
  | { equalsMeasures: string[] };

export type CheckSpec = ValueCheck | RowCheck;

export interface ValueCheck {
  name: string;
  /** one row, one column: the actual value */
  sql: string;
  expect: Expectation;
}

/**
 * A per-row invariant: no row of `table` for which `differs` holds (expected 0, the actual value
 * is the count of such rows). In the verify phase the runner reads it in keyset batches over `key`,
 * each a short read-only query, and stops at the first batch that finds a wrong row; elsewhere
 * (inside a contract action, a final check) it is one query over the table.
 */
export interface RowCheck {
  name: string;
  table: TableRef;
  /** the table's primary key (the batches follow it) */
  key: KeyColumn[];
  /** SQL predicate over one row of `table`, true for a wrong row */
  differs: string;
  /** SQL text describing a wrong row in the failure (default: its key, `id = 42`) */
  describe?: string;
}

export interface Measure {
  name: string;
  label: string;
  sql: string;
}

export interface SnapshotSpec {
  /** where the rows are copied: a table in the breakwater schema */
  into: TableRef;
  table: TableRef;
  key: KeyColumn[];
  columns: string[];
  where: string | null;
  /** restore these columns from the snapshot when rolling back before the contract */
  restoreOnRollback: boolean;
  /** keep the values as text, so the snapshot does not depend on a type the run replaces */
  asText?: boolean;
}

export interface TransformSpec {
  label: string;
  table: TableRef;
  key: KeyColumn[];
  /** SQL assignments: `"a" = expr, "b" = expr` */
  set: string;
  where: string | null;
  /**
   * Batches are windows of `size` table rows (WHERE applied inside the window) instead of
   * `size` matching rows: best when most rows match or progress should count table rows.
   */
  windowOverAllRows?: boolean;
  /**
   * Re-running the SET on a row that no longer matches the WHERE is impossible by construction
   * (the WHERE is "not yet transformed"), so batches may follow the physical order (ctid ranges).
   */
  idempotent?: boolean;
  /**
   * The operation's trigger keeps every row this transform writes right against concurrent
   * writes (a shadow column), so it needs no fence: it runs before maintenance mode, which then
   * covers only the verification and the contract.
   */
  beforeMaintenance?: boolean;
  /**
   * Rows inserted once the transform has started get their value from a trigger or a default
   * (set by the runner for online and before-maintenance fills): the batches stop at the end the
   * table had when the transform started instead of chasing the application's inserts.
   */
  newRowsCovered?: boolean;
}

export interface OperationPlan {
  /** human lines for status and the report */
  summary: string[];
  expand: Action[];
  snapshots: SnapshotSpec[];
  measures: Measure[];
  transforms: TransformSpec[];
  checks: CheckSpec[];
  /**
   * After the transforms that run before maintenance mode, and before it: what needs no fence,
   * such as indexes built CONCURRENTLY and NOT VALID checks validated on a shadow column.
   */
  prepare?: Action[];
  contract: Action[];
  /** checks of the final state, after the contract; reported with their numbers */
  finalChecks: CheckSpec[];
  /** undoes expand (and contract actions before the commit point); idempotent */
  rollback: Action[];
  /** undoes a committed contract; undefined when the operation cannot be undone */
  rollbackAfterContract: Action[] | undefined;
  /** what the report counts as "rows changed": the sum of these measures, per label */
  changes: { label: string; measure: string }[];
  /** limits worth telling the user (e.g. an enum value PostgreSQL cannot remove) */
  notes: string[];
  /**
   * false when no action of the operation needs the application's writers stopped (an index built
   * CONCURRENTLY, a foreign key added NOT VALID then validated, a catalog-only ADD COLUMN): a plan
   * of such steps alone runs without maintenance mode and without the write fence. Default true.
   */
  needsMaintenance?: boolean;
  /**
   * Online: a sequence the operation's trigger advances on every application write of the old
   * form (e.g. a removed enum value). The contract waits until it stops advancing, and refuses
   * (resumable) while the application still writes it.
   */
  oldFormWrites?: { sequence: string; what: string };
  /**
   * What a completed run set aside instead of dropping (a column or type renamed aside, the
   * trigger keeping it filled), so a rollback after completion is a rename: `breakwater cleanup`
   * drops it. Idempotent.
   */
  cleanup?: Action[];
}

export interface PlanContext {
  runId: string;
  opIndex: number;
  /** a table in the breakwater schema reserved for this operation's n-th snapshot */
  snapshotTable(n: number): TableRef;
  /** short unique name for objects this operation creates (functions, triggers) */
  objectName(suffix: string): string;
  shadowThresholdRows: number;
  /**
   * The plan runs online: no maintenance mode, no write fence, the application reads and writes
   * throughout. The operation keeps old and new forms in step with triggers, takes no snapshot
   * where it never writes the original data, and verifies per row.
   */
  online: boolean;
}

/**
 * True when a schema accepts exactly the plan input type `@breakwater/runtime` declares for
 * `kind`: plan files type-check against the runtime's types, and the command line validates
 * with the schema, so the two must not drift.
 */
export type SchemaAccepts<Kind extends keyof StepInputs, Schema extends z.ZodType> = Same<z.input<Schema>, StepInputs[Kind]>;

/** True when each type is assignable to the other. */
export type Same<A, B> =
  [A] extends [B] ?
    [B] extends [A] ?
      true
    : false
  : false;

/** Fails to compile unless given `true`: `type _Accepts = Proof<SchemaAccepts<"sql", typeof inputSchema>>`. */
export type Proof<T extends true> = T;

export interface Operation<Input = unknown, Facts = unknown, Kind extends keyof StepInputs = keyof StepInputs> {
  kind: Kind;
  schema: z.ZodType<Input>;
  describe(input: Input): string;
  /** reads the catalog; throws BW_PREFLIGHT_FAILED with a clear message when the step cannot run */
  inspect(db: Database, input: Input, context: PlanContext): Promise<Facts>;
  plan(input: Input, facts: Facts, context: PlanContext): OperationPlan;
  /**
   * Why this step cannot run in an online plan, or null when it can. An operation without it
   * never runs online. Checked before anything touches the database.
   */
  onlineRefusal?(input: Input): string | null;
}

export function emptyPlan(): OperationPlan {
  return {
    summary: [],
    expand: [],
    snapshots: [],
    measures: [],
    transforms: [],
    checks: [],
    contract: [],
    finalChecks: [],
    rollback: [],
    rollbackAfterContract: [],
    changes: [],
    notes: [],
  };
}
