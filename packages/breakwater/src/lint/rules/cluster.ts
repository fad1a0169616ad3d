// CLUSTER rewrites the whole table in index order under ACCESS EXCLUSIVE.
import { existing, relationOf, tableName } from "../nodes.ts";
import type { Rule } from "../types.ts";

export const cluster: Rule = {
  id: "cluster",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  rewrites: true,
  why: "CLUSTER copies the whole table in index order under ACCESS EXCLUSIVE: every query on it waits until it is done.",
  fix: "pg_repack --order-by to reorder online, or leave the order to the planner.",
  kinds: ["ClusterStmt"],
  check(statement, context) {
    if (statement.kind !== "ClusterStmt") return [];
    const table = relationOf(statement);
    if (table === null) return [{ message: "CLUSTER without a table rewrites every clustered table under ACCESS EXCLUSIVE." }];
    return existing(table, statement, context) ? [{ message: `CLUSTER ${tableName(table)} rewrites the table under ACCESS EXCLUSIVE.` }] : [];
  },
};
