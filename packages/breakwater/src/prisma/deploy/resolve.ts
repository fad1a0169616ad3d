// `breakwater migrate resolve`: a migration recorded as rolled back (a failed one, to run it again)
// or as applied (finished by hand, or a baseline), as `prisma migrate resolve` does, with its codes.
import { randomUUID } from "node:crypto";
import { checksumOf, connectForPrisma, createMigrationsTable, prismaError, readMigrations, readRows, takePrismaLock } from "./migrations.ts";

/** `breakwater migrate resolve --applied NAME | --rolled-back NAME`, with Prisma's semantics and codes. */
export async function resolveMigration(url: string, migrationsDir: string, mode: "applied" | "rolled-back", name: string): Promise<void> {
  const folders = await readMigrations(migrationsDir);
  const { db, schema } = await connectForPrisma(url);
  try {
    await takePrismaLock(db, url, 10_000);
    await createMigrationsTable(db);
    const rows = (await readRows(db, schema)).filter((r) => r.migration_name === name);
    if (mode === "rolled-back") {
      if (rows.length === 0)
        throw prismaError(
          "P3011",
          `Migration \`${name}\` cannot be rolled back because it was never applied to the database. Hint: did you pass in the whole migration name? (example: "20201207184859_initial_migration")`,
        );
      const unfinished = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
      if (unfinished.length === 0) throw prismaError("P3012", `Migration \`${name}\` cannot be rolled back because it is not in a failed state.`);
      await db.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL`, [name]);
      return;
    }
    // As Prisma: a folder without its file is "not found" here, not P3015.
    const bytes = folders.find((f) => f.name === name)?.bytes;
    if (!bytes)
      throw prismaError(
        "P3017",
        `The migration ${name} could not be found. Please make sure that the migration exists, and that you included the whole name of the directory. (example: "20201207184859_initial_migration")`,
      );
    if (rows.some((r) => r.finished_at !== null && r.rolled_back_at === null))
      throw prismaError("P3008", `The migration \`${name}\` is already recorded as applied in the database.`);
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL`, [name]);
      await tx.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, started_at, finished_at, migration_name, logs, applied_steps_count) VALUES ($1, $2, now(), now(), $3, '', 0)`,
        [randomUUID(), checksumOf(bytes), name],
      );
    });
  } finally {
    await db.close();
  }
}
