// An enum value cannot be used in the transaction that added it (55P04 "unsafe use of new value
// of enum type"). Prisma runs a migration.sql as one script, one implicit transaction, and its
// own diff writes `ADD VALUE 'X'` then `SET DEFAULT 'X'` in the same file.
import type { LintStatement, Rule, RuleContext } from "../types.ts";
import { displayName, qualified, sameName, svals, typeName, type Node, type QualifiedName } from "./prisma-history.ts";

interface Addition {
  statement: LintStatement;
  type: QualifiedName;
  value: string;
}

/** The ADD VALUEs before `statement` that share its transaction (for Prisma's runner: the whole file). */
function additionsInTransaction(statement: LintStatement, context: RuleContext): Addition[] {
  const additions: Addition[] = [];
  for (const s of context.file.statements) {
    if (s.index >= statement.index) break;
    const node = s.node as Node;
    // COMMIT ends the transaction (in Prisma's script too: what follows starts a new one); for
    // other runners each statement outside BEGIN … COMMIT commits on its own.
    if (s.kind === "TransactionStmt" && (context.file.runner !== "prisma" || ["TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK"].includes(node.kind as string))) additions.length = 0;
    // A type created in the same transaction may use its new values (PostgreSQL 12+).
    if (s.kind === "CreateEnumStmt") {
      const created = qualified(svals(node.typeName));
      for (let i = additions.length - 1; i >= 0; i--) if (sameName(additions[i]!.type, created)) additions.splice(i, 1);
    }
    if (s.kind === "AlterEnumStmt" && typeof node.newVal === "string" && node.oldVal === undefined) {
      const type = qualified(svals(node.typeName));
      const createdHere = context.file.statements.some((c) => c.index < s.index && c.kind === "CreateEnumStmt" && sameName(qualified(svals((c.node as Node).typeName)), type));
      if (!createdHere) additions.push({ statement: s, type, value: node.newVal });
    }
  }
  if (context.file.runner !== "prisma" && !statement.inTransaction) return [];
  return additions.filter((a) => context.file.runner === "prisma" || a.statement.inTransaction);
}

/** Whether the statement holds `value` as a literal that is not cast to some other type. */
function usesLiteral(value: unknown, addition: Addition): boolean {
  if (Array.isArray(value)) return value.some((v) => usesLiteral(v, addition));
  if (value === null || typeof value !== "object") return false;
  const node = value as Node;
  const constant = node.A_Const as { sval?: { sval?: string } } | undefined;
  if (constant) return constant.sval?.sval === addition.value;
  const cast = node.TypeCast as { arg?: unknown; typeName?: unknown } | undefined;
  if (cast) {
    const to = typeName(cast.typeName);
    // 'X'::"Other": not this enum's value (a text cast still feeds it on: 'X'::text::"Role").
    if (to && !sameName(to, addition.type) && !["text", "varchar", "bpchar", "name"].includes(to.name)) return false;
    return usesLiteral(cast.arg, addition);
  }
  return Object.values(node).some((v) => usesLiteral(v, addition));
}

export const prismaEnumValueAddedAndUsed: Rule = {
  id: "prisma-enum-value-added-and-used",
  defaultSeverity: "error",
  lock: null,
  blocks: [],
  why: "PostgreSQL refuses a new enum value in the transaction that added it (55P04), and Prisma runs the whole file as one transaction: `prisma migrate deploy` fails half-way.",
  fix: "Deploy with `breakwater deploy`, which commits the ADD VALUE before the rest of the file; or move the use into the next migration (`breakwater plan` writes it so, with the addEnumValue operation).",
  check(statement: LintStatement, context: RuleContext) {
    if (statement.kind === "AlterEnumStmt" || statement.kind === "TransactionStmt") return [];
    const used = additionsInTransaction(statement, context).filter((a) => usesLiteral(statement.node, a));
    if (used.length === 0) return [];
    const where = used.map((a) => `'${a.value}' (added to ${displayName(a.type)} on line ${a.statement.line})`).join(", ");
    const runner =
      context.file.runner === "prisma" ? "Prisma runs the file as one transaction, so `prisma migrate deploy` fails here; `breakwater deploy` splits the file and passes"
      : context.file.runner === "plan" ? "breakwater runs a sql step as one transaction, so `breakwater run` fails here"
      : "it was added in this same transaction";
    const fix =
      context.file.runner === "plan" ?
        "Add the value in a step of its own (the addEnumValue operation, or a sql step before this one): each step commits before the next."
      : undefined;
    return [
      {
        message: `Uses the new enum value ${where}: PostgreSQL refuses it in the transaction that added it (55P04 unsafe use of new value), and ${runner}.`,
        ...(fix ? { fix } : {}),
      },
    ];
  },
};
