// renameTable: a table renamed (Prisma: `@@map`), its key, indexes, foreign keys and serial
// sequences renamed as Prisma's own migration of the new name would create them.
// - maintenance: one catalog-only transaction at the contract (ALTER TABLE … RENAME).
// - online: the same rename, and the old name becomes a view over the table in the same
//   transaction (its columns, unaltered: automatically updatable, so INSERT, UPDATE, DELETE,
//   RETURNING and ON CONFLICT pass through, and the table's defaults apply to the columns an
//   INSERT leaves out). Both names work until `breakwater cleanup` drops the view; a rollback
//   after completion is a rename back. Nothing copies a row.
// Both rename at the contract, so the plan's other steps on the table (before this one) run under
// the name they were planned with.
import { z } from "zod";
import type { Database } from "@breakwater/runtime/internal";
import { displayTable, quoteIdent, quoteLiteral, quoteTable, type TableRef } from "../db/quote.ts";
import { relationKind, serverMajorVersion, setAsideComment, tableObjects, typeNameTaken, type TableObjects } from "../db/table-objects.ts";
import { fitsName, identifier, preflightError, tableInput, toTableRef } from "./common.ts";
import { conventionalConstraintName, conventionalIndexName, serialSequenceName } from "./prisma-names.ts";
import { emptyPlan, type Operation, type OperationPlan, type PlanContext, type Proof, type SchemaAccepts } from "./types.ts";

const inputSchema = z
  .object({
    op: z.literal("renameTable"),
    from: tableInput,
    /** the new name, in the same schema */
    to: identifier,
  })
  .strict()
  .refine((i) => toTableRef(i.from).name !== i.to, { message: "`from` and `to` must differ" });

type _Accepts = Proof<SchemaAccepts<"renameTable", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;

/** One index, constraint or sequence whose name follows a rename. */
export interface NameChange {
  kind: "index" | "constraint" | "sequence";
  from: string;
  to: string;
}

interface Facts {
  /** the table's oid: the names that follow it are found by it when the contract runs */
  oid: number;
  /** the names that follow the table, as the catalog had them at preflight */
  names: NameChange[];
  /** names that would follow the table but do not fit in 63 bytes: left as they are */
  unfit: string[];
  /** online: the view standing in for the old name */
  view: { owner: string; grants: TableObjects["table"]["grants"]; securityInvoker: boolean } | null;
}

/** The index, constraint and sequence names Prisma's migration (and serial) derive from the table name, moved to `to`. */
function tableNameChanges(objects: TableObjects, from: string, to: string): { changes: NameChange[]; unfit: string[] } {
  const changes: NameChange[] = [];
  const unfit: string[] = [];
  const add = (kind: NameChange["kind"], name: string, renamed: string) => {
    if (renamed === "" || renamed === name) return;
    if (fitsName(renamed)) changes.push({ kind, from: name, to: renamed });
    else unfit.push(name);
  };
  for (const index of objects.indexes) {
    if (conventionalIndexName(from, index) !== index.name) continue;
    // An index backing a key or unique constraint is renamed with its constraint.
    add(index.constraint ? "constraint" : "index", index.name, conventionalIndexName(to, index));
  }
  for (const constraint of objects.constraints) {
    if (conventionalConstraintName(from, constraint) !== constraint.name) continue;
    add("constraint", constraint.name, conventionalConstraintName(to, constraint));
  }
  for (const sequence of objects.sequences) {
    if (serialSequenceName(from, sequence.column) !== sequence.name) continue;
    add("sequence", sequence.name, serialSequenceName(to, sequence.column));
  }
  return { changes, unfit };
}

/** Text dollar-quoted with a tag it does not contain (a function body, a DO block). */
export function dollarQuoted(text: string): string {
  let tag = "$bw$";
  for (let n = 1; text.includes(tag); n++) tag = `$bw${n}$`;
  return `${tag}${text}${tag}`;
}

/** A PL/pgSQL block run once, with its declarations. */
export function plpgsqlBlock(body: string, declare = ""): string {
  return `DO ${dollarQuoted(`${declare ? ` DECLARE ${declare}` : ""} BEGIN ${body} END `)}`;
}

/** The table and column whose names a rename changes, on one side of it. */
export interface NamedAfter {
  table: string;
  /** a column renamed (renameColumn); the table's name stays */
  column?: string;
}

/**
 * Statements moving the names Prisma's migrations (and PostgreSQL, for serial sequences and check
 * constraints) derive from table and column names: every index, key, foreign key, check and owned
 * sequence of the table (found by its oid) named after `from` gets the name it has after `to`.
 * Worked out when they run, not at preflight, so objects an earlier step of the plan created or
 * renamed (a createIndex, a renameColumn) follow too. The naming rules are prisma-names.ts's, in SQL.
 */
export function followNames(oid: number, from: NamedAfter, to: NamedAfter): string[] {
  const clip = `CREATE OR REPLACE FUNCTION pg_temp.bw_clip(s text, bytes int) RETURNS text LANGUAGE sql IMMUTABLE AS ${dollarQuoted(`
    SELECT coalesce(string_agg(c, '' ORDER BY i), '') FROM (
      SELECT c, i, sum(octet_length(c)) OVER (ORDER BY i) AS running FROM regexp_split_to_table(s, '') WITH ORDINALITY AS x(c, i)) AS y
     WHERE running <= bytes`)}`;
  const prisma = `CREATE OR REPLACE FUNCTION pg_temp.bw_prisma_name(tab text, cols text[], suffix text) RETURNS text LANGUAGE sql IMMUTABLE AS ${dollarQuoted(`
    SELECT pg_temp.bw_clip(CASE WHEN cardinality(cols) = 0 THEN tab ELSE tab || '_' || array_to_string(cols, '_') END, 63 - octet_length(suffix)) || suffix`)}`;
  const postgres = `CREATE OR REPLACE FUNCTION pg_temp.bw_postgres_name(name1 text, name2 text, label text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS ${dollarQuoted(`
    DECLARE available int := 63 - (octet_length(label) + 1) - 1; first int := octet_length(name1); second int := octet_length(name2);
    BEGIN
      WHILE first + second > available LOOP
        IF first > second THEN first := first - 1; ELSE second := second - 1; END IF;
      END LOOP;
      RETURN pg_temp.bw_clip(name1, first) || '_' || pg_temp.bw_clip(name2, second) || '_' || label;
    END`)}`;
  // The objects' columns as they are when the statements run: `to`'s column, if any, is already renamed.
  const name = (side: NamedAfter) => {
    const cols = side.column !== undefined && to.column !== undefined ? `array_replace(cols, ${quoteLiteral(to.column)}, ${quoteLiteral(side.column)})` : "cols";
    return `CASE maker WHEN 'prisma' THEN pg_temp.bw_prisma_name(${quoteLiteral(side.table)}, ${cols}, suffix) ELSE pg_temp.bw_postgres_name(${quoteLiteral(side.table)}, coalesce((${cols})[1], ''), suffix) END`;
  };
  const colsOf = (keys: string, relid: string, where = "") =>
    `(SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(${keys}) WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a ON a.attrelid = ${relid} AND a.attnum = k.attnum${where})`;
  const objects = `
    SELECT CASE WHEN con.oid IS NULL THEN 'index' ELSE 'constraint' END AS kind, ic.relname::text AS name, 'prisma' AS maker,
           CASE WHEN i.indisprimary THEN '{}'::text[] ELSE ${colsOf("i.indkey::int2[]", "i.indrelid", " WHERE k.ord <= i.indnkeyatts")} END AS cols,
           CASE WHEN i.indisprimary THEN '_pkey' WHEN i.indisunique THEN '_key' ELSE '_idx' END AS suffix
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
     WHERE i.indrelid = ${oid} AND (i.indisprimary OR i.indexprs IS NULL)
    UNION ALL
    SELECT 'constraint', conname::text, CASE contype WHEN 'f' THEN 'prisma' ELSE 'postgres' END, ${colsOf("conkey", "conrelid")}, CASE contype WHEN 'f' THEN '_fkey' ELSE 'check' END
      FROM pg_constraint WHERE conrelid = ${oid} AND contype IN ('f', 'c') AND conparentid = 0
    UNION ALL
    SELECT 'sequence', s.relname::text, 'postgres', ARRAY[a.attname::text], 'seq'
      FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = ${oid} AND d.deptype IN ('a', 'i')
       AND s.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = ${oid})`;
  const rename = plpgsqlBlock(
    `SELECT n.nspname INTO nsp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ${oid};
     FOR r IN SELECT kind, name, renamed FROM (SELECT kind, name, ${name(from)} AS old_name, ${name(to)} AS renamed FROM (${objects}) AS o) AS x
               WHERE name = old_name AND renamed <> old_name ORDER BY kind, name LOOP
       IF r.kind = 'constraint' THEN EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', ${oid}::regclass, r.name, r.renamed);
       ELSIF r.kind = 'index' THEN EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', nsp, r.name, r.renamed);
       ELSE EXECUTE format('ALTER SEQUENCE %I.%I RENAME TO %I', nsp, r.name, r.renamed);
       END IF;
     END LOOP;`,
    "r record; nsp text;",
  );
  return [clip, prisma, postgres, rename];
}

/** Drops the view standing in for a table's old name, when that name is (still) a view. */
function dropViewIfView(view: TableRef): string {
  return plpgsqlBlock(`IF (SELECT relkind FROM pg_class WHERE oid = to_regclass(${quoteLiteral(quoteTable(view))})) = 'v' THEN DROP VIEW ${quoteTable(view)}; END IF;`);
}

async function inspect(db: Database, input: Input, context: PlanContext): Promise<Facts> {
  const from = toTableRef(input.from);
  const to = { schema: from.schema, name: input.to };
  const objects = await tableObjects(db, from);
  if (!objects) {
    const kind = await relationKind(db, from);
    throw preflightError(
      kind === null ? `Table ${displayTable(from)} does not exist.` : `${displayTable(from)} is not a table (relkind ${kind}).`,
      "Names are case-sensitive; give { schema, name } for a table outside public.",
    );
  }
  if ((await relationKind(db, to)) !== null || (await typeNameTaken(db, to.schema, to.name))) {
    throw preflightError(`The name ${displayTable(to)} is taken (a table, view, index, sequence or type of that name exists).`, "Pick another name, or drop what holds it first.");
  }
  const { changes, unfit } = tableNameChanges(objects, from.name, to.name);
  const constraintNames = new Set(objects.constraints.map((c) => c.name));
  for (const change of changes) {
    // Indexes, sequences and the indexes of keys are relations; other constraints are named per table.
    if (changes.some((c) => c.from === change.to)) continue;
    if ((await relationKind(db, { schema: from.schema, name: change.to })) !== null || constraintNames.has(change.to)) {
      throw preflightError(
        `${displayTable(from)}'s ${change.kind} ${change.from} would be renamed ${change.to}, a name already taken in schema ${from.schema}.`,
        "Rename or drop that object first.",
      );
    }
  }
  let view: Facts["view"] = null;
  if (context.online) {
    const major = await serverMajorVersion(db);
    if (objects.table.rowSecurity && major < 15) {
      throw preflightError(
        `${displayTable(from)} has row-level security; the view keeping its old name would check it as the view's owner, not the application's role (security_invoker needs PostgreSQL 15).`,
        "Run this step with maintenance (online: false).",
      );
    }
    view = { owner: objects.table.owner, grants: objects.table.grants, securityInvoker: major >= 15 };
  }
  return { oid: objects.table.oid, names: changes, unfit, view };
}

function plan(input: Input, facts: Facts, context: PlanContext): OperationPlan {
  const from = toTableRef(input.from);
  const to = { schema: from.schema, name: input.to };
  const result = emptyPlan();
  const rename = `ALTER TABLE ${quoteTable(from)} RENAME TO ${quoteIdent(to.name)}`;
  const renameBack = `ALTER TABLE ${quoteTable(to)} RENAME TO ${quoteIdent(from.name)}`;
  const moved = facts.names.map((c) => `${c.from} → ${c.to}`).join(", ");
  const namesLabel = facts.names.length ? ` and its ${facts.names.map((c) => c.kind).join(", ")} names (${moved})` : "";
  const exists = (table: TableRef) => `SELECT to_regclass(${quoteLiteral(quoteTable(table))}) IS NOT NULL`;
  result.summary.push(`${displayTable(from)} → ${displayTable(to)}${facts.names.length ? `; ${moved}` : ""}`);
  if (facts.unfit.length) result.notes.push(`${facts.unfit.join(", ")} keep their names: the new ones would be longer than 63 bytes`);
  result.notes.push(
    "functions and SQL text that name the table (not views or foreign keys, which follow it) must use the new name",
    `the plan's other steps on ${displayTable(from)} go before this one: they are planned with the old name`,
  );

  if (!context.online || facts.view === null) {
    result.summary.push("contract: ALTER TABLE … RENAME (catalog only, one short exclusive lock)");
    result.notes.push(`the application must use ${displayTable(to)} from the contract on: keep maintenance on until it is deployed (keepMaintenance)`);
    result.measures.push({ name: `${displayTable(from)}:rows`, label: `rows in ${displayTable(from)} before`, sql: `SELECT count(*) FROM ${quoteTable(from)}` });
    result.contract.push({
      label: `rename ${displayTable(from)} to ${displayTable(to)}${namesLabel}`,
      lock: { tables: [from], mode: "ACCESS EXCLUSIVE" },
      statements: [rename, ...followNames(facts.oid, { table: from.name }, { table: to.name })],
      commitPoint: true,
    });
    result.finalChecks.push(
      { name: `${displayTable(to)} exists`, sql: exists(to), expect: { equals: true } },
      { name: `rows kept (${displayTable(to)})`, sql: `SELECT count(*) FROM ${quoteTable(to)}`, expect: { equalsMeasures: [`${displayTable(from)}:rows`] } },
    );
    result.rollbackAfterContract = [
      {
        label: `rename ${displayTable(to)} back to ${displayTable(from)}`,
        lock: { tables: [to], mode: "ACCESS EXCLUSIVE" },
        statements: [...followNames(facts.oid, { table: to.name }, { table: from.name }), renameBack],
      },
    ];
    return result;
  }

  const view = facts.view;
  const grants = view.grants.map(
    (g) => `GRANT ${g.privilege} ON ${quoteTable(from)} TO ${g.grantee === null ? "PUBLIC" : quoteIdent(g.grantee)}${g.grantable ? " WITH GRANT OPTION" : ""}`,
  );
  result.summary.push(`online: both names work from the contract until \`breakwater cleanup\` drops the view ${displayTable(from)}`);
  // At the contract, like the maintenance rename, so that earlier steps of the plan on this table
  // run under the name they were planned with.
  result.contract.push({
    label: `rename ${displayTable(from)} to ${displayTable(to)}${namesLabel}; ${displayTable(from)} stays, as a view over it, until cleanup`,
    lock: { tables: [from], mode: "ACCESS EXCLUSIVE" },
    statements: [
      rename,
      // Automatically updatable (one table, plain columns, no aggregate): writes pass through, and
      // columns an INSERT leaves out get the table's defaults (CREATE VIEW, "Updatable Views").
      // Every column but those set aside by a run until cleanup (so that cleanup can drop them).
      plpgsqlBlock(
        `EXECUTE format('CREATE VIEW %s${view.securityInvoker ? " WITH (security_invoker = true)" : ""} AS SELECT %s FROM %s', ${quoteLiteral(quoteTable(from))},
           (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
             WHERE attrelid = ${facts.oid} AND attnum > 0 AND NOT attisdropped AND NOT starts_with(coalesce(col_description(attrelid, attnum), ''), ${quoteLiteral(setAsideComment)})),
           ${quoteLiteral(quoteTable(to))});`,
      ),
      `ALTER VIEW ${quoteTable(from)} OWNER TO ${quoteIdent(view.owner)}`,
      ...grants,
      `COMMENT ON VIEW ${quoteTable(from)} IS ${quoteLiteral(`breakwater run ${context.runId}: the old name of ${displayTable(to)}, dropped by breakwater cleanup`)}`,
      ...followNames(facts.oid, { table: from.name }, { table: to.name }),
    ],
    commitPoint: true,
  });
  result.finalChecks.push(
    { name: `${displayTable(to)} exists`, sql: exists(to), expect: { equals: true } },
    {
      name: `${displayTable(from)} is a view over it until cleanup`,
      sql: `SELECT count(*) FROM pg_views WHERE schemaname = ${quoteLiteral(from.schema)} AND viewname = ${quoteLiteral(from.name)}`,
      expect: { equals: 1 },
    },
  );
  result.rollbackAfterContract = [
    {
      label: `drop the view ${displayTable(from)} and rename ${displayTable(to)} back`,
      lock: { tables: [to], mode: "ACCESS EXCLUSIVE" },
      statements: [...followNames(facts.oid, { table: to.name }, { table: from.name }), dropViewIfView(from), renameBack],
    },
  ];
  result.cleanup = [{ label: `drop the view ${displayTable(from)} (the old name of ${displayTable(to)})`, statements: [dropViewIfView(from)] }];
  result.notes.push(
    `${displayTable(from)} stays a view over ${displayTable(to)} until \`breakwater cleanup\`: deploy the application that uses the new name, then clean up; a rollback until then renames back`,
    `the view lists the columns the table has now: a column added during the window is only reachable by the new name`,
  );
  return result;
}

export const renameTableOperation: Operation<Input, Facts, "renameTable"> = {
  kind: "renameTable",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `rename table ${displayTable(toTableRef(input.from))} → ${input.to}`,
  inspect,
  plan,
  onlineRefusal: () => null,
};
