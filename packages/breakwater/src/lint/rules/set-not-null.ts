// SET NOT NULL scans every row under ACCESS EXCLUSIVE, unless a validated CHECK (col IS NOT NULL) proves it (PostgreSQL 12+).
import { alterCommands, existing, relationOf, sqlTable, tableName } from "../nodes.ts";
import { quoteIdent } from "../../db/quote.ts";
import { describeSize, isEmpty } from "../catalog.ts";
import type { Rule } from "../types.ts";

export const setNotNull: Rule = {
  id: "set-not-null",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE to prove no row is null: every query on it waits.",
  fix: "Add CHECK (column IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ uses the check and skips the scan), then drop the check — breakwater operation setNotNull.",
  check(statement, context) {
    const table = relationOf(statement);
    if (!existing(table, statement, context)) return [];
    // An empty table is scanned in no time: nothing to wait for.
    if (isEmpty(context, table.schemaname ?? null, table.relname) === true) return [];
    const size = describeSize(context, table.schemaname ?? null, table.relname);
    return alterCommands(statement)
      .filter((cmd) => cmd.subtype === "AT_SetNotNull" && cmd.name)
      .map((cmd) => {
        const column = cmd.name!;
        const check = quoteIdent(`${table.relname}_${column}_not_null`.slice(0, 63));
        const at = sqlTable(table);
        return {
          message: `SET NOT NULL on ${tableName(table)}.${column} scans every row${size ? ` (${size})` : ""} under ACCESS EXCLUSIVE.`,
          fix: [
            `ALTER TABLE ${at} ADD CONSTRAINT ${check} CHECK (${quoteIdent(column)} IS NOT NULL) NOT VALID;`,
            `ALTER TABLE ${at} VALIDATE CONSTRAINT ${check};`,
            `ALTER TABLE ${at} ALTER COLUMN ${quoteIdent(column)} SET NOT NULL;`,
            `ALTER TABLE ${at} DROP CONSTRAINT ${check};`,
            `(breakwater operation setNotNull)`,
          ].join("\n"),
        };
      });
  },
};
