// `breakwater lint --pending`: only the migration folders that `_prisma_migrations` does not list
// as applied (finished and not rolled back), read from the database without changing anything.
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { readRows } from "../prisma/deploy/migrations.ts";
import { connectForCatalog } from "./catalog.ts";
import type { LintFile } from "./types.ts";

/** The folder of a `<migrations>/<folder>/migration.sql` path. */
const folderOf = (file: string) => file.split("/").at(-2) ?? "";

/** The files deploy would still run: Prisma migrations not applied yet, and every other file as given. */
export async function pendingFiles(files: LintFile[], url: string | undefined): Promise<LintFile[]> {
  if (!url)
    throw new BreakwaterError("BW_LINT_INPUT", "--pending needs the database: give --database-url or set DATABASE_URL.", { hint: "Without it, lint every file (no --pending)." });
  let db;
  try {
    db = await connectForCatalog(url);
  } catch (error) {
    throw new BreakwaterError("BW_LINT_INPUT", `--pending: the database could not be read (${(error as Error).message.split("\n")[0]}).`, {
      hint: "Check the URL, or lint every file (no --pending).",
    });
  }
  try {
    const schema = new URL(url).searchParams.get("schema") ?? "public";
    const applied = new Set((await readRows(db, schema)).filter((row) => row.finished_at !== null && row.rolled_back_at === null).map((row) => row.migration_name));
    return files.filter((file) => file.runner !== "prisma" || !applied.has(folderOf(file.path)));
  } finally {
    await db.close();
  }
}
