// ADD FOREIGN KEY validates every row while holding SHARE ROW EXCLUSIVE on both tables.
import { alterCommands, constraintsOf, existing, relationOf, sqlTable, tableName } from "../nodes.ts";
import { quoteIdent } from "../../db/quote.ts";
import type { Rule } from "../types.ts";

export const foreignKeyNotValid: Rule = {
  id: "foreign-key-not-valid",
  defaultSeverity: "error",
  lock: "SHARE ROW EXCLUSIVE",
  blocks: ["writes"],
  why: "Adding a foreign key checks every existing row while writes to both tables wait.",
  fix: "ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE CONSTRAINT in a later statement (it takes only SHARE UPDATE EXCLUSIVE) — breakwater operation addForeignKey.",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    const table = relationOf(statement);
    if (!existing(table, statement, context)) return [];
    return alterCommands(statement).flatMap((cmd) => {
      const constraint = cmd.def?.Constraint;
      const inline = cmd.subtype === "AT_AddColumn" && constraintsOf(cmd.def?.ColumnDef ?? {}).some((c) => c.contype === "CONSTR_FOREIGN");
      if (!inline && !(cmd.subtype === "AT_AddConstraint" && constraint?.contype === "CONSTR_FOREIGN" && !constraint.skip_validation)) return [];
      const name = constraint?.conname;
      return [
        {
          message: `A foreign key added to ${tableName(table)} without NOT VALID checks every row while writes to both tables wait.`,
          fix:
            name ?
              `ALTER TABLE ${sqlTable(table)} ADD CONSTRAINT ${quoteIdent(name)} FOREIGN KEY … NOT VALID; then ALTER TABLE ${sqlTable(table)} VALIDATE CONSTRAINT ${quoteIdent(name)}; (breakwater operation addForeignKey)`
            : foreignKeyNotValid.fix,
        },
      ];
    });
  },
};
