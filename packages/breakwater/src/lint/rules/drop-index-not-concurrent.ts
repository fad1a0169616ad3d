// DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table.
import type { Rule } from "../types.ts";

export const dropIndexNotConcurrent: Rule = {
  id: "drop-index-not-concurrent",
  defaultSeverity: "warning",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "DROP INDEX takes ACCESS EXCLUSIVE on the table: brief, but it waits behind every running query and queues all others behind it.",
  fix: "DROP INDEX CONCURRENTLY, alone in its migration file and outside a transaction.",
  kinds: ["DropStmt"],
  check(statement) {
    if (statement.kind !== "DropStmt" || statement.node.removeType !== "OBJECT_INDEX" || statement.node.concurrent) return [];
    return [
      {
        message: "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on its table.",
        fix: `${statement.text.replace(/^DROP\s+INDEX\s+/i, "DROP INDEX CONCURRENTLY ")}, alone in its migration file.`,
      },
    ];
  },
};
