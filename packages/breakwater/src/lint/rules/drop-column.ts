// Dropping a column breaks every running client that still selects it (Prisma names its columns).
import { alterCommands, existing, relationOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const dropColumn: Rule = {
  id: "drop-column",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "Running code that still reads or writes the column fails the moment it is gone, and its values are lost.",
  fix: "Release code that no longer uses the column first, then drop it in a later migration (expand / contract: `breakwater plan`).",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    const table = relationOf(statement);
    if (!existing(table, statement, context)) return [];
    return alterCommands(statement)
      .filter((cmd) => cmd.subtype === "AT_DropColumn")
      .map((cmd) => ({ message: `Dropping ${tableName(table)}.${cmd.name ?? "?"} breaks running code that uses it and loses its values.` }));
  },
};
