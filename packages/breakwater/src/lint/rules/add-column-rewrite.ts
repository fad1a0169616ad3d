// serial / identity / generated stored columns fill every existing row: a rewrite under ACCESS EXCLUSIVE.
import { addedColumns, constraintsOf, serialTypes, tableName, typeBaseName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const addColumnRewrite: Rule = {
  id: "add-column-rewrite",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  rewrites: true,
  why: "A serial, identity or GENERATED … STORED column computes a value for every existing row: PostgreSQL rewrites the table under ACCESS EXCLUSIVE.",
  fix: "Add a plain nullable column, attach the sequence or expression as a default for new rows, backfill existing rows in batches — breakwater operation addColumn.",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    return addedColumns(statement, context).flatMap(({ table, column }) => {
      const type = typeBaseName(column.typeName);
      const kinds = constraintsOf(column).map((c) => c.contype);
      const what =
        serialTypes.has(type) ? type
        : kinds.includes("CONSTR_IDENTITY") ? "an identity column"
        : kinds.includes("CONSTR_GENERATED") ? "a stored generated column"
        : null;
      return what ? [{ message: `Adding ${column.colname ?? "a column"} as ${what} to ${tableName(table)} rewrites every row under ACCESS EXCLUSIVE.` }] : [];
    });
  },
};
