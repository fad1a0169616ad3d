// ADD CHECK scans every row under ACCESS EXCLUSIVE: no reads or writes meanwhile.
import { alterCommands, constraintsOf, existing, relationOf, sqlTable, tableName } from "../nodes.ts";
import { quoteIdent } from "../../db/quote.ts";
import type { Rule } from "../types.ts";

export const checkNotValid: Rule = {
  id: "check-not-valid",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "Adding a CHECK constraint scans the whole table under ACCESS EXCLUSIVE: every query on it waits.",
  fix: "ADD CONSTRAINT … CHECK (…) NOT VALID, then VALIDATE CONSTRAINT in a later statement (SHARE UPDATE EXCLUSIVE: reads and writes go on).",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    const table = relationOf(statement);
    if (!existing(table, statement, context)) return [];
    return alterCommands(statement).flatMap((cmd) => {
      const constraint = cmd.def?.Constraint;
      const inline = cmd.subtype === "AT_AddColumn" && constraintsOf(cmd.def?.ColumnDef ?? {}).some((c) => c.contype === "CONSTR_CHECK");
      if (!inline && !(cmd.subtype === "AT_AddConstraint" && constraint?.contype === "CONSTR_CHECK" && !constraint.skip_validation)) return [];
      const name = constraint?.conname;
      return [
        {
          message: `A CHECK constraint added to ${tableName(table)} without NOT VALID scans every row under ACCESS EXCLUSIVE.`,
          fix:
            name ?
              `ALTER TABLE ${sqlTable(table)} ADD CONSTRAINT ${quoteIdent(name)} CHECK (…) NOT VALID; then ALTER TABLE ${sqlTable(table)} VALIDATE CONSTRAINT ${quoteIdent(name)};`
            : checkNotValid.fix,
        },
      ];
    });
  },
};
