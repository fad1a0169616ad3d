// Creates the example's tables (prisma/migrations) and a few users in DATABASE_URL.
import { readFile } from "node:fs/promises";
import pg from "pg";

const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
const exists = await client.query(`SELECT to_regclass('"User"') IS NOT NULL AS ok`);
if (!exists.rows[0].ok) {
  await client.query(await readFile(new URL("../prisma/migrations/0001_init/migration.sql", import.meta.url), "utf8"));
  await client.query(`INSERT INTO "User" (email, role) VALUES ('ada@example.com', 'ADMIN'), ('grace@example.com', 'MANAGER'), ('linus@example.com', 'EMPLOYEE')`);
}
await client.end();
console.log("database ready");
