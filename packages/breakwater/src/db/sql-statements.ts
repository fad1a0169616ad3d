// Splitting SQL into statements with PostgreSQL's own parser (libpg-query, the server's grammar
// compiled to WASM), never by searching for semicolons; SQL files' bytes checked as the server
// checks query text.
import { isUtf8 } from "node:buffer";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { sqlParser, type ParseResult } from "./sql-parser.ts";

export interface Statement {
  text: string;
  /** the parse node's name: AlterEnumStmt, IndexStmt, TransactionStmt, … */
  kind: string;
  node: Record<string, unknown>;
}

export async function splitStatements(sql: string, source = "SQL"): Promise<Statement[]> {
  const parse = await sqlParser();
  let result: ParseResult;
  try {
    result = parse(sql);
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

/** The enum type (its name's parts) and the value an `ALTER TYPE … ADD VALUE` adds, or null. */
export function addedEnumValue(statement: Statement): { type: string[]; value: string } | null {
  if (!isEnumValueAddition(statement)) return null;
  const type = ((statement.node.typeName as { String?: { sval?: string } }[] | undefined) ?? []).map((part) => part.String?.sval ?? "");
  return { type, value: statement.node.newVal as string };
}

export interface InvalidUtf8 {
  /** 0-based offset of the first byte PostgreSQL refuses */
  offset: number;
  line: number;
  /** PostgreSQL's words for it (SQLSTATE 22021), with where it is */
  reason: string;
}

/** Length of the valid UTF-8 character at `i`, 0 when PostgreSQL would refuse it (NUL included). */
function utf8CharLength(bytes: Uint8Array, i: number): number {
  const first = bytes[i]!;
  if (first === 0) return 0;
  if (first < 0x80) return 1;
  const length =
    first >= 0xc2 && first <= 0xdf ? 2
    : first >= 0xe0 && first <= 0xef ? 3
    : first >= 0xf0 && first <= 0xf4 ? 4
    : 0;
  if (length === 0 || i + length > bytes.length) return 0;
  for (let k = 1; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return 0;
  const second = bytes[i + 1]!;
  // overlong forms, UTF-16 surrogates, code points past U+10FFFF
  if ((first === 0xe0 && second < 0xa0) || (first === 0xed && second > 0x9f) || (first === 0xf0 && second < 0x90) || (first === 0xf4 && second > 0x8f)) return 0;
  return length;
}

/**
 * The first byte sequence PostgreSQL would refuse in UTF-8 query text, or null. The reason shows
 * the bytes as PostgreSQL does: as many as the lead byte announces.
 */
export function findInvalidUtf8(bytes: Uint8Array): InvalidUtf8 | null {
  if (isUtf8(bytes) && !bytes.includes(0)) return null;
  for (let i = 0; i < bytes.length;) {
    const length = utf8CharLength(bytes, i);
    if (length > 0) {
      i += length;
      continue;
    }
    const first = bytes[i]!;
    const announced =
      first >= 0xf0 && first <= 0xf7 ? 4
      : first >= 0xe0 && first <= 0xef ? 3
      : first >= 0xc0 && first <= 0xdf ? 2
      : 1;
    const shown = [...bytes.subarray(i, Math.min(bytes.length, i + announced))].map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(" ");
    const line = bytes.subarray(0, i).filter((b) => b === 0x0a).length + 1;
    return { offset: i, line, reason: `invalid byte sequence for encoding "UTF8": ${shown} at byte offset ${i} (line ${line})` };
  }
  return null;
}

const byteOrderMark = [0xef, 0xbb, 0xbf];

/**
 * A SQL file's bytes as the text PostgreSQL is sent: refused when not UTF-8 (PostgreSQL would
 * refuse it, and decoding it anyway would change the SQL); a leading UTF-8 byte-order mark left
 * out, as psql does (sent to the server, it is a syntax error).
 */
export function decodeSql(bytes: Uint8Array, source: string): { text: string; byteOrderMark: boolean } {
  const invalid = findInvalidUtf8(bytes);
  if (invalid) {
    throw new BreakwaterError("BW_SQL_FAILED", `${source}: ${invalid.reason}`, {
      hint: "Save the file as UTF-8: PostgreSQL refuses these bytes, and applying the file decoded otherwise would change its text.",
      details: { sqlstate: "22021", offset: invalid.offset, line: invalid.line },
    });
  }
  const marked = byteOrderMark.every((b, i) => bytes[i] === b);
  return { text: Buffer.from(bytes.subarray(marked ? 3 : 0)).toString("utf8"), byteOrderMark: marked };
}
