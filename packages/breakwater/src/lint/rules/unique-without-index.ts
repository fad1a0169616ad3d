// ADD UNIQUE / PRIMARY KEY / EXCLUDE (as a constraint, or on an added column) builds its index under
// ACCESS EXCLUSIVE: no reads or writes meanwhile.
import { alterCommands, constraintsOf, existing, relationOf, sqlTable, tableName } from "../nodes.ts";
import { quoteIdent } from "../../db/quote.ts";
import type { Rule } from "../types.ts";

const kinds: Record<string, string> = { CONSTR_UNIQUE: "UNIQUE", CONSTR_PRIMARY: "PRIMARY KEY", CONSTR_EXCLUSION: "EXCLUDE" };

export const uniqueWithoutIndex: Rule = {
  id: "unique-without-index",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "ADD CONSTRAINT UNIQUE or PRIMARY KEY builds its index while holding ACCESS EXCLUSIVE: every query on the table waits for the whole build.",
  fix: "CREATE UNIQUE INDEX CONCURRENTLY first (its own migration), then ADD CONSTRAINT … UNIQUE / PRIMARY KEY USING INDEX (instant) — breakwater operation createIndex.",
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    const table = relationOf(statement);
    if (!existing(table, statement, context)) return [];
    return alterCommands(statement).flatMap((cmd) => {
      // ADD COLUMN … UNIQUE / PRIMARY KEY builds the same index under the same lock (seen by --trace).
      if (cmd.subtype === "AT_AddColumn") {
        const column = cmd.def?.ColumnDef;
        const inline = constraintsOf(column ?? {}).find((c) => kinds[c.contype] && kinds[c.contype] !== "EXCLUDE");
        if (!inline || !column?.colname) return [];
        const kind = kinds[inline.contype]!;
        const name = inline.conname ?? `${table.relname}_${kind === "PRIMARY KEY" ? "pkey" : `${column.colname}_key`}`;
        const at = sqlTable(table);
        return [
          {
            message: `ADD COLUMN ${column.colname} … ${kind} on ${tableName(table)} builds its index under ACCESS EXCLUSIVE.`,
            fix: `ALTER TABLE ${at} ADD COLUMN ${quoteIdent(column.colname)} … (without ${kind});\nCREATE UNIQUE INDEX CONCURRENTLY ${quoteIdent(name)} ON ${at} (${quoteIdent(column.colname)});\nALTER TABLE ${at} ADD CONSTRAINT ${quoteIdent(name)} ${kind} USING INDEX ${quoteIdent(name)};`,
          },
        ];
      }
      const constraint = cmd.def?.Constraint;
      const kind = constraint && kinds[constraint.contype];
      if (cmd.subtype !== "AT_AddConstraint" || !kind || constraint.indexname) return [];
      const name = constraint.conname ?? `${table.relname}_${kind === "PRIMARY KEY" ? "pkey" : "key"}`;
      const at = sqlTable(table);
      return [
        {
          message: `ADD ${kind} on ${tableName(table)} builds its index under ACCESS EXCLUSIVE.`,
          fix:
            kind === "EXCLUDE" ?
              "An exclusion constraint cannot use a prebuilt index: add it while the table is small, or in a maintenance window."
            : `CREATE UNIQUE INDEX CONCURRENTLY ${quoteIdent(name)} ON ${at} (…);\nALTER TABLE ${at} ADD CONSTRAINT ${quoteIdent(name)} ${kind} USING INDEX ${quoteIdent(name)};`,
        },
      ];
    });
  },
};
