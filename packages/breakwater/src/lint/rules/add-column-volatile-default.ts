// ADD COLUMN with a volatile default computes a value per row: a full rewrite under ACCESS EXCLUSIVE.
// A constant or stable default (now(), CURRENT_TIMESTAMP) is stored once in the catalog (PostgreSQL 11+).
import { addedColumns, constraintsOf, tableName, volatileCall } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const addColumnVolatileDefault: Rule = {
  id: "add-column-volatile-default",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  rewrites: true,
  why: "A volatile default (gen_random_uuid(), clock_timestamp(), random()) gives each row its own value: PostgreSQL rewrites the table under ACCESS EXCLUSIVE.",
  fix: "Add the column without a default, SET DEFAULT in a second statement (it applies to new rows only), and backfill existing rows in batches — breakwater operation addColumn.",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    return addedColumns(statement, context).flatMap(({ table, column }) => {
      const initial = constraintsOf(column).find((c) => c.contype === "CONSTR_DEFAULT")?.raw_expr;
      if (!initial) return [];
      const volatile = volatileCall(initial);
      if (volatile)
        return [{ message: `Adding ${column.colname ?? "a column"} to ${tableName(table)} with the volatile default ${volatile}() rewrites every row under ACCESS EXCLUSIVE.` }];
      // Before PostgreSQL 11 every non-null default rewrote the table.
      if (context.serverVersion < 110000)
        return [{ message: `Before PostgreSQL 11, adding ${column.colname ?? "a column"} with a default to ${tableName(table)} rewrites every row.` }];
      return [];
    });
  },
};
