// A Prisma project for the `breakwater plan` tests: the old schema deployed through an ordinary
// migration breakwater wrote, and the shape of a database to compare with Prisma's own migrations.
import assert from "node:assert/strict";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Database } from "@breakwater/runtime/internal";
import { createTestDatabase, indexUrl, runCli, tempProject, type TestDatabase } from "../harness.ts";

export const datasource = `datasource db {\n  provider = "postgresql"\n}\n`;
export const generator = `generator client {\n  provider = "prisma-client"\n  output   = "../generated/prisma"\n}\n\n`;

/** The shape of the application's schema: what Prisma's own migrations would produce, order aside. */
export async function shape(db: Database): Promise<string> {
  const q = async (sql: string) => (await db.query<{ x: string }>(sql)).rows.map((r) => r.x).join("\n");
  return [
    await q(`SELECT format('%s.%s %s null=%s default=%s', table_name, column_name, data_type || coalesce('(' || udt_name || ')', ''), is_nullable, column_default) AS x
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations' ORDER BY table_name, column_name`),
    await q(`SELECT t.typname || ': ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS x FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
             WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname ORDER BY 1`),
    await q(`SELECT indexdef AS x FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY indexname`),
    await q(`SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS x FROM pg_constraint
             WHERE connamespace = 'public'::regnamespace AND conrelid <> '"_prisma_migrations"'::regclass ORDER BY 1`),
  ].join("\n--\n");
}

export interface Project {
  dir: string;
  plan(args: string[]): ReturnType<typeof runCli>;
  cli(args: string[]): ReturnType<typeof runCli>;
}

/** A project whose database holds the old schema through an ordinary migration breakwater wrote. */
export async function project(t: TestDatabase, oldSchema: string): Promise<Project> {
  const dir = await tempProject();
  await mkdir(path.join(dir, "prisma"), { recursive: true });
  await writeFile(path.join(dir, "empty.prisma"), datasource);
  await writeFile(path.join(dir, "prisma", "schema.prisma"), oldSchema);
  await writeFile(path.join(dir, "prisma", "schema.old.prisma"), oldSchema);
  const p: Project = {
    dir,
    cli: (args) => runCli(args, { cwd: dir, databaseUrl: t.url }),
    plan: (args) => runCli(["plan", "--import-from", indexUrl, ...args], { cwd: dir }),
  };
  const init = await p.plan(["--from", "empty.prisma", "--name", "init"]);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /Only safe changes/);
  const deployed = await p.cli(["deploy"]);
  assert.equal(deployed.code, 0, deployed.stderr);
  return p;
}

export async function folders(dir: string): Promise<string[]> {
  return (await readdir(path.join(dir, "prisma", "migrations"))).filter((n) => /^\d{14}_/.test(n)).sort();
}

/** The database Prisma's own migrations give for a schema, to compare shapes with. */
export async function reference(schema: string): Promise<{ t: TestDatabase; shape: string }> {
  const t = await createTestDatabase();
  const p = await project(t, schema);
  const result = { t, shape: await shape(t.db) };
  await rm(p.dir, { recursive: true, force: true });
  return result;
}
