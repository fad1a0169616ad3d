// json keeps the text as written: no equality operator (DISTINCT, UNIQUE, GROUP BY fail) and no GIN index.
import { alterCommands, typeBaseName, type ColumnDef, type Node } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const preferJsonb: Rule = {
  id: "prefer-jsonb",
  defaultSeverity: "warning",
  lock: null,
  blocks: [],
  why: "json has no equality operator and no GIN index support, and is reparsed on every access; jsonb is what Prisma's Json maps to.",
  fix: "Use jsonb (changing it later rewrites the table).",
  kinds: ["CreateStmt", "AlterTableStmt"],
  check(statement) {
    if (statement.kind !== "CreateStmt" && statement.kind !== "AlterTableStmt") return [];
    // Column definitions stand only at the top of CREATE TABLE's elements and of ALTER TABLE's commands (no
    // walk of the whole tree); ALTER COLUMN … TYPE names its column on the command, not in the definition.
    const definitions =
      statement.kind === "CreateStmt" ?
        ((statement.node.tableElts as Node[] | undefined) ?? []).map((d) => d.ColumnDef as ColumnDef | undefined)
      : alterCommands(statement).map((c) => c.def?.ColumnDef && { ...c.def.ColumnDef, colname: c.def.ColumnDef.colname ?? c.name });
    const columns = definitions.filter((c): c is ColumnDef => c !== undefined);
    return columns.filter((c) => typeBaseName(c.typeName) === "json").map((c) => ({ message: `Column ${c.colname ?? "?"} is json: use jsonb.` }));
  },
};
