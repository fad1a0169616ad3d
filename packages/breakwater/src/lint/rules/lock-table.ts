// An explicit LOCK TABLE in a migration holds its lock until the migration commits.
import { blocksWrites, existing, lockByNumber, tablesOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const lockTable: Rule = {
  id: "lock-table",
  defaultSeverity: "warning",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "An explicit lock is held until the transaction ends: everything after it in the file runs with the table blocked.",
  fix: "Let each statement take its own lock, with SET lock_timeout; breakwater's runner measures and bounds the locks it takes.",
  kinds: ["LockStmt"],
  check(statement, context) {
    if (statement.kind !== "LockStmt") return [];
    const lock = lockByNumber(Number(statement.node.mode ?? 8));
    if (!blocksWrites(lock)) return [];
    return tablesOf(statement)
      .filter((t) => existing(t, statement, context))
      .map((t) => ({
        lock,
        message: `LOCK TABLE ${tableName(t)} IN ${lock} MODE blocks ${lock === "ACCESS EXCLUSIVE" ? "reads and writes" : "writes"} until the migration commits.`,
      }));
  },
};
