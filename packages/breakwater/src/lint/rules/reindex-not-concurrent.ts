// REINDEX without CONCURRENTLY blocks writes (and reads that use the index) while it rebuilds.
import { existing, hasOption, relationOf } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const reindexNotConcurrent: Rule = {
  id: "reindex-not-concurrent",
  defaultSeverity: "error",
  lock: "SHARE",
  blocks: ["writes"],
  why: "REINDEX holds SHARE on the table (writes wait) and ACCESS EXCLUSIVE on each index (queries using it wait) for the whole rebuild.",
  fix: "REINDEX … CONCURRENTLY (PostgreSQL 12+), outside a transaction, in a file of its own.",
  kinds: ["ReindexStmt"],
  check(statement, context) {
    if (statement.kind !== "ReindexStmt" || hasOption(statement.node, "concurrently")) return [];
    const table = relationOf(statement);
    if (table !== null && !existing(table, statement, context)) return [];
    return [
      {
        message: "REINDEX without CONCURRENTLY blocks writes to the table while it rebuilds.",
        fix:
          context.serverVersion >= 120000 ?
            statement.text.replace(/^REINDEX\s+(\([^)]*\)\s*)?(TABLE|INDEX|SCHEMA|DATABASE|SYSTEM)\s+/i, "REINDEX $1$2 CONCURRENTLY ")
          : "Upgrade to PostgreSQL 12+ for REINDEX CONCURRENTLY, or build a new index CONCURRENTLY and drop the old one.",
      },
    ];
  },
};
