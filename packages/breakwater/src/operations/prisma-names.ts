// The names Prisma's migrations give indexes and constraints (`User_email_idx`, `User_email_key`,
// `User_pkey`, `Post_authorId_fkey`) and the ones PostgreSQL gives serial sequences and check
// constraints (`User_id_seq`, `User_age_check`), each cut to PostgreSQL's 63 bytes the way its
// maker cuts it: a step without a name then creates, and a rename moves, what Prisma would.
import type { TableConstraint, TableIndex } from "../db/table-objects.ts";

const maxBytes = 63;

function bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** The longest start of `text` within `limit` bytes, never cut inside a character. */
function clip(text: string, limit: number): string {
  let result = "";
  for (const character of text) {
    if (bytes(result + character) > limit) break;
    result += character;
  }
  return result;
}

/** Prisma: `<table>_<columns joined by _>` cut to leave room for the suffix, then the suffix. */
export function prismaName(table: string, columns: string[], suffix: "_idx" | "_key" | "_pkey" | "_fkey"): string {
  return clip(columns.length === 0 ? table : `${table}_${columns.join("_")}`, maxBytes - bytes(suffix)) + suffix;
}

/** PostgreSQL (makeObjectName): `<name1>_<name2>_<label>`, the longer of the two names cut first. */
export function postgresName(name1: string, name2: string, label: string): string {
  const available = maxBytes - (bytes(label) + 1) - 1;
  let first = bytes(name1);
  let second = bytes(name2);
  while (first + second > available) {
    if (first > second) first--;
    else second--;
  }
  return `${clip(name1, first)}_${clip(name2, second)}_${label}`;
}

/** The name Prisma gives this index on `table`; "" for an index Prisma cannot create (an expression key). */
export function conventionalIndexName(table: string, index: TableIndex): string {
  if (index.primary) return prismaName(table, [], "_pkey");
  if (index.columns.some((c) => c === null)) return "";
  return prismaName(table, index.columns as string[], index.unique ? "_key" : "_idx");
}

/** The name a foreign key gets from Prisma, a check constraint from PostgreSQL. */
export function conventionalConstraintName(table: string, constraint: TableConstraint): string {
  return constraint.type === "f" ? prismaName(table, constraint.columns, "_fkey") : postgresName(table, constraint.columns[0] ?? "", "check");
}

/** The sequence PostgreSQL creates for a serial column. */
export function serialSequenceName(table: string, column: string): string {
  return postgresName(table, column, "seq");
}
