// Splitting SQL into statements with PostgreSQL's own parser (libpg-query, the server's grammar
// compiled to WASM), never by searching for semicolons.
import { loadModule, parseSync } from "libpg-query";
import { BreakwaterError } from "../errors.ts";

export interface Statement {
  text: string;
  /** the parse node's name: AlterEnumStmt, IndexStmt, TransactionStmt, … */
  kind: string;
  node: Record<string, unknown>;
}

let loaded: Promise<void> | undefined;

export async function splitStatements(sql: string, source = "SQL"): Promise<Statement[]> {
  loaded ??= loadModule();
  await loaded;
  let result: { stmts?: { stmt: Record<string, Record<string, unknown>>; stmt_location?: number; stmt_len?: number }[] };
  try {
    result = parseSync(sql) as typeof result;
  } catch (error) {
    throw new BreakwaterError("BW_SQL_FAILED", `${source} does not parse: ${(error as Error).message}`);
  }
  // Locations are byte offsets into the UTF-8 text.
  const bytes = Buffer.from(sql, "utf8");
  return (result.stmts ?? []).map((s) => {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    const kind = Object.keys(s.stmt)[0]!;
    return { text: bytes.subarray(start, end).toString("utf8").trim(), kind, node: s.stmt[kind]! };
  });
}

/** `ALTER TYPE … ADD VALUE …` (and not RENAME VALUE). */
export function isEnumValueAddition(statement: Statement): boolean {
  return statement.kind === "AlterEnumStmt" && typeof statement.node.newVal === "string" && statement.node.oldVal === undefined;
}

const droppedObjects = new Set(["OBJECT_TABLE", "OBJECT_SCHEMA", "OBJECT_TYPE", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE", "OBJECT_SEQUENCE"]);

/**
 * Why a statement drops or rewrites data, or null: DROP TABLE / TYPE / SCHEMA, ALTER TABLE … DROP
 * COLUMN or … TYPE, TRUNCATE, DELETE, UPDATE. (Indexes, constraints and functions are not data.)
 */
export function destroysData(statement: Statement): string | null {
  const node = statement.node;
  switch (statement.kind) {
    case "DropStmt": {
      const type = String(node.removeType);
      return droppedObjects.has(type) ? `DROP ${type.replace("OBJECT_", "").replace("_", " ")}` : null;
    }
    case "AlterTableStmt": {
      const cmds = (node.cmds as { AlterTableCmd?: { subtype?: string; name?: string } }[] | undefined) ?? [];
      for (const { AlterTableCmd: cmd } of cmds) {
        if (cmd?.subtype === "AT_DropColumn") return `DROP COLUMN ${cmd.name ?? ""}`.trim();
        if (cmd?.subtype === "AT_AlterColumnType") return `ALTER COLUMN ${cmd.name ?? ""} TYPE`.replace("  ", " ");
      }
      return null;
    }
    case "TruncateStmt":
      return "TRUNCATE";
    case "DeleteStmt":
      return "DELETE";
    case "UpdateStmt":
      return "UPDATE";
    case "DropdbStmt":
      return "DROP DATABASE";
    default:
      return null;
  }
}
