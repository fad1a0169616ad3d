// ALTER COLUMN TYPE rewrites the table and its indexes under ACCESS EXCLUSIVE, except for the
// binary-coercible changes PostgreSQL documents (ALTER TABLE, Notes): varchar widening, varchar →
// text, numeric precision increase with the same scale, dropping a length or precision limit.
// Prisma's enum swap (ALTER COLUMN … TYPE "X_new") is prisma-enum-swap's finding, not this one's.
import { alterCommands, existing, relationOf, tableName, typeBaseName, typeModifiers, walk, type TypeName } from "../nodes.ts";
import type { Rule } from "../types.ts";
import { swappedEnum } from "./prisma-enum-swap.ts";
import { typeName } from "./prisma-history.ts";

const textLike = new Set(["varchar", "text", "bpchar"]);
const precisionTypes = new Set(["timestamp", "timestamptz", "time", "timetz", "interval"]);

/** True when PostgreSQL changes the type without rewriting (it only relabels or checks nothing). */
export function binaryCoercible(from: TypeName, to: TypeName): boolean {
  const [a, b] = [typeBaseName(from), typeBaseName(to)];
  const [ma, mb] = [typeModifiers(from), typeModifiers(to)];
  if ((from.arrayBounds?.length ?? 0) !== (to.arrayBounds?.length ?? 0)) return false;
  if (a === "varchar" && b === "varchar") return mb.length === 0 || (ma.length > 0 && mb[0]! >= ma[0]!);
  if ((a === "varchar" || a === "text") && b === "text") return true;
  if (a === "text" && b === "varchar") return mb.length === 0;
  if (a === "numeric" && b === "numeric") return mb.length === 0 || (ma.length > 0 && mb[0]! >= ma[0]! && (mb[1] ?? 0) === (ma[1] ?? 0));
  if (a === b && precisionTypes.has(a)) return mb.length === 0 || (ma.length > 0 && mb[0]! >= ma[0]!);
  if (a === "varbit" && b === "varbit") return mb.length === 0 || (ma.length > 0 && mb[0]! >= ma[0]!);
  return a === b && ma.join() === mb.join();
}

/** A target some old type reaches without a rewrite: without the old type, the rewrite is only likely. */
function maybeCoercibleTarget(to: TypeName): boolean {
  const b = typeBaseName(to);
  return textLike.has(b) || b === "numeric" || b === "varbit" || precisionTypes.has(b);
}

/** USING that only reads the column (or casts it) leaves PostgreSQL free to skip the rewrite. */
function trivialUsing(expression: unknown, column: string): boolean {
  if (!expression) return true;
  const refs = [...walk(expression)].filter((n) => n.ColumnRef);
  const calls = [...walk(expression)].filter((n) => n.FuncCall || n.A_Expr || n.CaseExpr || n.SubLink);
  const names = refs.map((n) => (n.ColumnRef as { fields: { String?: { sval: string } }[] }).fields.at(-1)?.String?.sval ?? "");
  return calls.length === 0 && names.every((n) => n === column);
}

export const alterColumnType: Rule = {
  id: "alter-column-type",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  rewrites: true,
  why: "Changing a column's type rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE: every query on it waits.",
  fix: "Add a column of the new type, keep both in sync (trigger), backfill in batches, switch readers, drop the old one — breakwater operation changeColumnType (`breakwater plan`).",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    const table = relationOf(statement);
    if (!existing(table, statement, context)) return [];
    return alterCommands(statement).flatMap((cmd) => {
      const def = cmd.def?.ColumnDef;
      if (cmd.subtype !== "AT_AlterColumnType" || !def?.typeName || !cmd.name) return [];
      const target = typeName(def.typeName);
      if (target && swappedEnum(context, target)) return [];
      const using = trivialUsing(def.raw_default, cmd.name);
      const base = typeBaseName(def.typeName);
      if (using && maybeCoercibleTarget(def.typeName))
        return [
          {
            severity: "warning" as const,
            // Without the old type the rewrite is only likely: the warning does not claim it.
            rewrites: false,
            message: `Changing ${tableName(table)}.${cmd.name} to ${base} rewrites the table under ACCESS EXCLUSIVE unless it only widens (varchar(n) → varchar(m ≥ n) or text, numeric(p,s) → numeric(p' ≥ p,s), a larger precision): check the old type.`,
          },
        ];
      return [
        { message: `Changing ${tableName(table)}.${cmd.name} to ${base}${using ? "" : " with a computing USING"} rewrites the table and its indexes under ACCESS EXCLUSIVE.` },
      ];
    });
  },
};
