// CREATE INDEX without CONCURRENTLY holds a SHARE lock for the whole build: no writes meanwhile.
import { existing, relationOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const indexNotConcurrent: Rule = {
  id: "index-not-concurrent",
  defaultSeverity: "error",
  lock: "SHARE",
  blocks: ["writes"],
  why: "Building an index reads the whole table under a SHARE lock: every INSERT, UPDATE and DELETE waits until it is done.",
  fix: "CREATE INDEX CONCURRENTLY, alone in its migration file and outside a transaction (breakwater operation createIndex).",
  kinds: ["IndexStmt"],
  check(statement, context) {
    const table = relationOf(statement);
    if (statement.kind !== "IndexStmt" || statement.node.concurrent || !existing(table, statement, context)) return [];
    return [
      {
        message: `CREATE INDEX on ${tableName(table)} without CONCURRENTLY blocks writes to the table while the index builds.`,
        fix: `${statement.text.replace(/^(CREATE\s+(?:UNIQUE\s+)?INDEX)\s+/i, "$1 CONCURRENTLY ")}, alone in its migration file (breakwater operation createIndex).`,
      },
    ];
  },
};
