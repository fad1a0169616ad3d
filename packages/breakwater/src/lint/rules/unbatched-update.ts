// UPDATE / DELETE of every row in one statement: every row locked until the migration commits.
import { existing, relationOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const unbatchedUpdate: Rule = {
  id: "unbatched-update",
  defaultSeverity: "warning",
  lock: "ROW EXCLUSIVE",
  blocks: [],
  why: "An UPDATE or DELETE without WHERE locks every row of the table until the migration ends (writers to those rows wait), and writes the whole table to WAL at once.",
  fix: "Backfill in batches outside the schema migration (a breakwater plan with a backfill step), or add the WHERE that was meant.",
  kinds: ["UpdateStmt", "DeleteStmt"],
  check(statement, context) {
    if ((statement.kind !== "UpdateStmt" && statement.kind !== "DeleteStmt") || statement.node.whereClause) return [];
    const table = relationOf(statement);
    if (!existing(table, statement, context)) return [];
    const verb = statement.kind === "UpdateStmt" ? "UPDATE" : "DELETE";
    return [{ message: `${verb} of ${tableName(table)} without WHERE touches every row in one transaction.` }];
  },
};
