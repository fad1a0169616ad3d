// Renaming a column breaks every running client that uses the old name.
import { existing, relationOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const renameColumn: Rule = {
  id: "rename-column",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "Running code still uses the old name: its queries fail from the moment the rename commits.",
  fix: "breakwater operation renameColumn (`breakwater plan --online`): a second column kept in step by a trigger while old and new code run, swapped in at the contract.",
  kinds: ["RenameStmt"],
  check(statement, context) {
    const node = statement.node as { renameType?: string; subname?: string; newname?: string };
    const table = relationOf(statement);
    if (statement.kind !== "RenameStmt" || node.renameType !== "OBJECT_COLUMN" || !existing(table, statement, context)) return [];
    return [{ message: `Renaming ${tableName(table)}.${node.subname ?? "?"} to ${node.newname ?? "?"} breaks running code that uses the old name.` }];
  },
};
