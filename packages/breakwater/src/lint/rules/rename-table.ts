// Renaming a table breaks every running client that uses the old name.
import { existing, relationOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const renameTable: Rule = {
  id: "rename-table",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "Running code still uses the old name: its queries fail from the moment the rename commits.",
  fix: "breakwater operation renameTable (`breakwater plan --online`): the old name stays a view over the table until `breakwater cleanup`.",
  kinds: ["RenameStmt"],
  check(statement, context) {
    const node = statement.node as { renameType?: string; newname?: string };
    const table = relationOf(statement);
    if (statement.kind !== "RenameStmt" || node.renameType !== "OBJECT_TABLE" || !existing(table, statement, context)) return [];
    return [{ message: `Renaming ${tableName(table)} to ${node.newname ?? "?"} breaks running code that uses the old name.` }];
  },
};
