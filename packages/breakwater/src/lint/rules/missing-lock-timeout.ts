// A statement waiting for a strong lock queues every later query on the table behind it: without
// lock_timeout, one long transaction turns a brief ALTER into an outage.
import { alterCommands, blocksWrites, constraintsOf, existing, statementLock, tableName, tableOfIndex, type ColumnDef, type Constraint, type RangeVar } from "../nodes.ts";
import type { LintStatement, Rule, RuleContext, TableLock } from "../types.ts";

/**
 * The tables a statement's foreign keys reference: each gets SHARE ROW EXCLUSIVE, also when the
 * referencing table is new (CREATE TABLE … REFERENCES, or Prisma's ADD CONSTRAINT after its CREATE TABLE).
 */
function referencedTables(statement: LintStatement): RangeVar[] {
  const node = statement.node as { tableElts?: { ColumnDef?: ColumnDef; Constraint?: Constraint }[] };
  const constraints: Constraint[] =
    statement.kind === "CreateStmt" ?
      (node.tableElts ?? []).flatMap((e) =>
        e.Constraint ? [e.Constraint]
        : e.ColumnDef ? constraintsOf(e.ColumnDef)
        : [],
      )
    : alterCommands(statement).flatMap((c) =>
        c.subtype === "AT_AddConstraint" && c.def?.Constraint ? [c.def.Constraint]
        : c.def?.ColumnDef ? constraintsOf(c.def.ColumnDef)
        : [],
      );
  return constraints.flatMap((c) => {
    const table = (c as Constraint & { pktable?: RangeVar }).pktable;
    return c.contype === "CONSTR_FOREIGN" && table?.relname ? [table] : [];
  });
}

/**
 * DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table: the one an earlier
 * statement of the run built it on, else a table the file does not name (taken to exist).
 */
function droppedIndexTables(statement: LintStatement, context: RuleContext): RangeVar[] {
  const node = statement.node as { removeType?: string; concurrent?: boolean; objects?: { List?: { items?: { String?: { sval?: string } }[] } }[] };
  if (statement.kind !== "DropStmt" || node.removeType !== "OBJECT_INDEX" || node.concurrent) return [];
  return (node.objects ?? []).map((object) => {
    const name = object.List?.items?.at(-1)?.String?.sval ?? "";
    return tableOfIndex(context.files, name) ?? { relname: `the table of index ${name}` };
  });
}

/** The locks the statement takes that block writes on tables that existed before the run. */
function writeBlockingLocks(statement: LintStatement, context: RuleContext): { table: RangeVar; lock: TableLock }[] {
  const own = statementLock(statement);
  const locks = [
    ...(own ? [own] : []),
    ...referencedTables(statement).map((table) => ({ table, lock: "SHARE ROW EXCLUSIVE" as TableLock })),
    ...droppedIndexTables(statement, context).map((table) => ({ table, lock: "ACCESS EXCLUSIVE" as TableLock })),
  ];
  return locks.filter((l) => blocksWrites(l.lock) && existing(l.table, statement, context));
}

/** SET [LOCAL] lock_timeout to anything but 0 / DEFAULT. */
function setsLockTimeout(statement: LintStatement): boolean {
  const node = statement.node as { kind?: string; name?: string; args?: { A_Const?: { ival?: { ival?: number }; sval?: { sval?: string } } }[] };
  if (statement.kind !== "VariableSetStmt" || node.name !== "lock_timeout" || node.kind !== "VAR_SET_VALUE") return false;
  const value = node.args?.[0]?.A_Const;
  const text = value?.sval?.sval ?? String(value?.ival?.ival ?? 0);
  return !/^0+\s*(ms|s|min)?$/i.test(text.trim());
}

/**
 * The file's first statement that takes a write-blocking lock with no SET lock_timeout before it
 * (one finding per file), worked out once per file: the context is the file's.
 */
const firstUnboundedOf = new WeakMap<RuleContext, { statement: LintStatement; taken: { table: RangeVar; lock: TableLock } } | null>();
function firstUnbounded(context: RuleContext) {
  if (!firstUnboundedOf.has(context)) {
    let first = null;
    // breakwater's runner sets lock_timeout (with retries) on a plan's every step.
    const statements = context.file.runner === "plan" ? [] : context.file.statements;
    for (const statement of statements) {
      if (setsLockTimeout(statement)) break;
      const [taken] = writeBlockingLocks(statement, context);
      if (taken) {
        first = { statement, taken };
        break;
      }
    }
    firstUnboundedOf.set(context, first);
  }
  return firstUnboundedOf.get(context)!;
}

export const missingLockTimeout: Rule = {
  id: "missing-lock-timeout",
  defaultSeverity: "warning",
  lock: null,
  blocks: [],
  why: "While it waits for its lock behind a long query, the statement queues every later read and write on the table: without lock_timeout the wait has no bound.",
  fix: "SET lock_timeout = '5s'; at the top of the file (and retry on 55P03), as breakwater's own runner does.",
  check(statement, context) {
    const first = firstUnbounded(context);
    if (first?.statement !== statement) return [];
    const { lock, table } = first.taken;
    return [{ lock, message: `This file takes ${lock} on ${tableName(table)} without SET lock_timeout first: waiting for it queues every query on the table.` }];
  },
};
