// `breakwater deploy` with backup.beforeDeploy: a full pg_dump before the first file that drops or
// rewrites data (found with PostgreSQL's parser), none when nothing is destructive.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, runCli, tableChecksum, tempProject, type TestDatabase } from "../harness.ts";

const files: [string, string][] = [
  [
    "20250101000000_init",
    `CREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT);\nINSERT INTO "User" (email, name) SELECT 'u' || i || '@example.com', 'Name ' || i FROM generate_series(1, 500) i;\n`,
  ],
  ["20250102000000_index", `CREATE INDEX "User_email_idx" ON "User"("email");\nDROP INDEX "User_email_idx";\n`],
  ["20250103000000_drop_name", `-- AlterTable\nALTER TABLE "User" DROP COLUMN "name",\nADD COLUMN "bio" TEXT;\n`],
];

describe("breakwater deploy --backup destructive", () => {
  let t: TestDatabase;
  let dir: string;
  before(async () => {
    t = await createTestDatabase();
    dir = await tempProject({ "breakwater.config.ts": `export default { backup: { beforeDeploy: "destructive", dir: "backups" } };\n` });
    for (const [name, sql] of files) {
      await mkdir(path.join(dir, "prisma", "migrations", name), { recursive: true });
      await writeFile(path.join(dir, "prisma", "migrations", name, "migration.sql"), sql);
    }
  });
  after(async () => t.drop());

  it("takes no backup when the pending files only add things (a dropped index is not data)", async () => {
    const dry = await runCli(["deploy", "--dry-run", "--backup", "destructive", "--migrations", "prisma/migrations"], { cwd: dir, databaseUrl: t.url });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /A full backup would be taken before 20250103000000_drop_name \(DROP COLUMN name\)/);
    // apply the first two only: move the destructive one aside
    const third = path.join(dir, "prisma", "migrations", files[2]![0]);
    const aside = path.join(dir, "aside");
    await mkdir(aside, { recursive: true });
    await rename(third, path.join(aside, files[2]![0]));
    const first = await runCli(["deploy"], { cwd: dir, databaseUrl: t.url });
    assert.equal(first.code, 0, first.stderr);
    assert.doesNotMatch(first.stdout, /backup/i);
    assert.equal(existsSync(path.join(dir, "backups")), false);
    await rename(path.join(aside, files[2]![0]), third);
  });

  it("dumps the database before the file that drops a column, and that dump restores the column's data", async () => {
    const before = await tableChecksum(t.db, '"User"', "id", "id, email, name");
    // The drop is meant (deploy's lint refuses it otherwise): the backup is what keeps its data.
    const result = await runCli(["deploy", "--allow", "drop-column", "--allow", "prisma-rename-as-drop-add"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Full backup before 20250103000000_drop_name \(DROP COLUMN name\): .*backups\/backup_.*before_20250103000000_drop_name\.dump/);
    assert.match(result.stderr, /full backup first \(DROP COLUMN name\)/);
    const dumps = (await readdir(path.join(dir, "backups"))).filter((f) => f.endsWith(".dump"));
    assert.equal(dumps.length, 1);
    assert.equal(
      (await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'User' AND column_name = 'name'`)).n,
      0,
      "the column is gone",
    );

    const restored = await runCli(["restore", path.join("backups", dumps[0]!), "--yes"], { cwd: dir, databaseUrl: t.url });
    assert.equal(restored.code, 0, restored.stderr);
    // restore ends every other session of the database (its write fence), ours included.
    assert.equal(await tableChecksum(await t.connect(), '"User"', "id", "id, email, name"), before, "the dump holds the state before the drop");
  });
});
