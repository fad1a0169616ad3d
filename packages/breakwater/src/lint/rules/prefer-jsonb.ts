// json keeps the text as written: no equality operator (DISTINCT, UNIQUE, GROUP BY fail) and no GIN index.
import { alterCommands, typeBaseName, walk, type TypeName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const preferJsonb: Rule = {
  id: "prefer-jsonb",
  defaultSeverity: "warning",
  lock: null,
  blocks: [],
  why: "json has no equality operator and no GIN index support, and is reparsed on every access; jsonb is what Prisma's Json maps to.",
  fix: "Use jsonb (changing it later rewrites the table).",
  check(statement) {
    if (statement.kind !== "CreateStmt" && statement.kind !== "AlterTableStmt") return [];
    const definitions = statement.kind === "CreateStmt" ? [statement.node.tableElts] : alterCommands(statement).map((c) => c.def);
    const columns = [...walk(definitions)].filter((n) => n.ColumnDef).map((n) => n.ColumnDef as { colname?: string; typeName?: TypeName });
    return columns.filter((c) => typeBaseName(c.typeName) === "json").map((c) => ({ message: `Column ${c.colname ?? "?"} is json: use jsonb.` }));
  },
};
