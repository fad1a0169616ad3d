// TRUNCATE empties the table under ACCESS EXCLUSIVE: the rows are gone, and queries wait for the lock.
import { existing, tablesOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const truncate: Rule = {
  id: "truncate",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "TRUNCATE deletes every row without a trace in the migration, under ACCESS EXCLUSIVE.",
  fix: "If the data must go, take a backup first (`breakwater backup`) and DELETE in batches; keep data changes out of schema migrations.",
  kinds: ["TruncateStmt"],
  check(statement, context) {
    if (statement.kind !== "TruncateStmt") return [];
    return tablesOf(statement)
      .filter((t) => existing(t, statement, context))
      .map((t) => ({ message: `TRUNCATE ${tableName(t)} deletes every row under ACCESS EXCLUSIVE.` }));
  },
};
