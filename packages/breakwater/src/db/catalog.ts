// Catalog queries: what an operation needs to know about the live schema before it plans.
import type { Database } from "@breakwater/runtime/internal";
import { quoteTable, type TableRef } from "./quote.ts";

export interface KeyColumn {
  name: string;
  /** format_type() of the column, used to cast cursor values back. */
  type: string;
}

export interface EnumType {
  oid: number;
  schema: string;
  name: string;
  values: string[];
}

export interface IndexInfo {
  name: string;
  definition: string;
  unique: boolean;
  /** only plain column keys, no expression and no predicate: can be rebuilt on another column */
  simple: boolean;
  /** backs a PRIMARY KEY / UNIQUE / EXCLUDE constraint */
  constraint: string | null;
}

export interface EnumColumn {
  table: TableRef;
  column: string;
  /** the column name as pg_get_indexdef prints it (quote_ident) */
  columnInIndexDefinition: string;
  isArray: boolean;
  notNull: boolean;
  defaultExpression: string | null;
  /** pg_class.reltuples: -1 when the table was never analyzed */
  estimatedRows: number;
  partitioned: boolean;
  key: KeyColumn[];
  indexes: IndexInfo[];
  /** other objects that depend on the column (views, constraints, triggers, policies) */
  dependents: string[];
}

export async function findEnum(db: Database, schema: string, name: string): Promise<EnumType | null> {
  const { rows } = await db.query<{ oid: number; values: string[] | null }>(
    `SELECT t.oid::int AS oid,
            (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS values
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = $1 AND t.typname = $2 AND t.typtype = 'e'`,
    [schema, name],
  );
  const row = rows[0];
  return row ? { oid: row.oid, schema, name, values: row.values ?? [] } : null;
}

export async function enumValues(db: Database, schema: string, name: string): Promise<string[] | null> {
  return (await findEnum(db, schema, name))?.values ?? null;
}

export async function typeExists(db: Database, schema: string, name: string): Promise<boolean> {
  const { rows } = await db.query("SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typname = $2", [schema, name]);
  return rows.length > 0;
}

/** Objects other than table columns that use the type (functions, domains, composite types). */
export async function enumTypeDependents(db: Database, oid: number): Promise<string[]> {
  const { rows } = await db.query<{ what: string }>(
    `SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS what
       FROM pg_depend d
      WHERE d.refclassid = 'pg_type'::regclass AND d.refobjid = $1 AND d.deptype = 'n'
        AND NOT (d.classid = 'pg_class'::regclass AND d.objsubid > 0)
        AND d.classid <> 'pg_attrdef'::regclass
        AND NOT (d.classid = 'pg_type'::regclass AND d.objid = (SELECT typarray FROM pg_type WHERE oid = $1))
      ORDER BY 1`,
    [oid],
  );
  return rows.map((r) => r.what);
}

export async function primaryKey(db: Database, table: TableRef): Promise<KeyColumn[]> {
  const { rows } = await db.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_index i
       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = to_regclass($1) AND i.indisprimary
      ORDER BY k.ord`,
    [quoteTable(table)],
  );
  return rows;
}

export async function tableExists(db: Database, table: TableRef): Promise<boolean> {
  const row = await db.one<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [quoteTable(table)]);
  return row.ok;
}

export async function columnNames(db: Database, table: TableRef): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    "SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    [quoteTable(table)],
  );
  return rows.map((r) => r.name);
}

export async function columnType(db: Database, table: TableRef, column: string): Promise<string | null> {
  const { rows } = await db.query<{ type: string }>(
    "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
    [quoteTable(table), column],
  );
  return rows[0]?.type ?? null;
}

/** Whether any of the columns has a type outside pg_catalog (an enum, a domain, a composite, or an array of one). */
export async function hasUserDefinedType(db: Database, table: TableRef, columns: string[]): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
       WHERE a.attrelid = to_regclass($1) AND a.attname = ANY($2) AND NOT a.attisdropped
         AND (t.typnamespace <> 'pg_catalog'::regnamespace OR e.typnamespace <> 'pg_catalog'::regnamespace)
     ) AS ok`,
    [quoteTable(table), columns],
  );
  return rows[0]?.ok ?? false;
}

/** Every column of every ordinary or partitioned table whose type is the enum or an array of it. */
export async function enumColumns(db: Database, enumOid: number): Promise<EnumColumn[]> {
  const { rows } = await db.query<{
    schema: string;
    table: string;
    column: string;
    quoted: string;
    attnum: number;
    is_array: boolean;
    not_null: boolean;
    default_expression: string | null;
    estimated_rows: number;
    relid: number;
    partitioned: boolean;
  }>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, quote_ident(a.attname) AS quoted, a.attnum::int AS attnum,
            a.atttypid <> $1 AS is_array, a.attnotnull AS not_null,
            pg_get_expr(ad.adbin, ad.adrelid) AS default_expression,
            c.reltuples::float8 AS estimated_rows, c.oid::int AS relid, c.relkind = 'p' AS partitioned
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE a.attnum > 0 AND NOT a.attisdropped
        AND (a.atttypid = $1 OR a.atttypid = (SELECT typarray FROM pg_type WHERE oid = $1))
        AND NOT c.relispartition
      ORDER BY n.nspname, c.relname, a.attnum`,
    [enumOid],
  );
  const result: EnumColumn[] = [];
  for (const r of rows) {
    const table = { schema: r.schema, name: r.table };
    const indexes = await db.query<{ name: string; definition: string; unique: boolean; simple: boolean; constraint: string | null }>(
      `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, i.indisunique AS unique,
              (i.indexprs IS NULL AND i.indpred IS NULL) AS simple,
              (SELECT conname FROM pg_constraint WHERE conindid = i.indexrelid AND conrelid = i.indrelid LIMIT 1) AS constraint
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = $1
          AND (($2::int2 = ANY (i.indkey::int2[]))
               OR EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                            AND d.refobjid = $1 AND d.refobjsubid = $2))
        ORDER BY ic.relname`,
      [r.relid, r.attnum],
    );
    const dependents = await db.query<{ what: string }>(
      `SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) AS what
         FROM pg_depend d
        WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.refobjsubid = $2
          AND d.classid <> 'pg_attrdef'::regclass
          AND NOT (d.classid = 'pg_class'::regclass AND EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = d.objid))
          AND NOT (d.classid = 'pg_constraint'::regclass AND EXISTS (SELECT 1 FROM pg_constraint WHERE oid = d.objid AND contype IN ('p', 'u', 'x')))
        ORDER BY 1`,
      [r.relid, r.attnum],
    );
    result.push({
      table,
      column: r.column,
      columnInIndexDefinition: r.quoted,
      isArray: r.is_array,
      notNull: r.not_null,
      defaultExpression: r.default_expression,
      estimatedRows: r.estimated_rows,
      partitioned: r.partitioned,
      key: await primaryKey(db, table),
      indexes: indexes.rows,
      dependents: dependents.rows.map((d) => d.what),
    });
  }
  return result;
}
