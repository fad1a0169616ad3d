// ADD COLUMN … NOT NULL without a default fails on a table with rows (23502).
import { addedColumns, constraintsOf, serialTypes, tableName, typeBaseName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const addColumnNotNull: Rule = {
  id: "add-column-not-null",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "A NOT NULL column without a default cannot be added to a table that has rows: the migration fails (23502).",
  fix: "Add the column nullable (or with a constant default), backfill it in batches, then set NOT NULL safely — breakwater operations addColumn + setNotNull.",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    return addedColumns(statement, context).flatMap(({ table, column }) => {
      const kinds = constraintsOf(column).map((c) => c.contype);
      const filled = kinds.some((k) => k === "CONSTR_DEFAULT" || k === "CONSTR_IDENTITY" || k === "CONSTR_GENERATED") || serialTypes.has(typeBaseName(column.typeName));
      if (!(kinds.includes("CONSTR_NOTNULL") || kinds.includes("CONSTR_PRIMARY")) || filled) return [];
      return [{ message: `Adding ${column.colname ?? "a column"} NOT NULL without a default to ${tableName(table)} fails if the table has any row (23502).` }];
    });
  },
};
