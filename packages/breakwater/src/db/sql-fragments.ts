// SQL written by users inside a plan (backfill `set`/`where`, check queries, `sql()` steps),
// parsed with PostgreSQL's own grammar before anything runs: an expression must be exactly one
// expression, a check exactly one SELECT that changes nothing, a script free of transaction
// control. Text after a `;` is thereby refused instead of being run.
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { sqlParser, type ParseResult } from "./sql-parser.ts";
import { splitStatements } from "./sql-statements.ts";

/** The parse tree, or null when the text does not parse. */
async function parse(sql: string): Promise<ParseResult | null> {
  const parseSync = await sqlParser();
  try {
    return parseSync(sql);
  } catch {
    return null;
  }
}

function invalid(message: string): BreakwaterError {
  return new BreakwaterError("BW_PLAN_INVALID", message, { hint: "Fix the SQL in the plan; nothing was changed." });
}

/**
 * How a checked expression is written into breakwater's SQL: in parentheses, and with a line
 * break before the closing one, so a trailing `-- comment` cannot swallow what follows.
 */
export function embedExpression(expression: string): string {
  return `(${expression}\n)`;
}

/** Refuses anything but exactly one SQL expression (no second statement, no FROM, no alias). */
export async function checkExpression(expression: string, what: string): Promise<void> {
  const result = await parse(`SELECT ${embedExpression(expression)}`);
  const statements = result?.stmts ?? [];
  const select = statements.length === 1 ? statements[0]!.stmt.SelectStmt : undefined;
  const onlyTarget = select !== undefined && Object.keys(select).every((k) => k === "targetList" || k === "limitOption" || k === "op") && select.op === "SETOP_NONE";
  if (!onlyTarget || (select.targetList as unknown[]).length !== 1) {
    throw invalid(`${what} must be one SQL expression, got ${JSON.stringify(expression.length > 120 ? `${expression.slice(0, 120)}…` : expression)}`);
  }
}

const writingNodes = new Set(["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

/** A node of the parse tree that writes: a data-modifying statement, SELECT INTO, or FOR UPDATE. */
function findWrite(node: unknown): string | null {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = findWrite(item);
      if (found) return found;
    }
    return null;
  }
  if (typeof node !== "object" || node === null) return null;
  for (const [key, value] of Object.entries(node)) {
    if (writingNodes.has(key)) return key.replace("Stmt", "").toUpperCase();
    if (key === "intoClause") return "SELECT INTO";
    if (key === "lockingClause") return "FOR UPDATE/SHARE";
    const found = findWrite(value);
    if (found) return found;
  }
  return null;
}

/** Refuses anything but exactly one SELECT that writes nothing (checks run read-only as well). */
export async function checkQuery(sql: string, what: string): Promise<void> {
  const result = await parse(sql);
  if (result === null) throw invalid(`${what} does not parse as SQL`);
  const statements = result.stmts ?? [];
  const select = statements.length === 1 ? statements[0]!.stmt.SelectStmt : undefined;
  if (select === undefined) {
    throw invalid(`${what} must be one SELECT, got ${statements.length === 1 ? Object.keys(statements[0]!.stmt)[0] : `${statements.length} statements`}`);
  }
  const write = findWrite(select);
  if (write) throw invalid(`${what} must be one SELECT that changes nothing, but it contains ${write}`);
}

/** Refuses a script that controls transactions itself: breakwater runs it in a transaction of its own. */
export async function checkScript(sql: string, what: string): Promise<void> {
  let statements;
  try {
    statements = await splitStatements(sql, what);
  } catch (error) {
    throw invalid((error as Error).message);
  }
  if (statements.length === 0) throw invalid(`${what} has no SQL statement`);
  const control = statements.find((s) => s.kind === "TransactionStmt");
  if (control) {
    const word = /^\s*(\w+)/.exec(control.text)?.[1]?.toUpperCase() ?? "BEGIN";
    throw invalid(`${what}: transaction control (${word}) is not allowed; each step runs in its own transaction, and rollback relies on it`);
  }
}
