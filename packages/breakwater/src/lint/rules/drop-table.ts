// Dropping a table loses its rows and breaks running code that uses it.
import { droppedNames, existing, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const dropTable: Rule = {
  id: "drop-table",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "Every row is lost and running code that still queries the table fails.",
  fix: "Release code that no longer uses the table first, take a backup (`breakwater backup`), then drop it in a later migration.",
  kinds: ["DropStmt"],
  check(statement, context) {
    if (statement.kind !== "DropStmt" || statement.node.removeType !== "OBJECT_TABLE") return [];
    return droppedNames(statement)
      .filter((table) => existing(table, statement, context))
      .map((table) => ({ message: `Dropping ${tableName(table)} loses its rows and breaks running code that uses it.` }));
  },
};
