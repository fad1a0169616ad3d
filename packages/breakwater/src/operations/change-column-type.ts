// changeColumnType: a column's type changed (Prisma: a field's type or @db attribute), in
// maintenance mode and online alike, without rewriting the table under ACCESS EXCLUSIVE.
// - catalog: a binary-coercible change that PostgreSQL makes without touching a row (varchar(40) →
//   varchar(80), varchar → text, numeric(10,2) → numeric(12,2)): ALTER COLUMN … TYPE at the
//   contract, one short lock.
// - shadow: every value first checked to convert (the count and a sample row when one does not, or
//   when the default cast would round, truncate or reformat it); a column of the new type kept in
//   step by a trigger and filled in keyset batches, each row verified; NOT NULL proven by a
//   validated CHECK, indexes built CONCURRENTLY; then one short transaction sets the old column
//   aside (`<col>__bw_old`, kept filled by a reverse trigger) and renames the new one into place.
//   A rollback after completion is a rename back; `breakwater cleanup` drops what was set aside.
// Both modes set the old column aside: it gives every original value back exactly, which casting
// back could not ('007' → 7 → '7'), and nothing needs a snapshot of the column.
import { z } from "zod";
import { isConnectionLoss, type Database } from "@breakwater/runtime/internal";
import { probeColumnChange, ProbeFailure, checkTypeName, type Probe } from "../db/column-probe.ts";
import { primaryKey, type KeyColumn } from "../db/catalog.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteQualified, quoteTable, type TableRef } from "../db/quote.ts";
import { checkExpression, embedExpression } from "../db/sql-fragments.ts";
import { columnUsers, relationKind, setAsideComment, tableObjects, type ColumnInfo, type TableObjects } from "../db/table-objects.ts";
import { fitsName, identifier, preflightError, tableInput, toTableRef } from "./common.ts";
import { rewriteIndexDefinition } from "./rename-enum-value.ts";
import { dollarQuoted, plpgsqlBlock } from "./rename-table.ts";
import { emptyPlan, type Action, type CheckSpec, type Operation, type OperationPlan, type PlanContext, type Proof, type SchemaAccepts } from "./types.ts";

const inputSchema = z
  .object({
    op: z.literal("changeColumnType"),
    table: tableInput,
    column: identifier,
    /** the new SQL type, e.g. "bigint", "numeric(12,2)", "varchar(80)" */
    type: z.string().min(1).max(200),
    /** SQL expression of the row giving the new value, e.g. `round("price", 2)`; default `"column"::type` */
    using: z.string().min(1).optional(),
  })
  .strict();

type _Accepts = Proof<SchemaAccepts<"changeColumnType", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;

interface ShadowFacts {
  key: KeyColumn[];
  shadow: string;
  /** the old column's name from the contract until cleanup */
  aside: string;
  /** indexes on the column, rebuilt CONCURRENTLY on the new one */
  indexes: { name: string; definition: string }[];
  /** the column's serial sequence (schema-qualified, quoted), owned by the new column from the contract on */
  sequence: string | null;
  /** no cast from the new type to the old: the reverse trigger goes through text */
  reverseViaText: boolean;
}

interface Facts {
  /** the table's oid: the final checks and cleanup find it by it after a later step renamed it */
  tableOid: number;
  strategy: "nothing" | "catalog" | "shadow";
  oldType: string;
  oldTypeSql: string;
  newType: string;
  newTypeSql: string;
  notNull: boolean;
  /** defaults as PostgreSQL stores them, names qualified: the old one, and the old one converted to the new type */
  oldDefault: string | null;
  newDefault: string | null;
  comment: string | null;
  /** the column as pg_get_indexdef prints it */
  printed: string;
  shadow: ShadowFacts | null;
}

const sqlStep = "Change it in a `sql` step instead (ALTER TABLE … ALTER COLUMN … TYPE, which rewrites the table under ACCESS EXCLUSIVE), in maintenance mode.";

function label(input: Input): string {
  return `${displayTable(toTableRef(input.table))}.${input.column}`;
}

async function inspect(db: Database, input: Input, context: PlanContext): Promise<Facts> {
  const table = toTableRef(input.table);
  const where = label(input);
  // Parsed before anything touches the database: a type name, one expression, nothing after a `;`.
  await checkTypeName(input.type, `changeColumnType of ${where}: \`type\``);
  if (input.using !== undefined) await checkExpression(input.using, `changeColumnType of ${where}: \`using\``);
  const objects = await tableObjects(db, table);
  if (!objects) {
    const kind = await relationKind(db, table);
    throw preflightError(
      kind === null ? `Table ${displayTable(table)} does not exist.` : `${displayTable(table)} is not a table (relkind ${kind}).`,
      "Names are case-sensitive; give { schema, name } for a table outside public.",
    );
  }
  const column = objects.columns.find((c) => c.name === input.column);
  if (!column) throw preflightError(`Table ${displayTable(table)} has no column ${input.column} (columns: ${objects.columns.map((c) => c.name).join(", ")}).`);
  if (objects.table.isPartition) {
    throw preflightError(`${displayTable(table)} is a partition; its columns' types are its partitioned table's.`, "Change the column on the partitioned table.");
  }
  if (column.generated) throw preflightError(`${where} is a generated column; its type follows its expression.`, sqlStep);
  if (column.identity) throw preflightError(`${where} is an identity column; its sequence's type would have to change with it.`, sqlStep);
  if (objects.table.partitionKey.includes(input.column)) throw preflightError(`${where} is in the partition key of ${displayTable(table)}; PostgreSQL cannot change its type.`);
  const users = await columnUsers(db, table, column.attnum);
  if (users.length > 0) {
    throw preflightError(
      `${where} is used by ${users.join("; ")}: PostgreSQL does not change the type of a column they use, and they cannot follow a column swapped by rename.`,
      "Drop them in a `sql` step before this one and create them again in one after it.",
    );
  }
  const probed = await probeChange(db, input, table, where);
  const before = probed.before!;
  const base = {
    tableOid: objects.table.oid,
    oldType: before.typeName,
    oldTypeSql: before.typeSql,
    newType: probed.after.typeName,
    newTypeSql: probed.after.typeSql,
    notNull: column.notNull,
    oldDefault: before.defaultSql,
    newDefault: probed.after.defaultSql,
    comment: column.comment,
    printed: column.printed,
    shadow: null,
  };
  if (before.typeName === probed.after.typeName) {
    if (input.using === undefined) return { ...base, strategy: "nothing" };
    throw preflightError(`${where} is of type ${before.typeName} already; \`using\` would only change its values.`, "Change values with a `backfill` step.");
  }
  if (input.using === undefined && !probed.rewrites && (await binaryCoercible(db, table, input.column, probed.after.typeSql))) return { ...base, strategy: "catalog" };
  return { ...base, strategy: "shadow", shadow: await shadowFacts(db, input, objects, column, probed, context) };
}

/** The change tried on an empty copy of the table: the types as PostgreSQL names them, the default converted, and whether it rewrites. */
async function probeChange(db: Database, input: Input, table: TableRef, where: string): Promise<Probe> {
  try {
    return await probeColumnChange(
      db,
      table,
      input.column,
      // Without `using`, the explicit cast (PostgreSQL's own default is an assignment cast, which text → integer lacks).
      (copy) =>
        `ALTER TABLE ${copy} ALTER COLUMN ${quoteIdent(input.column)} TYPE ${input.type}\n USING ${input.using === undefined ? `CAST(${quoteIdent(input.column)} AS ${input.type}\n)` : embedExpression(input.using)}`,
    );
  } catch (error) {
    if (!(error instanceof ProbeFailure)) throw error;
    throw preflightError(
      `${where} cannot change to type ${input.type}: ${error.message}.`,
      /default for column/.test(error.message) ?
        "Its default does not convert to the new type: drop the default in a `sql` step before this one and set the new one after it."
      : 'Check `type` and `using` in the plan (`using` is an SQL expression of the row, e.g. round("price", 2)).',
    );
  }
}

/** The same type with other modifiers, or a cast PostgreSQL marks binary-coercible (pg_cast.castmethod 'b'). */
async function binaryCoercible(db: Database, table: TableRef, column: string, newTypeSql: string): Promise<boolean> {
  const row = await db.one<{ ok: boolean }>(
    `SELECT a.atttypid = to_regtype($3) OR EXISTS (SELECT 1 FROM pg_cast c WHERE c.castsource = a.atttypid AND c.casttarget = to_regtype($3) AND c.castmethod = 'b') AS ok
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2`,
    [quoteTable(table), column, newTypeSql],
  );
  return row.ok;
}

async function shadowFacts(db: Database, input: Input, objects: TableObjects, column: ColumnInfo, probe: Probe, context: PlanContext): Promise<ShadowFacts> {
  const table = toTableRef(input.table);
  const where = label(input);
  const refuse = (what: string, hint: string) => preflightError(`${where} ${what}.`, hint);
  const uses = (attnums: number[]) => attnums.includes(column.attnum);
  if (objects.table.kind === "r" && objects.table.hasChildren) throw refuse("is inherited by other tables, which a column swapped by rename would leave behind", sqlStep);
  const indexes = objects.indexes.filter((i) => uses(i.attnums));
  const primary = indexes.find((i) => i.primary);
  if (primary) {
    throw refuse(
      `is part of the primary key ${primary.name}: the batches walk that key, and a key column swapped by rename would need the primary key rebuilt under an exclusive lock`,
      sqlStep,
    );
  }
  const incoming = objects.incoming.filter((f) => uses(f.referencedAttnums));
  if (incoming.length > 0) {
    throw refuse(
      `is referenced by the foreign key${incoming.length > 1 ? "s" : ""} ${incoming.map((f) => `${f.name} of ${displayTable(f.table)}`).join(", ")}: the referencing columns must change type with it, and a foreign key cannot follow a column swapped by rename`,
      sqlStep,
    );
  }
  const outgoing = objects.constraints.filter((c) => c.type === "f" && uses(c.attnums));
  if (outgoing.length > 0) {
    throw refuse(
      `is in the foreign key${outgoing.length > 1 ? "s" : ""} ${outgoing.map((c) => c.name).join(", ")}, which a column swapped by rename cannot carry`,
      "Drop the foreign key in a `sql` step before this one, then add it again after it with an addForeignKey step (validated without blocking writes).",
    );
  }
  const checks = objects.constraints.filter((c) => c.type === "c" && uses(c.attnums));
  if (checks.length > 0) {
    throw refuse(
      `is used by the check constraint${checks.length > 1 ? "s" : ""} ${checks.map((c) => c.name).join(", ")}, which a column swapped by rename cannot carry`,
      "Drop the constraint in a `sql` step before this one and add it again after it.",
    );
  }
  const blocking = indexes.filter((i) => !i.simple || i.constraint !== null);
  if (blocking.length > 0) {
    throw refuse(
      `is part of ${blocking.map((i) => `${i.name} (${i.constraint ? `a ${i.constraint.type === "u" ? "unique" : "exclusion"} constraint` : "an expression or partial index"})`).join(", ")}, which the new column cannot get without blocking writes`,
      "Drop it in a `sql` step before this one and create it again after it (a createIndex step builds it CONCURRENTLY).",
    );
  }
  if (objects.table.kind === "p" && indexes.length > 0) {
    throw refuse(`is indexed (${indexes.map((i) => i.name).join(", ")}) on a partitioned table, where PostgreSQL cannot build an index CONCURRENTLY`, sqlStep);
  }
  const key = await primaryKey(db, table);
  if (key.length === 0)
    throw preflightError(`Table ${displayTable(table)} has no primary key; breakwater needs one to fill the new column in batches.`, "Add a primary key first.");
  const shadow = fitsName(`${input.column}__bw`) ? `${input.column}__bw` : context.objectName("new");
  const aside = fitsName(`${input.column}__bw_old`) ? `${input.column}__bw_old` : context.objectName("old");
  for (const name of [shadow, aside]) {
    if (objects.columns.some((c) => c.name === name)) {
      throw preflightError(
        `Table ${displayTable(table)} already has a column ${name}.`,
        "It is left from another run: roll that run back (`breakwater rollback <id>`), run `breakwater cleanup`, or drop it.",
      );
    }
  }
  const sequence = objects.sequences.find((s) => s.column === input.column);
  // The reverse trigger casts new values back; without a cast between the types, through text.
  let reverseViaText = false;
  try {
    await db.readOnly((tx) => tx.query(`SELECT CAST(CAST(NULL AS ${probe.after.typeSql}) AS ${probe.before!.typeSql})`));
  } catch (error) {
    if (isConnectionLoss(error)) throw error;
    reverseViaText = true;
  }
  return {
    key,
    shadow,
    aside,
    indexes: indexes.map((i) => ({ name: i.name, definition: i.definition })),
    sequence: sequence ? quoteQualified(sequence.schema, sequence.name) : null,
    reverseViaText,
  };
}

function plan(input: Input, facts: Facts, context: PlanContext): OperationPlan {
  const result = emptyPlan();
  const where = label(input);
  if (facts.strategy === "nothing") {
    result.summary.push(`${where} is of type ${facts.newType} already: nothing to do`);
    return result;
  }
  result.finalChecks.push(typeCheck(input, facts));
  if (facts.strategy === "catalog") return planCatalog(input, facts, result);
  return planShadow(input, facts, facts.shadow!, context, result);
}

function typeCheck(input: Input, facts: Facts): CheckSpec {
  return {
    name: `${label(input)} is of type ${facts.newType}`,
    sql: `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = ${facts.tableOid} AND attname = ${quoteLiteral(input.column)} AND NOT attisdropped`,
    expect: { equals: facts.newType },
  };
}

function planCatalog(input: Input, facts: Facts, result: OperationPlan): OperationPlan {
  const table = toTableRef(input.table);
  const t = quoteTable(table);
  const col = quoteIdent(input.column);
  result.summary.push(`${label(input)}: ${facts.oldType} → ${facts.newType}, catalog only (binary-coercible: no row is read or written)`);
  result.contract.push({
    label: `change the type of ${label(input)} to ${facts.newType} (catalog only)`,
    lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
    commitPoint: true,
    statements: [`ALTER TABLE ${t} ALTER COLUMN ${col} TYPE ${facts.newTypeSql}`],
  });
  result.rollbackAfterContract = [
    {
      label: `change the type of ${label(input)} back to ${facts.oldType}`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [`ALTER TABLE ${t} ALTER COLUMN ${col} TYPE ${facts.oldTypeSql}`],
    },
  ];
  result.notes.push(
    `a rollback after completion changes the type back with ALTER COLUMN … TYPE ${facts.oldType}: when that type is narrower, PostgreSQL checks every row under ACCESS EXCLUSIVE, and refuses values written since that do not fit`,
  );
  return result;
}

function planShadow(input: Input, facts: Facts, shadow: ShadowFacts, context: PlanContext, result: OperationPlan): OperationPlan {
  const table = toTableRef(input.table);
  const t = quoteTable(table);
  const col = quoteIdent(input.column);
  const newCol = quoteIdent(shadow.shadow);
  const aside = quoteIdent(shadow.aside);
  const where = label(input);
  const index = (name: string) => quoteQualified(table.schema, name);
  const sync = context.objectName("sync");
  const syncFn = quoteQualified("breakwater", sync);
  const reverse = context.objectName("rev");
  const reverseFn = quoteQualified("breakwater", reverse);
  const notNull = context.objectName("nn");
  const asideNotNull = context.objectName("onn");
  const copies = shadow.indexes.map((ix, k) => ({ ...ix, copy: context.objectName(`ix${k}`), back: context.objectName(`bix${k}`) }));
  const keyOrder = shadow.key.map((k) => quoteIdent(k.name)).join(", ");
  const convert = conversion(input, facts);
  const back = (value: string) => (shadow.reverseViaText ? `CAST(CAST(${value} AS text) AS ${facts.oldTypeSql})` : `CAST(${value} AS ${facts.oldTypeSql})`);
  /** the default cast changes no value: the value cast back reads as before */
  const lossy = (row: string, value = convert(row)) => `${back(value)}::text IS DISTINCT FROM ${row}${col}::text`;
  const keyText = (row: string) => shadow.key.map((k) => `${quoteLiteral(`${k.name} = `)} || ${row}${quoteIdent(k.name)}::text`).join(` || ', ' || `);

  result.summary.push(
    `${where}: ${facts.oldType} → ${facts.newType}${input.using ? ` using ${input.using}` : ""}; a column of the new type filled in batches beside it, swapped in by rename (short locks)`,
    `${where} is set aside as ${shadow.aside} at the contract and kept filled until \`breakwater cleanup\`: a rollback after completion is a rename`,
  );

  // Every value is tried before anything changes: a value that does not convert (or that the
  // default cast would change) is reported with the count and a row, instead of failing a batch.
  const diagnose = `#variable_conflict use_column
DECLARE
  bw_failed bigint := 0;
  bw_lossy bigint := 0;
  bw_sample text;
  bw_state text;
  bw_error text;
  bw_row ${t}%ROWTYPE;
BEGIN
  BEGIN
    ${input.using === undefined ? `SELECT count(*) INTO bw_lossy FROM ${t} WHERE ${lossy("")};` : `PERFORM count(${convert("")}) FROM ${t};`}
  EXCEPTION WHEN data_exception THEN
    FOR bw_row IN SELECT * FROM ${t} ORDER BY ${keyOrder} LOOP
      BEGIN
        PERFORM ${convert("bw_row.")};
      EXCEPTION WHEN data_exception THEN
        bw_failed := bw_failed + 1;
        IF bw_sample IS NULL THEN
          GET STACKED DIAGNOSTICS bw_state = RETURNED_SQLSTATE, bw_error = MESSAGE_TEXT;
          bw_sample := 'the row ' || ${keyText("bw_row.")} || ' holds ' || left(quote_nullable(bw_row.${col}::text), 200) || ' (' || bw_error || ')';
        END IF;
      END;
    END LOOP;
    IF bw_failed > 0 THEN
      RAISE EXCEPTION USING ERRCODE = bw_state, MESSAGE = bw_failed || ${quoteLiteral(` row(s) of ${where} cannot be converted to ${facts.newType}${input.using ? ` by ${input.using}` : ""}; e.g. `)} || bw_sample || ${quoteLiteral(". Nothing was changed: fix or delete those rows, or give `using` to convert them.")};
    END IF;
  END;
  IF bw_lossy > 0 THEN
    SELECT 'the row ' || ${keyText("")} || ' holds ' || left(quote_nullable(${col}::text), 200) || ', which would become ' || left(quote_nullable(${convert("")}::text), 200)
      INTO bw_sample FROM ${t} WHERE ${lossy("")} ORDER BY ${keyOrder} LIMIT 1;
    RAISE EXCEPTION USING ERRCODE = 'data_exception', MESSAGE = bw_lossy || ${quoteLiteral(` row(s) of ${where} would change value when cast to ${facts.newType} (rounded, truncated or reformatted); e.g. `)} || bw_sample || ${quoteLiteral(`. Nothing was changed. If that is intended, say so with \`using\` (e.g. using: '${col}::${facts.newType}', or an expression such as round(${col}, 2)); otherwise fix those rows first.`)};
  END IF;
END`;
  result.expand.push({ label: `check that every value of ${where} converts to ${facts.newType}`, statements: [`DO ${dollarQuoted(diagnose)}`] });

  // Writes by the application from now until the swap keep the new column in step; a write whose
  // value does not convert fails, as it would after the change.
  const syncBody = `BEGIN NEW.${newCol} := ${convert("NEW.")}; RETURN NEW; END`;
  result.expand.push({
    label: `add ${displayTable(table)}.${shadow.shadow} (${facts.newType}) and the trigger keeping it in step with ${input.column}`,
    lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
    statements: [
      `ALTER TABLE ${t} ADD COLUMN ${newCol} ${facts.newTypeSql}`,
      `CREATE FUNCTION ${syncFn}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuoted(syncBody)}`,
      // With `using`, the value may depend on other columns: every UPDATE recomputes it.
      `CREATE TRIGGER ${quoteIdent(sync)} BEFORE INSERT OR UPDATE${input.using === undefined ? ` OF ${col}` : ""} ON ${t} FOR EACH ROW EXECUTE FUNCTION ${syncFn}()`,
    ],
  });
  const rows = `${where}:rows`;
  result.measures.push({ name: rows, label: `rows of ${displayTable(table)}`, sql: `SELECT count(*) FROM ${t}` });
  result.changes.push({ label: `${where} converted to ${facts.newType}`, measure: rows });
  // Compared as text: not every type has an equality operator (json).
  const differs = `${newCol}::text IS DISTINCT FROM ${convert("")}::text`;
  result.transforms.push({
    label: `fill ${displayTable(table)}.${shadow.shadow} from ${input.column}`,
    table,
    key: shadow.key,
    set: `${newCol} = ${convert("")}`,
    // Only rows not yet in step: a re-run is a no-op, and rows the application wrote meanwhile were put in step by the trigger.
    where: differs,
    windowOverAllRows: true,
    idempotent: true,
  });
  // Per row, so they hold while the application writes (the trigger keeps every write in step).
  result.checks.push({ name: `every row of ${displayTable(table)} holds ${input.column} converted (${shadow.shadow})`, table, key: shadow.key, differs });
  if (input.using === undefined) {
    result.checks.push({
      name: `no value of ${where} changes when cast to ${facts.newType}`,
      table,
      key: shadow.key,
      differs: lossy("", newCol),
      describe: `${keyText("")} || ': ' || left(quote_nullable(${col}::text), 100) || ' → ' || left(quote_nullable(${newCol}::text), 100)`,
    });
  }
  if (!context.online) {
    result.finalChecks.push({ name: `rows of ${displayTable(table)} unchanged`, sql: `SELECT count(*) FROM ${t}`, expect: { equalsMeasures: [rows] } });
  }

  if (facts.notNull) {
    // SET NOT NULL skips its scan when a valid CHECK (col IS NOT NULL) exists (PostgreSQL ≥ 12);
    // VALIDATE scans under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on.
    result.contract.push(...proveNotNull(table, shadow.shadow, notNull));
  }
  const buildIndex = (definition: string, column: string, name: string): Action => ({
    label: `build index ${name} on ${column} CONCURRENTLY`,
    statements: [rewriteIndexDefinition(definition, facts.printed, column, quoteIdent(name))],
    outsideTransaction: {
      skipIf: `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(${quoteLiteral(index(name))}) AND indisvalid)`,
      cleanupBeforeRetry: [`DROP INDEX CONCURRENTLY IF EXISTS ${index(name)}`],
    },
  });
  for (const ix of copies) result.contract.push(buildIndex(ix.definition, shadow.shadow, ix.copy));
  // After the swap the old column gets every value written to the new one, cast back; a value the
  // old type cannot hold leaves it NULL (found and refused by a rollback), never fails a write.
  const reverseBody = `BEGIN
  BEGIN
    NEW.${aside} := ${back(`NEW.${col}`)};
  EXCEPTION WHEN data_exception THEN
    NEW.${aside} := NULL;
  END;
  RETURN NEW;
END`;
  result.contract.push({
    label: `swap ${where} to ${facts.newType} by rename: the old column set aside as ${shadow.aside}, kept filled until cleanup`,
    lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
    commitPoint: true,
    statements: [
      `DROP TRIGGER ${quoteIdent(sync)} ON ${t}`,
      `DROP FUNCTION ${syncFn}()`,
      // The old column's indexes go: the new column's copies take their names (a rollback builds them again).
      ...copies.map((ix) => `DROP INDEX ${index(ix.name)}`),
      ...(facts.oldDefault === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${col} DROP DEFAULT`]),
      ...(facts.notNull ? [`ALTER TABLE ${t} ALTER COLUMN ${col} DROP NOT NULL`] : []),
      `ALTER TABLE ${t} RENAME COLUMN ${col} TO ${aside}`,
      `COMMENT ON COLUMN ${t}.${aside} IS ${quoteLiteral(`${setAsideComment} ${input.column} (${facts.oldType}) until breakwater cleanup (run ${context.runId})`)}`,
      `ALTER TABLE ${t} RENAME COLUMN ${newCol} TO ${col}`,
      ...(facts.newDefault === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${col} SET DEFAULT ${facts.newDefault}`]),
      ...(facts.notNull ? [`ALTER TABLE ${t} ALTER COLUMN ${col} SET NOT NULL`, `ALTER TABLE ${t} DROP CONSTRAINT ${quoteIdent(notNull)}`] : []),
      ...copies.map((ix) => `ALTER INDEX ${index(ix.copy)} RENAME TO ${quoteIdent(ix.name)}`),
      // The sequence would go with the old column at cleanup: it belongs to the new one now.
      ...(shadow.sequence ? [`ALTER SEQUENCE ${shadow.sequence} OWNED BY ${t}.${col}`] : []),
      ...(facts.comment === null ? [] : [`COMMENT ON COLUMN ${t}.${col} IS ${quoteLiteral(facts.comment)}`]),
      `CREATE FUNCTION ${reverseFn}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuoted(reverseBody)}`,
      `CREATE TRIGGER ${quoteIdent(reverse)} BEFORE INSERT OR UPDATE OF ${col} ON ${t} FOR EACH ROW EXECUTE FUNCTION ${reverseFn}()`,
    ],
  });
  result.contract.push({ label: `refresh planner statistics of ${displayTable(table)} (ANALYZE)`, statements: [`ANALYZE ${t}`] });
  result.finalChecks.push({
    name: `${shadow.aside} kept filled from ${input.column} (${displayTable(table)})`,
    sql: `SELECT count(*) FROM pg_trigger WHERE tgrelid = ${facts.tableOid} AND tgname = ${quoteLiteral(reverse)}`,
    expect: { equals: 1 },
  });

  result.rollback = [
    {
      label: `drop ${displayTable(table)}.${shadow.shadow}, its trigger, check and indexes`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [
        `DROP TRIGGER IF EXISTS ${quoteIdent(sync)} ON ${t}`,
        `DROP FUNCTION IF EXISTS ${syncFn}()`,
        `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${quoteIdent(notNull)}`,
        ...copies.map((ix) => `DROP INDEX IF EXISTS ${index(ix.copy)}`),
        `ALTER TABLE ${t} DROP COLUMN IF EXISTS ${newCol}`,
      ],
    },
  ];

  // After the contract: the old column holds every row's value (the reverse trigger); a rollback
  // builds its indexes again without blocking writes, then renames it back.
  const asideExists = `SELECT FROM pg_attribute WHERE attrelid = ${facts.tableOid} AND attname = ${quoteLiteral(shadow.aside)} AND NOT attisdropped`;
  // A NULL left by the reverse trigger: a value written since that the old type cannot hold. Raised
  // as 22P02, which the runner reports as rows the old schema cannot hold (BW_ROLLBACK_CONFLICT).
  const unconvertible = `${aside} IS NULL AND ${col} IS NOT NULL`;
  result.rollbackAfterContract = [
    {
      label: `check that ${shadow.aside} is there and holds every value`,
      statements: [
        plpgsqlBlock(
          `IF NOT EXISTS (${asideExists}) THEN RAISE EXCEPTION ${quoteLiteral(`${displayTable(table)}.${shadow.aside}, the old column this rollback renames back, is gone (breakwater cleanup dropped it)`)}; END IF;
           SELECT count(*) INTO bw_n FROM ${t} WHERE ${unconvertible};
           IF bw_n > 0 THEN
             SELECT ${keyText("")} INTO bw_sample FROM ${t} WHERE ${unconvertible} ORDER BY ${keyOrder} LIMIT 1;
             RAISE EXCEPTION USING ERRCODE = 'invalid_text_representation', MESSAGE = bw_n || ${quoteLiteral(` row(s) of ${displayTable(table)} hold a value of ${input.column} that ${facts.oldType} cannot hold (e.g. the row `)} || bw_sample || ')';
           END IF;`,
          "bw_n bigint; bw_sample text;",
        ),
      ],
    },
    ...(facts.notNull ? proveNotNull(table, shadow.aside, asideNotNull) : []),
    ...copies.map((ix) => buildIndex(ix.definition, shadow.aside, ix.back)),
    {
      label: `rename ${shadow.aside} back to ${input.column} (${facts.oldType}) and drop the new column`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [
        `DROP TRIGGER IF EXISTS ${quoteIdent(reverse)} ON ${t}`,
        `DROP FUNCTION IF EXISTS ${reverseFn}()`,
        ...(shadow.sequence ? [`ALTER SEQUENCE ${shadow.sequence} OWNED BY ${t}.${aside}`] : []),
        // Its indexes go with it.
        `ALTER TABLE ${t} DROP COLUMN ${col}`,
        `ALTER TABLE ${t} RENAME COLUMN ${aside} TO ${col}`,
        `COMMENT ON COLUMN ${t}.${col} IS ${facts.comment === null ? "NULL" : quoteLiteral(facts.comment)}`,
        ...(facts.oldDefault === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${col} SET DEFAULT ${facts.oldDefault}`]),
        ...(facts.notNull ? [`ALTER TABLE ${t} ALTER COLUMN ${col} SET NOT NULL`, `ALTER TABLE ${t} DROP CONSTRAINT ${quoteIdent(asideNotNull)}`] : []),
        ...copies.map((ix) => `ALTER INDEX ${index(ix.back)} RENAME TO ${quoteIdent(ix.name)}`),
      ],
    },
  ];
  result.cleanup = [
    {
      label: `drop ${displayTable(table)}.${shadow.aside} (the old ${input.column}) and its trigger`,
      // Found by its trigger, not by name: a later step of the plan may have renamed the table.
      statements: [
        plpgsqlBlock(
          `FOR t IN SELECT tgrelid::regclass FROM pg_trigger WHERE tgrelid = ${facts.tableOid} AND tgname = ${quoteLiteral(reverse)} LOOP ` +
            `EXECUTE format('DROP TRIGGER %I ON %s', ${quoteLiteral(reverse)}, t); EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS %I', t, ${quoteLiteral(shadow.aside)}); END LOOP;`,
          "t regclass;",
        ),
        `DROP FUNCTION IF EXISTS ${reverseFn}()`,
      ],
    },
  ];
  result.notes.push(
    `${shadow.aside} (the old ${input.column}) stays, kept filled, until \`breakwater cleanup\`; a rollback after completion renames it back`,
    `${input.column} moves to the end of the table's column order`,
  );
  if (context.online) {
    result.notes.push(
      `from the expand on, an application write of ${input.column} whose value does not convert to ${facts.newType} fails (as it would after the change); from the contract on the column is of type ${facts.newType}: the application must read and write it (PostgreSQL's assignment casts cover widening changes such as integer → bigint)`,
    );
  }
  return result;
}

/** The value the new column gets, given how the row's columns are reached: `""` (in the table), `NEW.`, `bw_row.` (a row variable). */
function conversion(input: Input, facts: Facts): (row: string) => string {
  const col = quoteIdent(input.column);
  if (input.using === undefined) return (row) => `CAST(${row}${col} AS ${facts.newTypeSql})`;
  const expression = `CAST(${embedExpression(input.using)} AS ${facts.newTypeSql})`;
  // `using` names the row's columns: outside the table itself, they are the columns of a one-row subquery.
  return (row) => (row === "" ? expression : `(SELECT ${expression} FROM (SELECT ${row}*) AS bw_row_values)`);
}

function proveNotNull(table: TableRef, column: string, check: string): Action[] {
  const t = quoteTable(table);
  return [
    {
      label: `prove ${displayTable(table)}.${column} is never NULL (CHECK NOT VALID)`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [`ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(check)} CHECK (${quoteIdent(column)} IS NOT NULL) NOT VALID`],
    },
    {
      label: `validate that check without blocking writes`,
      lock: { tables: [table], mode: "SHARE UPDATE EXCLUSIVE" },
      statements: [`ALTER TABLE ${t} VALIDATE CONSTRAINT ${quoteIdent(check)}`],
    },
  ];
}

export const changeColumnTypeOperation: Operation<Input, Facts, "changeColumnType"> = {
  kind: "changeColumnType",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `change the type of ${label(input)} to ${input.type}${input.using ? ` using ${input.using}` : ""}`,
  inspect,
  plan,
  onlineRefusal: () => null,
};
