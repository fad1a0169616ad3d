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
  oid: number;
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
  /** the table's and the column's numbers (pg_class.oid, attnum) */
  relid: number;
  attnum: number;
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
  /** other objects that depend on the column (constraints, rules, triggers, policies), views aside: see dependentViews */
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

/**
 * Objects other than table columns that use the type (functions, domains, composite types), but
 * for the views and indexes in `carried` (relation oids), which the caller drops and recreates.
 */
export async function enumTypeDependents(db: Database, oid: number, carried: number[] = []): Promise<string[]> {
  const { rows } = await db.query<{ what: string }>(
    `SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS what
       FROM pg_depend d
      WHERE d.refclassid = 'pg_type'::regclass AND d.refobjid = $1 AND d.deptype = 'n'
        AND NOT (d.classid = 'pg_class'::regclass AND d.objsubid > 0)
        AND d.classid <> 'pg_attrdef'::regclass
        AND NOT (d.classid = 'pg_type'::regclass AND d.objid = (SELECT typarray FROM pg_type WHERE oid = $1))
        AND NOT (d.classid = 'pg_class'::regclass AND d.objid = ANY ($2::oid[]))
        AND NOT (d.classid = 'pg_rewrite'::regclass AND EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.oid = d.objid AND r.rulename = '_RETURN' AND r.ev_class = ANY ($2::oid[])))
      ORDER BY 1`,
    [oid, carried],
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
    const indexes = await db.query<IndexInfo>(
      `SELECT i.indexrelid::int AS oid, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, i.indisunique AS unique,
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
          AND NOT (d.classid = 'pg_rewrite'::regclass AND EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class
                                                                  WHERE r.oid = d.objid AND r.rulename = '_RETURN' AND v.relkind IN ('v', 'm')))
        ORDER BY 1`,
      [r.relid, r.attnum],
    );
    result.push({
      table,
      relid: r.relid,
      attnum: r.attnum,
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

/** A view or materialized view as breakwater drops and recreates it. */
export interface DependentView {
  oid: number;
  schema: string;
  name: string;
  materialized: boolean;
  /** pg_get_viewdef, every name outside pg_catalog qualified (see withQualifiedNames) */
  definition: string;
  /** pg_class.reloptions: `security_barrier=true`, `check_option=local` … */
  options: string[];
  owner: string;
  /** every privilege granted on it (the owner's included); null: never granted or revoked (the defaults) */
  grants: { grantee: string | null; privilege: string; grantable: boolean }[] | null;
  comment: string | null;
  columnComments: { column: string; comment: string }[];
  /** a materialized view holding rows (created WITH DATA or refreshed) */
  populated: boolean;
  tablespace: string | null;
  /** a materialized view's indexes, pg_get_indexdef qualified the same way */
  indexes: { oid: number; name: string; definition: string }[];
}

/**
 * Runs `fn` in a transaction whose search_path is pg_catalog alone: pg_get_viewdef and
 * pg_get_indexdef then qualify every other name (as pg_dump has them print), so the SQL they
 * return means the same whatever the search_path of the session that runs it later.
 */
export async function withQualifiedNames<T>(db: Database, fn: (tx: Database) => Promise<T>): Promise<T> {
  return await db.transaction(async (tx) => {
    await tx.query("SELECT set_config('search_path', 'pg_catalog', true)");
    return await fn(tx);
  });
}

/** pg_get_indexdef of each index, by oid. */
export async function indexDefinitions(db: Database, oids: number[]): Promise<Map<number, string>> {
  const { rows } = await db.query<{ oid: number; definition: string }>("SELECT i.oid::int AS oid, pg_get_indexdef(i.oid) AS definition FROM unnest($1::oid[]) AS i(oid)", [oids]);
  return new Map(rows.map((r) => [r.oid, r.definition]));
}

/**
 * The views and materialized views that use the type or one of the columns, with every view
 * built on them, in an order they can be created in; and what would keep them from being dropped
 * and recreated as they are (triggers, rules, column defaults or privileges, other objects built
 * on them, an owner this role cannot act as), described as PostgreSQL describes it.
 */
export async function dependentViews(db: Database, typeOid: number, columns: { relid: number; attnum: number }[]): Promise<{ views: DependentView[]; blockers: string[] }> {
  const { rows } = await db.query<Omit<DependentView, "grants" | "columnComments" | "indexes"> & { acl: boolean }>(
    `WITH RECURSIVE uses AS (
       SELECT DISTINCT r.ev_class AS oid
         FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid AND r.rulename = '_RETURN'
        WHERE d.classid = 'pg_rewrite'::regclass
          AND ((d.refclassid = 'pg_type'::regclass AND d.refobjid = $1)
               OR (d.refclassid = 'pg_class'::regclass AND (d.refobjid, d.refobjsubid) IN (SELECT * FROM unnest($2::oid[], $3::int[]))))
     ), closure(oid, depth) AS (
       SELECT oid, 0 FROM uses
       UNION
       SELECT r.ev_class, c.depth + 1
         FROM closure c
         JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid AND d.classid = 'pg_rewrite'::regclass
         JOIN pg_rewrite r ON r.oid = d.objid AND r.rulename = '_RETURN'
        WHERE r.ev_class <> c.oid
     )
     SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind = 'm' AS materialized,
            regexp_replace(pg_get_viewdef(c.oid), ';\\s*$', '') AS definition, coalesce(c.reloptions, '{}') AS options,
            pg_get_userbyid(c.relowner) AS owner, c.relacl IS NOT NULL AS acl, obj_description(c.oid, 'pg_class') AS comment,
            c.relispopulated AS populated, (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace) AS tablespace
       FROM (SELECT oid, max(depth) AS depth FROM closure GROUP BY oid) AS v
       JOIN pg_class c ON c.oid = v.oid AND c.relkind IN ('v', 'm')
       JOIN pg_namespace n ON n.oid = c.relnamespace
      ORDER BY v.depth, n.nspname, c.relname`,
    [typeOid, columns.map((c) => c.relid), columns.map((c) => c.attnum)],
  );
  const oids = rows.map((r) => r.oid);
  if (oids.length === 0) return { views: [], blockers: [] };
  const grants = await db.query<{ oid: number; grantee: string | null; privilege: string; grantable: boolean }>(
    `SELECT c.oid::int AS oid, CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
       FROM pg_class c, aclexplode(c.relacl) AS a WHERE c.oid = ANY ($1::oid[]) ORDER BY 2 NULLS FIRST, 3`,
    [oids],
  );
  const comments = await db.query<{ oid: number; column: string; comment: string }>(
    `SELECT a.attrelid::int AS oid, a.attname AS column, col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND col_description(a.attrelid, a.attnum) IS NOT NULL ORDER BY a.attnum`,
    [oids],
  );
  const indexes = await db.query<{ view: number; oid: number; name: string; definition: string }>(
    `SELECT i.indrelid::int AS view, i.indexrelid::int AS oid, c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ANY ($1::oid[]) ORDER BY c.relname`,
    [oids],
  );
  const blockers = await db.query<{ what: string }>(
    `SELECT pg_describe_object(d.classid, d.objid, d.objsubid) || ' depends on ' || d.refobjid::regclass AS what
       FROM pg_depend d
      WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY ($1::oid[]) AND d.deptype = 'n'
        AND NOT (d.classid = 'pg_rewrite'::regclass AND EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.oid = d.objid AND r.rulename = '_RETURN' AND r.ev_class = ANY ($1::oid[])))
     UNION ALL
     SELECT pg_describe_object(d.classid, d.objid, d.objsubid) || ' uses the row type of ' || c.oid::regclass
       FROM pg_class c JOIN pg_depend d ON d.refclassid = 'pg_type'::regclass AND d.refobjid = c.reltype AND d.deptype = 'n'
      WHERE c.oid = ANY ($1::oid[])
     UNION ALL
     SELECT 'trigger ' || quote_ident(t.tgname) || ' on ' || t.tgrelid::regclass FROM pg_trigger t WHERE t.tgrelid = ANY ($1::oid[]) AND NOT t.tgisinternal
     UNION ALL
     SELECT 'rule ' || quote_ident(r.rulename) || ' on ' || r.ev_class::regclass FROM pg_rewrite r WHERE r.ev_class = ANY ($1::oid[]) AND r.rulename <> '_RETURN'
     UNION ALL
     SELECT 'the default of column ' || quote_ident(a.attname) || ' of ' || a.attrelid::regclass FROM pg_attribute a JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE a.attrelid = ANY ($1::oid[])
     UNION ALL
     SELECT 'privileges on column ' || quote_ident(a.attname) || ' of ' || a.attrelid::regclass FROM pg_attribute a WHERE a.attrelid = ANY ($1::oid[]) AND a.attacl IS NOT NULL
     UNION ALL
     SELECT 'statistics object ' || s.stxname || ' on ' || s.stxrelid::regclass FROM pg_statistic_ext s WHERE s.stxrelid = ANY ($1::oid[])
     UNION ALL
     SELECT c.oid::regclass || ' is owned by ' || pg_get_userbyid(c.relowner) || ', a role ' || current_user || ' cannot act as'
       FROM pg_class c WHERE c.oid = ANY ($1::oid[]) AND NOT pg_has_role(c.relowner, 'MEMBER')
     ORDER BY 1`,
    [oids],
  );
  const views = rows.map(({ acl, ...view }) => ({
    ...view,
    grants: acl ? grants.rows.filter((g) => g.oid === view.oid).map(({ oid: _, ...g }) => g) : null,
    columnComments: comments.rows.filter((c) => c.oid === view.oid).map(({ column, comment }) => ({ column, comment })),
    indexes: indexes.rows.filter((i) => i.view === view.oid).map(({ oid, name, definition }) => ({ oid, name, definition })),
  }));
  return { views, blockers: blockers.rows.map((b) => b.what) };
}
