// A statement waiting for a strong lock queues every later query on the table behind it: without
// lock_timeout, one long transaction turns a brief ALTER into an outage.
import { blocksWrites, existing, statementLock, tableName } from "../nodes.ts";
import type { LintStatement, Rule } from "../types.ts";

/** SET [LOCAL] lock_timeout to anything but 0 / DEFAULT. */
function setsLockTimeout(statement: LintStatement): boolean {
  const node = statement.node as { kind?: string; name?: string; args?: { A_Const?: { ival?: { ival?: number }; sval?: { sval?: string } } }[] };
  if (statement.kind !== "VariableSetStmt" || node.name !== "lock_timeout" || node.kind !== "VAR_SET_VALUE") return false;
  const value = node.args?.[0]?.A_Const;
  const text = value?.sval?.sval ?? String(value?.ival?.ival ?? 0);
  return !/^0+\s*(ms|s|min)?$/i.test(text.trim());
}

export const missingLockTimeout: Rule = {
  id: "missing-lock-timeout",
  defaultSeverity: "warning",
  lock: null,
  blocks: [],
  why: "While it waits for its lock behind a long query, the statement queues every later read and write on the table: without lock_timeout the wait has no bound.",
  fix: "SET lock_timeout = '5s'; at the top of the file (and retry on 55P03), as breakwater's own runner does.",
  check(statement, context) {
    const taken = statementLock(statement);
    if (!taken || !blocksWrites(taken.lock) || !existing(taken.table, statement, context)) return [];
    const before = context.file.statements.slice(0, context.file.statements.indexOf(statement));
    if (before.some(setsLockTimeout)) return [];
    // One finding per file: on the first statement that needs it.
    const earlier = before.some((s) => {
      const lock = statementLock(s);
      return lock !== null && blocksWrites(lock.lock) && existing(lock.table, s, context);
    });
    if (earlier) return [];
    return [
      { lock: taken.lock, message: `This file takes ${taken.lock} on ${tableName(taken.table)} without SET lock_timeout first: waiting for it queues every query on the table.` },
    ];
  },
};
