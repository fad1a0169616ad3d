// Prisma's migrations as Prisma reads and writes them: the folders of the migrations folder (each
// migration.sql's bytes and checksum, the plan gate beside it) and the `_prisma_migrations` table
// in the schema of the URL's `?schema=`, behind Prisma's advisory lock and with its error codes.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { BreakwaterError, Database, describeUrl } from "@breakwater/runtime/internal";
import { isLockTimeout } from "../../db/locks.ts";
import { quoteIdent } from "../../db/quote.ts";
import { decodeSql } from "../../db/sql-statements.ts";
import { GATE_FILE, readGate } from "../plan-gate.ts";

/** Prisma's advisory lock key: breakwater and Prisma exclude each other. */
export const PRISMA_LOCK_KEY = 72707369;

export interface MigrationFolder {
  name: string;
  /** the path of its migration.sql */
  file: string;
  /** the file's bytes; null when the folder has no migration.sql (Prisma's P3015) */
  bytes: Buffer | null;
  /** from the folder's breakwater.json: the id of the plan whose run must complete first */
  requiresPlan: string | null;
  /** the plan makes this migration's changes itself (an online plan): recorded as applied, never run */
  appliedByPlan: boolean;
}

/** A folder deploy will run: its checksum and the text PostgreSQL is sent. */
export interface PendingMigration extends MigrationFolder {
  bytes: Buffer;
  checksum: string;
  sql: string;
  byteOrderMark: boolean;
}

export interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

export type PrismaCode = "P1002" | "P3005" | "P3008" | "P3009" | "P3011" | "P3012" | "P3015" | "P3017" | "P3018" | "P3019";

export function prismaError(code: PrismaCode, message: string, hint?: string): BreakwaterError {
  return new BreakwaterError(code, message, hint === undefined ? {} : { hint });
}

/** What Prisma records: sha256 of the file's bytes (a string is taken as its UTF-8 bytes). */
export function checksumOf(content: string | Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

/**
 * Prisma's comparison of a file with a recorded checksum: the file as it is, with CRLF → LF, or
 * with LF → CRLF (git may change line endings), and the unpadded hex of early Prisma versions.
 * Done on bytes: CR and LF never occur inside a UTF-8 sequence, so for a UTF-8 file this is
 * Prisma's comparison of text.
 */
export function matchesChecksum(bytes: Buffer, checksum: string): boolean {
  const text = bytes.toString("latin1"); // one character per byte
  return [text, text.replaceAll("\r\n", "\n"), text.replaceAll("\n", "\r\n")].some((variant) => {
    const digest = createHash("sha256").update(variant, "latin1").digest();
    const hex = checksum.length === 64 ? digest.toString("hex") : [...digest].map((b) => b.toString(16)).join("");
    return hex === checksum;
  });
}

export function missingFileError(folder: MigrationFolder): BreakwaterError {
  return prismaError("P3015", `Could not find the migration file at ${folder.file}. Please delete the directory or restore the migration file.`);
}

/** A folder ready to run, or the refusal: P3015 without migration.sql, BW_SQL_FAILED when not UTF-8. */
export function preparePending(folder: MigrationFolder): PendingMigration {
  if (folder.bytes === null) throw missingFileError(folder);
  const { text, byteOrderMark } = decodeSql(folder.bytes, `${folder.name}/migration.sql`);
  return { ...folder, bytes: folder.bytes, checksum: checksumOf(folder.bytes), sql: text, byteOrderMark };
}

/** The folders, in lexicographic order, each with its migration.sql's bytes. */
export async function readMigrations(dir: string): Promise<MigrationFolder[]> {
  if (!existsSync(dir)) throw new BreakwaterError("BW_CONFIG_INVALID", `No migrations folder at ${dir}.`, { hint: "Give --migrations <dir> (default prisma/migrations)." });
  const lock = path.join(dir, "migration_lock.toml");
  if (existsSync(lock)) {
    const line = (await readFile(lock, "utf8")).split("\n").find((l) => l.trim().startsWith("provider"));
    const provider = line ? /=\s*"([^"]*)"/.exec(line)?.[1] : undefined;
    if (provider !== undefined && provider !== "postgresql") {
      throw prismaError("P3019", `The datasource provider \`postgresql\` specified in your schema does not match the one specified in the migration_lock.toml, \`${provider}\`.`);
    }
  }
  const folders: MigrationFolder[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    const file = path.join(dir, entry, "migration.sql");
    const bytes = existsSync(file) ? await readFile(file) : null;
    const gate = await readGate(path.join(dir, entry, GATE_FILE));
    folders.push({ name: entry, file, bytes, requiresPlan: gate?.requiresPlan ?? null, appliedByPlan: gate?.appliedByPlan ?? false });
  }
  return folders;
}

/** Prisma's `?schema=` becomes the search_path (and the schema is created when missing). */
export async function connectForPrisma(url: string): Promise<{ db: Database; schema: string }> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema") ?? "public";
  parsed.searchParams.delete("schema");
  const db = await Database.connect(parsed.toString(), { applicationName: "breakwater deploy" });
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await db.query("SELECT set_config('search_path', $1, false)", [quoteIdent(schema)]);
  return { db, schema };
}

const createTableSql = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** Creates `_prisma_migrations` as Prisma does, when it is missing. */
export async function createMigrationsTable(db: Database): Promise<void> {
  await db.query(createTableSql);
}

export async function migrationsTableExists(db: Database, schema: string): Promise<boolean> {
  return (await db.one<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [`${quoteIdent(schema)}."_prisma_migrations"`])).ok;
}

export async function readRows(db: Database, schema: string): Promise<MigrationRow[]> {
  if (!(await migrationsTableExists(db, schema))) return [];
  return (await db.query<MigrationRow>(`SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name`)).rows;
}

/** Takes Prisma's advisory lock, waiting at most `waitMs` (P1002 after that, as Prisma). */
export async function takePrismaLock(db: Database, url: string, waitMs: number): Promise<void> {
  await db.query("SELECT set_config('lock_timeout', $1, false)", [`${waitMs}ms`]);
  try {
    await db.query(`SELECT pg_advisory_lock(${PRISMA_LOCK_KEY})`);
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    const where = describeUrl(url).split("/")[0];
    throw prismaError(
      "P1002",
      `The database server at \`${where}\` was reached but timed out. Timed out trying to acquire a postgres advisory lock (SELECT pg_advisory_lock(${PRISMA_LOCK_KEY})). Timeout: ${waitMs}ms.`,
      "Another `prisma migrate` or `breakwater deploy` holds the lock; wait for it to finish.",
    );
  } finally {
    await db.query("SELECT set_config('lock_timeout', '0', false)");
  }
}
