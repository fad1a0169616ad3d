// Catalog queries for renames: a table's columns, indexes, constraints, owned sequences and the
// other objects that use one of its columns, as renameColumn and renameTable plan from them.
import type { Database } from "@breakwater/runtime/internal";
import { quoteTable, type TableRef } from "./quote.ts";

export interface TableInfo {
  oid: number;
  /** r: ordinary table, p: partitioned table */
  kind: "r" | "p";
  owner: string;
  rowSecurity: boolean;
  /** has inheritance children or partitions */
  hasChildren: boolean;
  isPartition: boolean;
  /** the columns of its partition key, when partitioned */
  partitionKey: string[];
  /** pg_class.reltuples: -1 when never analyzed */
  estimatedRows: number;
  /** privileges granted to roles other than the owner (0 = PUBLIC), for a view standing in for it */
  grants: { grantee: string | null; privilege: string; grantable: boolean }[];
}

export interface ColumnInfo {
  name: string;
  attnum: number;
  /** format_type(): the type with its modifiers, e.g. character varying(40) */
  type: string;
  /** the column's collation when it is not its type's default, qualified and quoted */
  collation: string | null;
  notNull: boolean;
  defaultExpression: string | null;
  identity: boolean;
  generated: boolean;
  /** the name as pg_get_indexdef and pg_get_constraintdef print it (quote_ident) */
  printed: string;
  comment: string | null;
}

export interface TableIndex {
  name: string;
  definition: string;
  unique: boolean;
  primary: boolean;
  /** plain column keys, no expression and no predicate */
  simple: boolean;
  /** the key columns in order (null for an expression) */
  columns: (string | null)[];
  /** every column number the index uses, expressions and predicate included */
  attnums: number[];
  /** the constraint it backs (PRIMARY KEY, UNIQUE, EXCLUDE), if any */
  constraint: { name: string; type: "p" | "u" | "x" } | null;
}

export interface TableConstraint {
  name: string;
  /** f: foreign key, c: check */
  type: "f" | "c";
  definition: string;
  columns: string[];
  /** the columns as pg_get_constraintdef prints them (quote_ident) */
  printedColumns: string[];
  attnums: number[];
  validated: boolean;
  /** the referenced table of a foreign key */
  references: TableRef | null;
}

export interface IncomingForeignKey {
  name: string;
  table: TableRef;
  /** column numbers of this table the key references */
  referencedAttnums: number[];
}

/** A serial or identity column's sequence, in the table's schema. */
export interface OwnedSequence {
  schema: string;
  name: string;
  column: string;
}

export interface TableObjects {
  table: TableInfo;
  columns: ColumnInfo[];
  indexes: TableIndex[];
  constraints: TableConstraint[];
  incoming: IncomingForeignKey[];
  sequences: OwnedSequence[];
}

/** The relation's kind in pg_class (r, p, v, m, i, S, …), or null when there is none by that name. */
export async function relationKind(db: Database, table: TableRef): Promise<string | null> {
  const { rows } = await db.query<{ kind: string }>(
    "SELECT c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
    [table.schema, table.name],
  );
  return rows[0]?.kind ?? null;
}

/** Whether a type by that name exists in the schema (a table's row type takes its name). */
export async function typeNameTaken(db: Database, schema: string, name: string): Promise<boolean> {
  const { rows } = await db.query("SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typname = $2", [schema, name]);
  return rows.length > 0;
}

/** Everything about an ordinary or partitioned table that a rename carries; null when there is no such table. */
export async function tableObjects(db: Database, ref: TableRef): Promise<TableObjects | null> {
  const found = await db.query<Omit<TableInfo, "grants"> & { kind: string }>(
    `SELECT c.oid::int AS oid, c.relkind::text AS kind, pg_get_userbyid(c.relowner) AS owner, c.relrowsecurity AS "rowSecurity",
            c.relhassubclass AS "hasChildren", c.relispartition AS "isPartition", c.reltuples::float8 AS "estimatedRows",
            coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_partitioned_table pt, unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum WHERE pt.partrelid = c.oid), '{}') AS "partitionKey"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [ref.schema, ref.name],
  );
  const row = found.rows[0];
  if (!row) return null;
  const oid = row.oid;
  const grants = await db.query<{ grantee: string | null; privilege: string; grantable: boolean }>(
    `SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
       FROM pg_class c, aclexplode(c.relacl) AS a
      WHERE c.oid = $1 AND a.grantee <> c.relowner AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
      ORDER BY 1, 2`,
    [oid],
  );
  const columns = await db.query<ColumnInfo>(
    `SELECT a.attname AS name, a.attnum::int AS attnum, format_type(a.atttypid, a.atttypmod) AS type,
            CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                 THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation,
            a.attnotnull AS "notNull", pg_get_expr(d.adbin, d.adrelid) AS "defaultExpression",
            a.attidentity <> '' AS identity, a.attgenerated <> '' AS generated, quote_ident(a.attname) AS printed,
            col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       LEFT JOIN pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  const indexes = await db.query<Omit<TableIndex, "constraint"> & { constraint_name: string | null; constraint_type: "p" | "u" | "x" | null }>(
    `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, i.indisunique AS unique, i.indisprimary AS primary,
            (i.indexprs IS NULL AND i.indpred IS NULL) AS simple,
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE k.ord <= i.indnkeyatts) AS columns,
            array(SELECT DISTINCT x FROM (SELECT unnest(i.indkey::int2[])::int AS x
                                          UNION SELECT d.refobjsubid FROM pg_depend d
                                           WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refobjid = i.indrelid AND d.refobjsubid > 0) AS u
                   WHERE x > 0 ORDER BY x) AS attnums,
            con.conname AS constraint_name, con.contype::text AS constraint_type
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
       LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
      WHERE i.indrelid = $1
      ORDER BY ic.relname`,
    [oid],
  );
  const constraints = await db.query<Omit<TableConstraint, "references"> & { ref_schema: string | null; ref_name: string | null }>(
    `SELECT con.conname AS name, con.contype::text AS type, pg_get_constraintdef(con.oid) AS definition, con.convalidated AS validated,
            coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), '{}') AS columns,
            coalesce((SELECT array_agg(quote_ident(a.attname) ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), '{}') AS "printedColumns",
            coalesce((SELECT array_agg(DISTINCT x) FROM (SELECT unnest(con.conkey)::int AS x
                                                         UNION SELECT d.refobjsubid FROM pg_depend d
                                                          WHERE d.classid = 'pg_constraint'::regclass AND d.objid = con.oid AND d.refobjid = con.conrelid AND d.refobjsubid > 0) AS u), '{}') AS attnums,
            rn.nspname AS ref_schema, rc.relname AS ref_name
       FROM pg_constraint con
       LEFT JOIN pg_class rc ON rc.oid = con.confrelid LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE con.conrelid = $1 AND con.contype IN ('f', 'c') AND con.conparentid = 0
      ORDER BY con.conname`,
    [oid],
  );
  const incoming = await db.query<{ name: string; schema: string; table: string; referencedAttnums: number[] }>(
    `SELECT con.conname AS name, n.nspname AS schema, c.relname AS table, array(SELECT unnest(con.confkey)::int) AS "referencedAttnums"
       FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE con.confrelid = $1 AND con.contype = 'f' AND con.conparentid = 0
      ORDER BY 2, 3, 1`,
    [oid],
  );
  const sequences = await db.query<OwnedSequence>(
    `SELECT sn.nspname AS schema, s.relname AS name, a.attname AS column
       FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace sn ON sn.oid = s.relnamespace
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype IN ('a', 'i')
        AND s.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = $1)
      ORDER BY s.relname`,
    [oid],
  );
  return {
    table: {
      oid,
      kind: row.kind === "p" ? "p" : "r",
      owner: row.owner,
      rowSecurity: row.rowSecurity,
      hasChildren: row.hasChildren,
      isPartition: row.isPartition,
      partitionKey: row.partitionKey,
      estimatedRows: row.estimatedRows,
      grants: grants.rows,
    },
    columns: columns.rows,
    indexes: indexes.rows.map(({ constraint_name, constraint_type, ...index }) => ({
      ...index,
      constraint: constraint_name && constraint_type ? { name: constraint_name, type: constraint_type } : null,
    })),
    constraints: constraints.rows.map(({ ref_schema, ref_name, ...c }) => ({ ...c, references: ref_schema && ref_name ? { schema: ref_schema, name: ref_name } : null })),
    incoming: incoming.rows.map((r) => ({ name: r.name, table: { schema: r.schema, name: r.table }, referencedAttnums: r.referencedAttnums })),
    sequences: sequences.rows,
  };
}

/**
 * Column comments starting with this mark columns a completed run set aside until cleanup: they
 * belong to no application version, and views standing in for a table's old name leave them out.
 */
export const setAsideComment = "breakwater:";

/**
 * Objects other than the table's own indexes, constraints and defaults that use the column:
 * views, rules, policies, triggers naming it, generated columns, statistics objects. Described as
 * PostgreSQL describes them.
 */
export async function columnUsers(db: Database, table: TableRef, attnum: number): Promise<string[]> {
  const { rows } = await db.query<{ what: string }>(
    `SELECT DISTINCT coalesce((SELECT 'view ' || r.ev_class::regclass FROM pg_rewrite r WHERE d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid AND r.rulename = '_RETURN'),
                              pg_describe_object(d.classid, d.objid, d.objsubid)) AS what
       FROM pg_depend d
      WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass($1) AND d.refobjsubid = $2
        AND d.deptype = 'n'
        AND NOT (d.classid = 'pg_class'::regclass AND EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = d.objid))
        AND d.classid <> 'pg_constraint'::regclass
        AND NOT (d.classid = 'pg_attrdef'::regclass AND EXISTS (SELECT 1 FROM pg_attrdef ad JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
                                                                WHERE ad.oid = d.objid AND a.attgenerated = '' AND ad.adnum = $2))
      ORDER BY 1`,
    [quoteTable(table), attnum],
  );
  return rows.map((r) => r.what);
}

/** PostgreSQL's major version (15 for 15.4). */
export async function serverMajorVersion(db: Database): Promise<number> {
  const row = await db.one<{ v: number }>("SELECT current_setting('server_version_num')::int AS v");
  return Math.floor(row.v / 10000);
}
