// CONCURRENTLY cannot run inside a transaction block (SQLSTATE 25001): the file fails when run.
import { hasOption } from "../nodes.ts";
import type { LintStatement, Rule } from "../types.ts";

/** CREATE INDEX / DROP INDEX / REINDEX … CONCURRENTLY: statements PostgreSQL refuses in a transaction block. */
export function concurrentStatement(statement: LintStatement): string | null {
  if (statement.kind === "IndexStmt" && statement.node.concurrent) return "CREATE INDEX CONCURRENTLY";
  if (statement.kind === "DropStmt" && statement.node.concurrent) return "DROP INDEX CONCURRENTLY";
  if (statement.kind === "ReindexStmt" && hasOption(statement.node, "concurrently")) return "REINDEX CONCURRENTLY";
  return null;
}

export const concurrentlyInTransaction: Rule = {
  id: "concurrently-in-transaction",
  defaultSeverity: "error",
  lock: null,
  blocks: [],
  why: "PostgreSQL refuses CONCURRENTLY inside a transaction block (25001): the migration fails at this statement.",
  fix: "Move the statement out of BEGIN … COMMIT, into a migration file of its own.",
  kinds: ["IndexStmt", "DropStmt", "ReindexStmt"],
  check(statement) {
    const what = concurrentStatement(statement);
    if (!what || !statement.inTransaction) return [];
    return [{ message: `${what} inside BEGIN … COMMIT fails: it cannot run inside a transaction block (25001).` }];
  },
};
