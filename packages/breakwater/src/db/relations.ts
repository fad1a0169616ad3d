// Catalog reads for the operations that add indexes and constraints (createIndex, addForeignKey,
// setNotNull): what a relation is, its columns and indexes, and what already holds a name.
import type { Database } from "@breakwater/runtime/internal";
import { quoteQualified, quoteTable, type TableRef } from "./quote.ts";

export interface TableColumn {
  name: string;
  /** format_type() of the column */
  type: string;
  notNull: boolean;
  /** an enum, a domain or a composite (or an array of one): a copy of its values is kept as text */
  userDefinedType: boolean;
}

export interface TableFacts {
  /** "table", "partitioned table", or what else the name is ("view", "materialized view" …) */
  kind: string;
  columns: TableColumn[];
}

const kinds: Record<string, string> = {
  r: "table",
  p: "partitioned table",
  v: "view",
  m: "materialized view",
  f: "foreign table",
  i: "index",
  I: "partitioned index",
  S: "sequence",
  c: "composite type",
  t: "TOAST table",
};

/** The relation's kind and its columns in order, or null when nothing has that name. */
export async function describeTable(db: Database, table: TableRef): Promise<TableFacts | null> {
  const { rows } = await db.query<{ relkind: string }>("SELECT relkind::text AS relkind FROM pg_class WHERE oid = to_regclass($1)", [quoteTable(table)]);
  if (rows.length === 0) return null;
  const columns = await db.query<{ name: string; type: string; not_null: boolean; user_defined: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            (t.typnamespace <> 'pg_catalog'::regnamespace OR coalesce(e.typnamespace <> 'pg_catalog'::regnamespace, false)) AS user_defined
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [quoteTable(table)],
  );
  return {
    kind: kinds[rows[0]!.relkind] ?? "relation",
    columns: columns.rows.map((c) => ({ name: c.name, type: c.type, notNull: c.not_null, userDefinedType: c.user_defined })),
  };
}

export interface TableIndex {
  name: string;
  unique: boolean;
  valid: boolean;
  partial: boolean;
  /** key columns in order; null for an expression key */
  columns: (string | null)[];
}

/** Every index of the table with its key columns. */
export async function tableIndexes(db: Database, table: TableRef): Promise<TableIndex[]> {
  const { rows } = await db.query<{ name: string; unique: boolean; valid: boolean; partial: boolean; columns: (string | null)[] }>(
    `SELECT c.relname AS name, i.indisunique AS unique, i.indisvalid AS valid, i.indpred IS NOT NULL AS partial,
            array(SELECT a.attname FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, n)
                  LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = to_regclass($1)
      ORDER BY c.relname`,
    [quoteTable(table)],
  );
  return rows;
}

export interface NamedRelation {
  /** see describeTable's kinds */
  kind: string;
  /** for an index: the table it belongs to, as regclass prints it */
  indexOf: string | null;
  valid: boolean;
  /** a CREATE INDEX [CONCURRENTLY] of it is running right now (pg_stat_progress_create_index) */
  building: boolean;
  /** for an index: pg_get_indexdef() */
  definition: string | null;
  /** for an index: what it indexes, how (see indexSignature) */
  signature: string | null;
}

/** What holds the name `name` in `schema` (index names share the namespace of tables), or null. */
export async function relationNamed(db: Database, schema: string, name: string): Promise<NamedRelation | null> {
  const { rows } = await db.query<{ oid: number; relkind: string; index_of: string | null; valid: boolean | null; building: boolean; definition: string | null }>(
    `SELECT c.oid::int8 AS oid, c.relkind::text AS relkind, i.indrelid::regclass::text AS index_of, i.indisvalid AS valid,
            EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid) AS building,
            CASE WHEN i.indexrelid IS NOT NULL THEN pg_get_indexdef(c.oid) END AS definition
       FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid
      WHERE c.oid = to_regclass($1)`,
    [quoteQualified(schema, name)],
  );
  const row = rows[0];
  if (!row) return null;
  const index = row.index_of !== null;
  return {
    kind: kinds[row.relkind] ?? "relation",
    indexOf: row.index_of,
    valid: row.valid ?? true,
    building: row.building,
    definition: row.definition,
    signature: index ? await indexSignature(db, Number(row.oid)) : null,
  };
}

/**
 * What an index indexes and how, independent of its name and its table's name: unique, access
 * method, each key (column or expression as PostgreSQL prints it), operator classes, collations,
 * sort options and predicate. Two indexes with the same signature are the same index.
 */
export async function indexSignature(db: Database, oid: number): Promise<string> {
  const row = await db.one<{ signature: string }>(
    `SELECT concat_ws(' | ', CASE WHEN i.indisunique THEN 'unique' END, am.amname,
              (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ', ' ORDER BY k) FROM generate_series(1, i.indnatts) AS k),
              'options ' || i.indoption::text, 'opclasses ' || i.indclass::text, 'collations ' || i.indcollation::text,
              'where ' || pg_get_expr(i.indpred, i.indrelid, true)) AS signature
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
      WHERE i.indexrelid = $1`,
    [oid],
  );
  return row.signature;
}
