// Prisma sends a migration.sql as one multi-statement query; PostgreSQL runs such a query as one
// implicit transaction block, so CONCURRENTLY fails there (25001) unless it is the file's only statement.
import type { Rule } from "../types.ts";
import { concurrentStatement } from "./concurrently-in-transaction.ts";

export const concurrentlyInPrismaFile: Rule = {
  id: "concurrently-in-prisma-file",
  defaultSeverity: "error",
  lock: null,
  blocks: [],
  why: "Prisma runs migration.sql as one multi-statement query, which PostgreSQL treats as one transaction block: CONCURRENTLY fails there (25001).",
  fix: "Give the statement a migration folder of its own: a migration.sql holding only it runs outside any transaction block.",
  kinds: ["IndexStmt", "DropStmt", "ReindexStmt"],
  check(statement, context) {
    const what = concurrentStatement(statement);
    if (!what || statement.inTransaction || context.file.runner !== "prisma" || context.file.statements.length < 2) return [];
    return [{ message: `${what} in a Prisma migration with other statements fails under \`prisma migrate deploy\`: the file runs as one transaction block (25001).` }];
  },
};
