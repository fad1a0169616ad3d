// SET NOT NULL scans every row under ACCESS EXCLUSIVE, unless a validated CHECK (col IS NOT NULL) proves it (PostgreSQL 12+).
import { alterCommands, existing, relationOf, sqlTable, statementsOn, tableName, type RangeVar } from "../nodes.ts";
import { quoteIdent } from "../../db/quote.ts";
import { describeSize, isEmpty } from "../catalog.ts";
import type { LintStatement, Rule, RuleContext } from "../types.ts";

/**
 * The columns of `table` that a valid CHECK (column IS NOT NULL) covers before `statement`: added
 * without NOT VALID, or NOT VALID then validated, earlier in the run and not dropped since. SET NOT
 * NULL then uses the check instead of scanning (PostgreSQL 12+: "ALTER TABLE … SET NOT NULL").
 */
function provenNotNull(context: RuleContext, statement: LintStatement, table: RangeVar): Set<string> {
  const checks = new Map<string, { column: string; valid: boolean }>();
  let unnamed = 0;
  const current = context.files.indexOf(context.file);
  for (const { at, statement: s } of statementsOn(context.files, table)) {
    if (at > current || (at === current && s.index >= statement.index)) break;
    for (const cmd of alterCommands(s)) {
      const constraint = cmd.def?.Constraint;
      const test = constraint?.raw_expr?.NullTest as { arg?: { ColumnRef?: { fields?: { String?: { sval?: string } }[] } }; nulltesttype?: string } | undefined;
      const fields = test?.arg?.ColumnRef?.fields ?? [];
      if (cmd.subtype === "AT_AddConstraint" && constraint?.contype === "CONSTR_CHECK" && test?.nulltesttype === "IS_NOT_NULL" && fields.length === 1) {
        checks.set(constraint.conname ?? `unnamed ${unnamed++}`, { column: fields[0]!.String?.sval ?? "", valid: !constraint.skip_validation });
      } else if (cmd.subtype === "AT_ValidateConstraint" && cmd.name && checks.has(cmd.name)) checks.get(cmd.name)!.valid = true;
      else if (cmd.subtype === "AT_DropConstraint" && cmd.name) checks.delete(cmd.name);
    }
  }
  return new Set([...checks.values()].filter((c) => c.valid).map((c) => c.column));
}

export const setNotNull: Rule = {
  id: "set-not-null",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE to prove no row is null: every query on it waits.",
  fix: "Add CHECK (column IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ uses the check and skips the scan), then drop the check — breakwater operation setNotNull.",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    const setNotNull = alterCommands(statement).filter((cmd) => cmd.subtype === "AT_SetNotNull" && cmd.name);
    const table = relationOf(statement);
    if (setNotNull.length === 0 || !existing(table, statement, context)) return [];
    // An empty table is scanned in no time: nothing to wait for.
    if (isEmpty(context, table.schemaname ?? null, table.relname) === true) return [];
    const size = describeSize(context, table.schemaname ?? null, table.relname);
    const proven = context.serverVersion >= 120000 ? provenNotNull(context, statement, table) : new Set<string>();
    return setNotNull
      .filter((cmd) => !proven.has(cmd.name!))
      .map((cmd) => {
        const column = cmd.name!;
        const check = quoteIdent(`${table.relname}_${column}_not_null`.slice(0, 63));
        const at = sqlTable(table);
        return {
          message: `SET NOT NULL on ${tableName(table)}.${column} scans every row${size ? ` (${size})` : ""} under ACCESS EXCLUSIVE.`,
          fix: [
            `ALTER TABLE ${at} ADD CONSTRAINT ${check} CHECK (${quoteIdent(column)} IS NOT NULL) NOT VALID;`,
            `ALTER TABLE ${at} VALIDATE CONSTRAINT ${check};`,
            `ALTER TABLE ${at} ALTER COLUMN ${quoteIdent(column)} SET NOT NULL;`,
            `ALTER TABLE ${at} DROP CONSTRAINT ${check};`,
            `(breakwater operation setNotNull)`,
          ].join("\n"),
        };
      });
  },
};
