// VACUUM FULL rewrites the whole table under ACCESS EXCLUSIVE.
import { existing, hasOption, tablesOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const vacuumFull: Rule = {
  id: "vacuum-full",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  rewrites: true,
  why: "VACUUM FULL copies the whole table under ACCESS EXCLUSIVE: every query on it waits until it is done.",
  fix: "Plain VACUUM (no lock on reads or writes), or pg_repack / pg_squeeze to reclaim space online.",
  kinds: ["VacuumStmt"],
  check(statement, context) {
    if (statement.kind !== "VacuumStmt" || !hasOption(statement.node, "full")) return [];
    const tables = tablesOf(statement);
    if (tables.length === 0) return [{ message: "VACUUM FULL of the whole database rewrites every table under ACCESS EXCLUSIVE." }];
    return tables.filter((t) => existing(t, statement, context)).map((t) => ({ message: `VACUUM FULL ${tableName(t)} rewrites the table under ACCESS EXCLUSIVE.` }));
  },
};
