// Constraints Prisma does not model (partial unique indexes, CHECKs, functions), kept in
// prisma/constraints.sql and applied idempotently: each statement must be re-runnable, and the
// output says which ones changed something.
import { readFile } from "node:fs/promises";
import { BreakwaterError, type Database } from "@breakwater/runtime/internal";
import { quoteIdent, quoteQualified } from "../../db/quote.ts";
import { decodeSql, splitStatements, type Statement } from "../../db/sql-statements.ts";

export interface ConstraintResult {
  statement: string;
  outcome: "created" | "unchanged" | "replaced" | "ran";
}

type Node = Record<string, any>;

function relationOf(node: Node): { schema: string | null; name: string } {
  const r = node.relation ?? {};
  return { schema: r.schemaname ?? null, name: r.relname };
}

async function relationExists(db: Database, schema: string | null, name: string): Promise<boolean> {
  const qualified = schema ? quoteQualified(schema, name) : quoteIdent(name);
  return (await db.one<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [qualified])).ok;
}

/** How a statement is made safe to run on every boot, or why it cannot be. */
async function planStatement(db: Database, statement: Statement, index: number): Promise<{ skip: boolean; outcome: ConstraintResult["outcome"] }> {
  const s = { ...statement, node: statement.node as Node };
  const where = `constraints statement ${index + 1} (${s.text.split("\n")[0]!.slice(0, 60)}…)`;
  switch (s.kind) {
    case "IndexStmt": {
      if (!s.node.if_not_exists) throw new BreakwaterError("BW_CONFIG_INVALID", `${where} is not re-runnable: write CREATE INDEX IF NOT EXISTS.`);
      const schema = relationOf(s.node).schema;
      const exists = await relationExists(db, schema, s.node.idxname);
      return { skip: exists, outcome: exists ? "unchanged" : "created" };
    }
    case "CreateFunctionStmt":
      if (!s.node.replace) throw new BreakwaterError("BW_CONFIG_INVALID", `${where} is not re-runnable: write CREATE OR REPLACE FUNCTION.`);
      return { skip: false, outcome: "replaced" };
    case "ViewStmt":
      if (!s.node.view) throw new BreakwaterError("BW_CONFIG_INVALID", `${where} has no view name.`);
      if (!s.node.replace) throw new BreakwaterError("BW_CONFIG_INVALID", `${where} is not re-runnable: write CREATE OR REPLACE VIEW.`);
      return { skip: false, outcome: "replaced" };
    case "AlterTableStmt": {
      // ADD CONSTRAINT has no IF NOT EXISTS: skipped when a constraint of that name exists.
      const cmds = (s.node.cmds ?? []) as Node[];
      const adds = cmds.map((c) => c.AlterTableCmd).filter((c) => c?.subtype === "AT_AddConstraint");
      if (adds.length !== cmds.length || adds.length !== 1 || !adds[0].def?.Constraint?.conname) {
        throw new BreakwaterError("BW_CONFIG_INVALID", `${where} is not re-runnable: only one named ADD CONSTRAINT per ALTER TABLE is supported here.`);
      }
      const { schema, name } = relationOf(s.node);
      const conname = adds[0].def.Constraint.conname as string;
      const found = await db.query("SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = to_regclass($2)", [
        conname,
        schema ? quoteQualified(schema, name) : quoteIdent(name),
      ]);
      return { skip: found.rowCount > 0, outcome: found.rowCount > 0 ? "unchanged" : "created" };
    }
    case "DropStmt":
      if (!s.node.missing_ok) throw new BreakwaterError("BW_CONFIG_INVALID", `${where} is not re-runnable: write DROP … IF EXISTS.`);
      return { skip: false, outcome: "ran" };
    case "CommentStmt":
    case "GrantStmt":
      return { skip: false, outcome: "ran" };
    default:
      throw new BreakwaterError("BW_CONFIG_INVALID", `${where} (${s.kind}) cannot be proven re-runnable.`, {
        hint: "Use CREATE INDEX IF NOT EXISTS, CREATE OR REPLACE FUNCTION/VIEW, named ALTER TABLE … ADD CONSTRAINT, DROP … IF EXISTS, COMMENT or GRANT.",
      });
  }
}

/** The definition of what a CREATE OR REPLACE targets, to tell "replaced" from "unchanged". */
async function definitionOf(db: Database, statement: Statement): Promise<string | null> {
  const s = { ...statement, node: statement.node as Node };
  if (s.kind === "CreateFunctionStmt") {
    const parts = ((s.node.funcname ?? []) as Node[]).map((p) => p.String?.sval as string);
    const name = parts.at(-1)!;
    const schema = parts.length > 1 ? parts[0]! : null;
    const row = await db.one<{ def: string | null }>(
      `SELECT string_agg(pg_get_functiondef(p.oid), E'\n' ORDER BY p.oid) AS def FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.proname = $1 AND ($2::text IS NULL AND n.nspname = ANY (current_schemas(false)) OR n.nspname = $2)`,
      [name, schema],
    );
    return row.def;
  }
  if (s.kind === "ViewStmt") {
    const { schema, name } = { schema: s.node.view.schemaname ?? null, name: s.node.view.relname as string };
    const qualified = schema ? quoteQualified(schema, name) : quoteIdent(name);
    const row = await db.one<{ def: string | null }>("SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE pg_get_viewdef(to_regclass($1)) END AS def", [qualified]);
    return row.def;
  }
  return null;
}

/** Applies the file in one transaction; every statement is checked before any runs. */
export async function applyConstraints(db: Database, file: string): Promise<ConstraintResult[]> {
  const bytes = await readFile(file).catch(() => {
    throw new BreakwaterError("BW_CONFIG_INVALID", `Constraints file not found: ${file}`);
  });
  const statements = await splitStatements(decodeSql(bytes, file).text, file);
  return await db.transaction(async (tx) => {
    const results: ConstraintResult[] = [];
    const plans = [];
    for (const [i, s] of statements.entries()) plans.push(await planStatement(tx, s, i));
    for (const [i, s] of statements.entries()) {
      let outcome = plans[i]!.outcome;
      const before = outcome === "replaced" ? await definitionOf(tx, s) : null;
      if (!plans[i]!.skip) await tx.query(s.text);
      if (outcome === "replaced") {
        const after = await definitionOf(tx, s);
        outcome =
          before === null ? "created"
          : before === after ? "unchanged"
          : "replaced";
      }
      results.push({ statement: s.text.split("\n")[0]!.slice(0, 80), outcome });
    }
    return results;
  });
}
