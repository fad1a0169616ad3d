// `breakwater migrate status`: each folder applied, pending, waiting for its plan, failed, edited
// since it was applied, or refused before anything would run; and rows without a folder.
import { findInvalidUtf8 } from "../../db/sql-statements.ts";
import { planCompleted } from "../plan-gate.ts";
import { connectForPrisma, matchesChecksum, missingFileError, readMigrations, readRows, type MigrationRow } from "./migrations.ts";

export interface MigrationStatus {
  applied: string[];
  pending: string[];
  /** pending contract folders whose plan has not completed (deploy stops before them) */
  waiting: { migration: string; planId: string }[];
  failed: string[];
  /** applied, but the file's bytes changed since (Prisma's comparison: CRLF/LF variants accepted) */
  edited: string[];
  /** rows without a folder */
  missing: string[];
  /** pending folders deploy refuses before running anything: no migration.sql, or not UTF-8 */
  refused: { migration: string; reason: string }[];
}

/** `breakwater migrate status` */
export async function migrationStatus(url: string, migrationsDir: string): Promise<MigrationStatus> {
  const folders = await readMigrations(migrationsDir);
  const { db, schema } = await connectForPrisma(url);
  try {
    const rows = await readRows(db, schema);
    // As Prisma: a folder recorded in the table must have its file (its checksum is compared).
    const unreadable = folders.find((f) => f.bytes === null && rows.some((r) => r.migration_name === f.name));
    if (unreadable) throw missingFileError(unreadable);
    const live = rows.filter((r) => r.rolled_back_at === null);
    const byName = new Map(folders.map((f) => [f.name, f]));
    const editedSince = (row: MigrationRow) => {
      const bytes = byName.get(row.migration_name)?.bytes;
      return bytes != null && !matchesChecksum(bytes, row.checksum);
    };
    const pendingFolders = folders.filter((f) => !live.some((r) => r.migration_name === f.name));
    const refused = pendingFolders.flatMap((f) => {
      const reason = f.bytes === null ? "no migration.sql (P3015)" : findInvalidUtf8(f.bytes)?.reason;
      return reason === undefined ? [] : [{ migration: f.name, reason }];
    });
    const waiting: { migration: string; planId: string }[] = [];
    for (const f of pendingFolders) if (f.requiresPlan !== null && !(await planCompleted(db, f.requiresPlan))) waiting.push({ migration: f.name, planId: f.requiresPlan });
    return {
      applied: live.filter((r) => r.finished_at !== null).map((r) => r.migration_name),
      pending: pendingFolders.map((f) => f.name),
      waiting,
      failed: live.filter((r) => r.finished_at === null).map((r) => r.migration_name),
      edited: live.filter((r) => r.finished_at !== null && editedSince(r)).map((r) => r.migration_name),
      missing: live.filter((r) => !byName.has(r.migration_name)).map((r) => r.migration_name),
      refused,
    };
  } finally {
    await db.close();
  }
}
