// A `User` table with a `Role` enum (USER, ADMIN), filled with users: where the demo, the tests
// and the benchmarks start.
import { defineMigration, renameEnumValue } from "@breakwater/runtime";
import type { Database } from "@breakwater/runtime/internal";
import { validatePlan, type Plan } from "../plan/plan.ts";

/** Creates "Role" and "User" with `rows` users, 1 in 10 ADMIN, ids like nanoid. */
export async function createUsers(db: Database, rows: number): Promise<void> {
  await db.query(`
    CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
    CREATE TABLE "User" (
      id text PRIMARY KEY,
      email text NOT NULL UNIQUE,
      role "Role" NOT NULL DEFAULT 'USER',
      "createdAt" timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX "User_role_idx" ON "User" (role);`);
  await db.query(
    `INSERT INTO "User" (id, email, role)
     SELECT substr(md5(i::text), 1, 21), 'user' || i || '@example.com', (CASE WHEN i % 10 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role"
       FROM generate_series(1, $1::int) AS i`,
    [rows],
  );
  await db.query(`ANALYZE "User"`);
}

/** The demo's enum rename: USER → EMPLOYEE, add MANAGER, remove USER. */
export function demoPlan(options: { failCheck?: boolean; rows?: number } = {}): Plan {
  return validatePlan(
    defineMigration({
      id: "role_user_to_employee",
      description: "Role: USER becomes EMPLOYEE, MANAGER is added, USER is removed",
      // No application reads the demo's throwaway database, so none can fail on EMPLOYEE.
      steps: [renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], appReadsNewValues: true })],
      checks: [
        { name: "no user lost", sql: `SELECT count(*) FROM "User"`, expect: "before" },
        ...(options.failCheck ?
          [{ name: "deliberately failing check (--fail-check): expects one user more", sql: `SELECT count(*) FROM "User"`, expect: (options.rows ?? 0) + 1 }]
        : []),
      ],
    }),
    "demo plan",
  );
}
