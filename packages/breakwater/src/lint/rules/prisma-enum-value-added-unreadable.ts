// Prisma Client maps an enum column to the values it was generated with: an application built
// before a value was added fails on any row holding it (P2023 "Inconsistent column data").
import type { LintStatement, Rule, RuleContext } from "../types.ts";
import { swappedEnum } from "./prisma-enum-swap.ts";
import { displayName, enumLabelsBefore, qualified, sameName, svals, type Node } from "./prisma-history.ts";

export const enumValueAddedUnreadable: Rule = {
  id: "enum-value-added-unreadable",
  defaultSeverity: "warning",
  lock: null,
  blocks: [],
  why: "An application built before the value existed cannot read a row holding it (Prisma P2023): every old instance still running fails on those rows.",
  fix: "Deploy the application built from the new schema everywhere before anything writes the value, or use `breakwater plan`'s intermediate schema (the value added first, written only after the new application is out).",
  kinds: ["AlterEnumStmt", "CreateEnumStmt"],
  check(statement: LintStatement, context: RuleContext) {
    const node = statement.node as Node;
    if (statement.kind === "AlterEnumStmt" && typeof node.newVal === "string" && node.oldVal === undefined) {
      const type = qualified(svals(node.typeName));
      // A type created earlier in this file: no application reads it yet.
      const createdHere = context.file.statements.some(
        (s) => s.index < statement.index && s.kind === "CreateEnumStmt" && sameName(qualified(svals((s.node as Node).typeName)), type),
      );
      if (createdHere) return [];
      return [{ message: `'${node.newVal}' is a new value of ${displayName(type)}: an application built before it fails (P2023) on every row that holds it.` }];
    }
    // Prisma's enum swap may add values too (a rename is a removal plus an addition).
    if (statement.kind === "CreateEnumStmt") {
      const target = qualified(svals(node.typeName));
      const swap = swappedEnum(context, target);
      if (!swap) return [];
      const old = enumLabelsBefore(context, statement, swap.old);
      const added = old ? swap.labels.filter((l) => !old.includes(l)) : [];
      if (added.length === 0) return [];
      return [
        {
          message: `${added.map((l) => `'${l}'`).join(", ")} ${added.length === 1 ? "is a new value" : "are new values"} of ${displayName(swap.old)}: an application built before fails (P2023) on every row that holds one.`,
        },
      ];
    }
    return [];
  },
};
