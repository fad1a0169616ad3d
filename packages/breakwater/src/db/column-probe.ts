// A column change tried on an empty temporary copy of the table, in a transaction rolled back:
// PostgreSQL itself checks the type name, the USING and DEFAULT expressions, converts the
// default, and shows whether the change rewrites the table (a new relfilenode). Touches no row.
// Also the check that a type written in a plan is a type name and nothing else.
import { BreakwaterError, isConnectionLoss, sqlErrorInfo, type Database } from "@breakwater/runtime/internal";
import { quoteTable, type TableRef } from "./quote.ts";
import { sqlParser } from "./sql-parser.ts";

/** Letters, digits, quotes, dots, commas, brackets and spaces: no comment, no `;`, no literal. */
const typeCharacters = /^[\p{L}\p{N}_$ .,()[\]"]+$/u;

/**
 * Refuses anything but one type name (`bigint`, `numeric(12,2)`, `varchar(80)`, `public."Role"[]`),
 * parsed with PostgreSQL's grammar as the target of a cast, before anything runs.
 */
export async function checkTypeName(type: string, what: string): Promise<void> {
  const invalid = () =>
    new BreakwaterError(
      "BW_PLAN_INVALID",
      `${what} must be one SQL type name (e.g. bigint, numeric(12,2), varchar(80)), got ${JSON.stringify(type.length > 80 ? `${type.slice(0, 80)}…` : type)}`,
      {
        hint: "Fix the type in the plan; nothing was changed.",
      },
    );
  if (!typeCharacters.test(type)) throw invalid();
  const parse = await sqlParser();
  let tree;
  try {
    tree = parse(`SELECT NULL::${type}`);
  } catch {
    throw invalid();
  }
  const statements = tree.stmts ?? [];
  const select = statements.length === 1 ? statements[0]!.stmt.SelectStmt : undefined;
  const targets = select?.targetList as { ResTarget?: { val?: { TypeCast?: { arg?: { A_Const?: { isnull?: boolean } } } } } }[] | undefined;
  const onlyTarget = select !== undefined && Object.keys(select).every((k) => k === "targetList" || k === "limitOption" || k === "op") && select.op === "SETOP_NONE";
  if (!onlyTarget || targets?.length !== 1 || targets[0]!.ResTarget?.val?.TypeCast?.arg?.A_Const?.isnull !== true) throw invalid();
}

export interface ProbedColumn {
  /** format_type() as the session prints it (`numeric(12,2)`), for messages and checks */
  typeName: string;
  /** the type as SQL with every name outside pg_catalog schema-qualified: right under any search_path */
  typeSql: string;
  /** the column's default as PostgreSQL stores it, names qualified the same way; null without one */
  defaultSql: string | null;
}

export interface Probe {
  /** the column before the change (absent when the change adds it) */
  before: ProbedColumn | null;
  after: ProbedColumn;
  /** PostgreSQL rewrote the copy: the same change on the table rewrites every row under ACCESS EXCLUSIVE */
  rewrites: boolean;
}

/** A transaction rolled back on purpose: the probe leaves nothing behind. */
class ProbeRolledBack extends Error {}

const copy = "pg_temp.bw_column_probe";

/** The column as the session names it, and with every name qualified; `path` is the session's search_path, set back after. */
async function describeColumn(db: Database, path: string, relation: string, column: string): Promise<ProbedColumn | null> {
  const sql = `SELECT format_type(a.atttypid, a.atttypmod) AS type, pg_get_expr(d.adbin, d.adrelid) AS "default"
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`;
  const shown = (await db.query<{ type: string }>(sql, [relation, column])).rows[0];
  if (!shown) return null;
  try {
    // With pg_catalog alone on the search_path, format_type and pg_get_expr qualify every other name.
    await db.query("SELECT set_config('search_path', 'pg_catalog', true)");
    const qualified = await db.one<{ type: string; default: string | null }>(sql, [relation, column]);
    return { typeName: shown.type, typeSql: qualified.type, defaultSql: qualified.default };
  } finally {
    await db.query("SELECT set_config('search_path', $1, true)", [path]);
  }
}

/**
 * Runs `change(copy)` on an empty copy of the table (its columns, NOT NULLs and defaults) and
 * returns the column before and after; a ProbeFailure (PostgreSQL's message and SQLSTATE) for a
 * type, USING or DEFAULT it does not accept.
 */
export async function probeColumnChange(db: Database, table: TableRef, column: string, change: (copy: string) => string): Promise<Probe> {
  let result: Probe | undefined;
  try {
    await db.transaction(async (tx) => {
      const path = (await tx.one<{ path: string }>("SELECT current_setting('search_path') AS path")).path;
      await tx.query(`CREATE TEMPORARY TABLE bw_column_probe (LIKE ${quoteTable(table)} INCLUDING DEFAULTS)`);
      const before = await describeColumn(tx, path, quoteTable(table), column);
      const node = async () => (await tx.one<{ n: string }>("SELECT pg_relation_filenode($1::regclass)::text AS n", [copy])).n;
      const nodeBefore = await node();
      await tx.query(change(copy));
      const after = await describeColumn(tx, path, copy, column);
      if (!after) throw new BreakwaterError("BW_INTERNAL", `the probe lost the column ${column}`);
      result = { before, after, rewrites: (await node()) !== nodeBefore };
      throw new ProbeRolledBack();
    });
  } catch (error) {
    if (error instanceof ProbeRolledBack && result) return result;
    if (isConnectionLoss(error) || error instanceof BreakwaterError) throw error;
    throw new ProbeFailure(sqlErrorInfo(error).message, sqlErrorInfo(error).sqlstate);
  }
  throw new BreakwaterError("BW_INTERNAL", "the column probe returned nothing");
}

/** PostgreSQL refused the change on the copy: its message and SQLSTATE. */
export class ProbeFailure extends Error {
  readonly sqlstate: string | undefined;
  constructor(message: string, sqlstate: string | undefined) {
    super(message);
    this.sqlstate = sqlstate;
  }
}
