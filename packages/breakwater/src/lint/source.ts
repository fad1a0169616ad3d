// A SQL file as the linter reads it: statements split by PostgreSQL's own parser, each with its
// 1-based line and column, whether it sits in an explicit transaction, and the ignore comments
// just before it.
import { sqlParser, type ParseResult } from "../db/sql-parser.ts";
import type { Ignore, LintFile, LintStatement, Runner } from "./types.ts";

/** 1-based line and column of each character offset (columns count characters, as editors do). */
function positions(text: string): (offset: number) => { line: number; column: number } {
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo]! + 1 };
  };
}

const ignorePattern = /^--\s*breakwater-ignore(-file)?\s+([a-z0-9-]+)\s*(?::\s*(.*?))?\s*$/;

/** Skips blank space and comments from `at`; returns where the statement's own text starts and the ignores on the way. */
function leading(text: string, at: number, end: number, where: (o: number) => { line: number; column: number }): { start: number; ignores: Ignore[] } {
  const ignores: Ignore[] = [];
  let i = at;
  while (i < end) {
    if (/\s/.test(text[i]!)) i++;
    else if (text.startsWith("--", i)) {
      const eol = text.indexOf("\n", i);
      const lineEnd = eol < 0 || eol > end ? end : eol;
      const match = ignorePattern.exec(text.slice(i, lineEnd).trimEnd());
      if (match) ignores.push({ rule: match[2]!, reason: match[3] ?? "", file: match[1] !== undefined, ...where(i) });
      i = lineEnd;
    } else if (text.startsWith("/*", i)) {
      // PostgreSQL's block comments nest.
      let depth = 0;
      do {
        if (text.startsWith("/*", i)) {
          depth++;
          i += 2;
        } else if (text.startsWith("*/", i)) {
          depth--;
          i += 2;
        } else i++;
      } while (depth > 0 && i < end);
    } else break;
  }
  return { start: i, ignores };
}

/** Character offset of a byte offset into the UTF-8 text (libpg-query's locations are bytes). */
function byteToChar(text: string): (byte: number) => number {
  // ASCII text (most migrations): a byte is a character.
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(text)) return (b) => Math.min(b, text.length);
  const map: number[] = [];
  let byte = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.codePointAt(i)!;
    const size =
      code < 0x80 ? 1
      : code < 0x800 ? 2
      : code < 0x10000 ? 3
      : 4;
    for (let b = 0; b < size; b++) map[byte + b] = i;
    byte += size;
    if (code >= 0x10000) i++; // a surrogate pair is one code point
  }
  map[byte] = text.length;
  return (b) => map[b] ?? text.length;
}

function transactionKind(node: Record<string, unknown>): string | undefined {
  return typeof node.kind === "string" ? node.kind : undefined;
}

/** Reads a file's statements; a file that does not parse has none and says where it fails. */
export async function readLintFile(path: string, text: string, runner: Runner): Promise<LintFile> {
  const parse = await sqlParser();
  const where = positions(text);
  let result: ParseResult;
  try {
    result = parse(text);
  } catch (error) {
    // libpg-query's SqlError carries PostgreSQL's cursor as a 0-based character offset in sqlDetails.
    const details = (error as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const cursor = details?.cursorPosition;
    const at = typeof cursor === "number" ? where(Math.max(0, Math.min(text.length - 1, cursor))) : { line: 1, column: 1 };
    // A statement nested thousands deep (1+1+1…) exhausts the stack reading its parse tree.
    const message = error instanceof RangeError ? "a statement is nested too deeply for the linter to read its parse tree" : (details?.message ?? (error as Error).message);
    return { path, text, runner, statements: [], fileIgnores: [], parseError: { message, ...at } };
  }
  const toChar = byteToChar(text);
  const statements: LintStatement[] = [];
  const fileIgnores: Ignore[] = [];
  let inTransaction = false;
  for (const [index, s] of (result.stmts ?? []).entries()) {
    const from = toChar(s.stmt_location ?? 0);
    const to = s.stmt_len ? toChar((s.stmt_location ?? 0) + s.stmt_len) : text.length;
    const { start, ignores } = leading(text, from, to, where);
    const body = text.slice(start, to).trimEnd();
    const kind = Object.keys(s.stmt)[0]!;
    const node = s.stmt[kind]!;
    const begin = where(start);
    const end = where(Math.max(start, start + body.length - 1));
    const tx = kind === "TransactionStmt" ? transactionKind(node) : undefined;
    if (tx === "TRANS_STMT_BEGIN" || tx === "TRANS_STMT_START") inTransaction = true;
    statements.push({
      text: body,
      kind,
      node,
      line: begin.line,
      column: begin.column,
      endLine: end.line,
      endColumn: end.column,
      index,
      // A plan's sql step runs in one transaction of breakwater's own.
      inTransaction: (inTransaction || runner === "plan") && kind !== "TransactionStmt",
      ignores: ignores.filter((i) => !i.file),
    });
    if (tx === "TRANS_STMT_COMMIT" || tx === "TRANS_STMT_ROLLBACK" || tx === "TRANS_STMT_PREPARE") inTransaction = false;
  }
  // An ignore-file comment counts wherever it stands on a line of its own.
  if (text.includes("breakwater-ignore-file"))
    text.split("\n").forEach((raw, i) => {
      const match = ignorePattern.exec(raw.trim());
      if (match?.[1] !== undefined) fileIgnores.push({ rule: match[2]!, reason: match[3] ?? "", file: true, line: i + 1, column: raw.indexOf("--") + 1 });
    });
  return { path, text, runner, statements, fileIgnores, parseError: null };
}
