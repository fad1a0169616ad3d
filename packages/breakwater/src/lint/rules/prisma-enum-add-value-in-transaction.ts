// Before PostgreSQL 12, ALTER TYPE … ADD VALUE cannot run inside a transaction block (25001),
// and a multi-statement script such as Prisma's migration.sql is one implicit transaction block.
import type { LintStatement, Rule, RuleContext } from "../types.ts";
import { displayName, qualified, sameName, svals, type Node } from "./prisma-history.ts";

const isAddition = (s: LintStatement) => s.kind === "AlterEnumStmt" && typeof (s.node as Node).newVal === "string" && (s.node as Node).oldVal === undefined;

export const enumAddValueInTransaction: Rule = {
  id: "enum-add-value-in-transaction",
  defaultSeverity: "error",
  lock: null,
  blocks: [],
  why: "PostgreSQL before 12 refuses ALTER TYPE … ADD VALUE inside a transaction block (25001), and Prisma runs a file of several statements as one.",
  fix: "Put each `ALTER TYPE … ADD VALUE` in a migration file of its own, outside BEGIN/COMMIT (`breakwater deploy` runs it apart from the rest of the file), or upgrade to PostgreSQL 12+.",
  kinds: ["AlterEnumStmt"],
  check(statement: LintStatement, context: RuleContext) {
    if (context.serverVersion >= 120000 || !isAddition(statement)) return [];
    const others = context.file.statements.filter((s) => s !== statement && s.kind !== "TransactionStmt");
    const implicit = context.file.runner === "prisma" && others.length > 0;
    if (!statement.inTransaction && !implicit) return [];
    // A type created in the same transaction may take values (PostgreSQL allows it on every version).
    const type = qualified(svals((statement.node as Node).typeName));
    if (others.some((s) => s.index < statement.index && s.kind === "CreateEnumStmt" && sameName(qualified(svals((s.node as Node).typeName)), type))) return [];
    const additions = context.file.statements.filter(isAddition).length;
    const version = `${Math.floor(context.serverVersion / 10000)}`;
    const where = statement.inTransaction ? "inside BEGIN … COMMIT" : "in a file Prisma runs as one transaction";
    return [
      {
        message: `ALTER TYPE ${displayName(type)} ADD VALUE ${where} fails on PostgreSQL ${version} (25001: cannot run inside a transaction block)${additions > 1 ? `; the file adds ${additions} values` : ""}.`,
      },
    ];
  },
};
