// renameColumn: a column renamed (Prisma: a field's `@map`), with the indexes, foreign keys and
// serial sequence Prisma names after it.
// - maintenance: ALTER TABLE … RENAME COLUMN at the contract (catalog only, one short lock).
// - online: two application versions run at once, the old one using `from`, the new one `to`. The
//   expand adds `to` (same type and collation) and a trigger keeping both in step on every INSERT
//   and UPDATE; keyset batches copy `from` into `to`; NOT NULL, indexes and foreign keys are
//   rebuilt on `to` without blocking writes. The contract waits until the old version no longer
//   writes `from`, then in one short transaction sets `from` aside (renamed, kept filled by a
//   reverse trigger, dropped by `breakwater cleanup`), so a rollback after completion is a rename.
import { z } from "zod";
import type { Database } from "@breakwater/runtime/internal";
import { primaryKey, type KeyColumn } from "../db/catalog.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteQualified, quoteTable, type TableRef } from "../db/quote.ts";
import {
  columnUsers,
  relationKind,
  setAsideComment,
  tableObjects,
  type ColumnInfo,
  type OwnedSequence,
  type TableConstraint,
  type TableIndex,
  type TableObjects,
} from "../db/table-objects.ts";
import { fitsName, identifier, preflightError, tableInput, toTableRef } from "./common.ts";
import { conventionalConstraintName, conventionalIndexName, serialSequenceName } from "./prisma-names.ts";
import { rewriteIndexDefinition } from "./rename-enum-value.ts";
import { dollarQuoted, followNames, plpgsqlBlock, type NameChange } from "./rename-table.ts";
import { emptyPlan, type Action, type CheckSpec, type Operation, type OperationPlan, type PlanContext, type Proof, type SchemaAccepts } from "./types.ts";

const inputSchema = z
  .object({
    op: z.literal("renameColumn"),
    table: tableInput,
    from: identifier,
    to: identifier,
  })
  .strict()
  .refine((i) => i.from !== i.to, { message: "`from` and `to` must differ" });

type _Accepts = Proof<SchemaAccepts<"renameColumn", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;

/** Online: an index on `from` built again on `to`, and on the old column again by a rollback after completion. */
interface IndexCopy {
  original: string;
  /** its name on `to`: Prisma's name for the new columns when it had Prisma's name, else its own */
  final: string;
  definition: string;
  /** backs a UNIQUE constraint (not only a unique index) */
  uniqueConstraint: boolean;
}

/** Online: a foreign key on `from` added again on `to`. */
interface ForeignKeyCopy {
  original: string;
  final: string;
  /** pg_get_constraintdef after the column list: `REFERENCES … ON … ` */
  rest: string;
  printedColumns: string[];
  columns: string[];
  references: TableRef;
}

interface OnlineFacts {
  /** the old column's name from the contract until cleanup */
  aside: string;
  key: KeyColumn[];
  indexes: IndexCopy[];
  foreignKeys: ForeignKeyCopy[];
  /** a serial column's sequence, owned by `to` from the contract on */
  sequence: { name: string; final: string } | null;
}

interface Facts {
  /** the table's oid: the final checks and cleanup find it by it after a later step renamed it */
  tableOid: number;
  column: ColumnInfo;
  /** maintenance: the names that follow the column */
  names: NameChange[];
  unfit: string[];
  online: OnlineFacts | null;
}

/** The index, foreign key and sequence names Prisma (and serial) derive from the column, moved to `to`. */
export function columnNameChanges(objects: TableObjects, table: string, from: string, to: string): { changes: NameChange[]; unfit: string[] } {
  const changes: NameChange[] = [];
  const unfit: string[] = [];
  const add = (kind: NameChange["kind"], name: string, renamed: string) => {
    if (renamed === "" || renamed === name) return;
    if (fitsName(renamed)) changes.push({ kind, from: name, to: renamed });
    else unfit.push(name);
  };
  for (const index of objects.indexes) {
    const renamed = renamedIndexName(table, index, from, to);
    if (renamed !== index.name) add(index.constraint ? "constraint" : "index", index.name, renamed);
  }
  for (const constraint of objects.constraints) {
    const renamed = renamedConstraintName(table, constraint, from, to);
    if (renamed !== constraint.name) add("constraint", constraint.name, renamed);
  }
  for (const sequence of objects.sequences) {
    const renamed = renamedSequenceName(table, sequence, from, to);
    if (renamed !== sequence.name) add("sequence", sequence.name, renamed);
  }
  return { changes, unfit };
}

const swapColumn = (columns: (string | null)[], from: string, to: string) => columns.map((c) => (c === from ? to : c));

function renamedIndexName(table: string, index: TableIndex, from: string, to: string): string {
  if (!index.columns.includes(from) || conventionalIndexName(table, index) !== index.name) return index.name;
  return conventionalIndexName(table, { ...index, columns: swapColumn(index.columns, from, to) }) || index.name;
}

function renamedConstraintName(table: string, constraint: TableConstraint, from: string, to: string): string {
  if (!constraint.columns.includes(from) || conventionalConstraintName(table, constraint) !== constraint.name) return constraint.name;
  return conventionalConstraintName(table, { ...constraint, columns: swapColumn(constraint.columns, from, to) as string[] }) || constraint.name;
}

function renamedSequenceName(table: string, sequence: OwnedSequence, from: string, to: string): string {
  if (sequence.column !== from || serialSequenceName(table, from) !== sequence.name) return sequence.name;
  return serialSequenceName(table, to);
}

async function inspect(db: Database, input: Input, context: PlanContext): Promise<Facts> {
  const table = toTableRef(input.table);
  const objects = await tableObjects(db, table);
  if (!objects) {
    const kind = await relationKind(db, table);
    throw preflightError(
      kind === null ? `Table ${displayTable(table)} does not exist.` : `${displayTable(table)} is not a table (relkind ${kind}).`,
      "Names are case-sensitive; give { schema, name } for a table outside public.",
    );
  }
  const where = `${displayTable(table)}.${input.from}`;
  const column = objects.columns.find((c) => c.name === input.from);
  if (!column) throw preflightError(`Table ${displayTable(table)} has no column ${input.from} (columns: ${objects.columns.map((c) => c.name).join(", ")}).`);
  if (objects.columns.some((c) => c.name === input.to)) throw preflightError(`Table ${displayTable(table)} already has a column ${input.to}.`);
  if (objects.table.isPartition) {
    throw preflightError(`${displayTable(table)} is a partition; its columns are its partitioned table's.`, "Rename the column on the partitioned table.");
  }
  const { changes, unfit } = columnNameChanges(objects, table.name, input.from, input.to);
  const constraintNames = new Set(objects.constraints.map((c) => c.name));
  for (const change of changes) {
    if (changes.some((c) => c.from === change.to)) continue;
    if ((await relationKind(db, { schema: table.schema, name: change.to })) !== null || constraintNames.has(change.to)) {
      throw preflightError(
        `${where}: its ${change.kind} ${change.from} would be renamed ${change.to}, a name already taken in schema ${table.schema}.`,
        "Rename or drop that object first.",
      );
    }
  }
  if (!context.online) return { tableOid: objects.table.oid, column, names: changes, unfit, online: null };

  // Online, `to` is a second column beside `from`: whatever uses `from` must be rebuilt on `to`,
  // and only what can be rebuilt without blocking the application is.
  const refuse = (what: string) =>
    preflightError(
      `${where} ${what}; online, renameColumn cannot carry that over to ${input.to} without blocking the application.`,
      "Run this step with maintenance (online: false): ALTER TABLE … RENAME COLUMN carries everything over.",
    );
  const uses = (attnums: number[]) => attnums.includes(column.attnum);
  if (column.identity) throw refuse("is an identity column");
  if (column.generated) throw refuse("is a generated column");
  if (objects.table.partitionKey.includes(input.from)) throw refuse("is in the partition key");
  if (objects.table.kind === "r" && objects.table.hasChildren) throw refuse("is inherited by other tables");
  const indexes = objects.indexes.filter((i) => uses(i.attnums));
  const blocking = indexes.filter((i) => i.primary || !i.simple || i.constraint?.type === "x");
  if (blocking.length > 0)
    throw refuse(
      `is part of ${blocking
        .map(
          (i) =>
            `${i.name} (${
              i.primary ? "the primary key"
              : i.constraint?.type === "x" ? "an exclusion constraint"
              : "an expression or partial index"
            })`,
        )
        .join(", ")}`,
    );
  const users = await columnUsers(db, table, column.attnum);
  if (users.length > 0) throw refuse(`is used by ${users.join("; ")}`);
  const checks = objects.constraints.filter((c) => c.type === "c" && uses(c.attnums));
  if (checks.length > 0) throw refuse(`is used by the check constraint${checks.length > 1 ? "s" : ""} ${checks.map((c) => c.name).join(", ")}`);
  const incoming = objects.incoming.filter((f) => uses(f.referencedAttnums));
  if (incoming.length > 0)
    throw refuse(`is referenced by the foreign key${incoming.length > 1 ? "s" : ""} ${incoming.map((f) => `${f.name} of ${displayTable(f.table)}`).join(", ")}`);
  const foreignKeys = objects.constraints.filter((c) => c.type === "f" && uses(c.attnums));
  if (objects.table.kind === "p" && (indexes.length > 0 || foreignKeys.length > 0)) {
    throw refuse("is indexed or a foreign key of a partitioned table (indexes cannot be built CONCURRENTLY there, nor foreign keys added NOT VALID)");
  }
  const foreignKeyCopies = foreignKeys.map((fk): ForeignKeyCopy => {
    const head = `FOREIGN KEY (${fk.printedColumns.join(", ")})`;
    const rest = fk.definition.startsWith(head) ? fk.definition.slice(head.length).replace(/ NOT VALID$/, "") : null;
    // ON DELETE SET NULL (columns) names columns again (PostgreSQL 15).
    if (rest === null || /SET (NULL|DEFAULT) \(/.test(rest)) throw refuse(`is in the foreign key ${fk.name}, whose definition cannot be rewritten (${fk.definition})`);
    return {
      original: fk.name,
      final: renamedConstraintName(table.name, fk, input.from, input.to),
      rest,
      printedColumns: fk.printedColumns,
      columns: fk.columns,
      references: fk.references!,
    };
  });
  const key = await primaryKey(db, table);
  if (key.length === 0) throw preflightError(`Table ${displayTable(table)} has no primary key; breakwater needs one to batch and resume.`, "Add a primary key first.");
  const aside = fitsName(`${input.from}__bw_old`) ? `${input.from}__bw_old` : context.objectName("old");
  if (objects.columns.some((c) => c.name === aside)) {
    throw preflightError(
      `Table ${displayTable(table)} already has a column ${aside}.`,
      "It is left from another run: roll that run back (`breakwater rollback <id>`), run `breakwater cleanup`, or drop it.",
    );
  }
  const sequence = objects.sequences.find((s) => s.column === input.from) ?? null;
  return {
    tableOid: objects.table.oid,
    column,
    names: changes,
    unfit,
    online: {
      aside,
      key,
      indexes: indexes.map((i) => ({
        original: i.name,
        final: renamedIndexName(table.name, i, input.from, input.to),
        definition: i.definition,
        uniqueConstraint: i.constraint?.type === "u",
      })),
      foreignKeys: foreignKeyCopies,
      sequence: sequence && { name: sequence.name, final: renamedSequenceName(table.name, sequence, input.from, input.to) },
    },
  };
}

/**
 * The columns the table has by these names. By the table's oid, not its name: a later step of the
 * plan (renameTable) may have renamed it before the final checks run.
 */
function columnsExist(table: TableRef, oid: number, names: string[]): CheckSpec {
  return {
    name: `${displayTable(table)} has ${names.join(" and ")}`,
    sql: `SELECT count(*) FROM pg_attribute WHERE attrelid = ${oid} AND attname IN (${names.map(quoteLiteral).join(", ")}) AND NOT attisdropped`,
    expect: { equals: names.length },
  };
}

function plan(input: Input, facts: Facts, context: PlanContext): OperationPlan {
  const table = toTableRef(input.table);
  const t = quoteTable(table);
  const from = quoteIdent(input.from);
  const to = quoteIdent(input.to);
  const label = `${displayTable(table)}.${input.from}`;
  const result = emptyPlan();
  const moved = facts.names.map((c) => `${c.from} → ${c.to}`);
  result.summary.push(`${label} → ${input.to}${moved.length ? `; ${moved.join(", ")}` : ""}`);
  if (facts.unfit.length) result.notes.push(`${facts.unfit.join(", ")} keep their names: the new ones would be longer than 63 bytes`);

  if (facts.online === null) {
    result.summary.push("contract: ALTER TABLE … RENAME COLUMN (catalog only, one short exclusive lock)");
    result.contract.push({
      label: `rename ${label} to ${input.to}${moved.length ? ` (and ${moved.join(", ")})` : ""}`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [
        `ALTER TABLE ${t} RENAME COLUMN ${from} TO ${to}`,
        ...followNames(facts.tableOid, { table: table.name, column: input.from }, { table: table.name, column: input.to }),
      ],
      commitPoint: true,
    });
    result.finalChecks.push(columnsExist(table, facts.tableOid, [input.to]));
    result.rollbackAfterContract = [
      {
        label: `rename ${displayTable(table)}.${input.to} back to ${input.from}`,
        lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
        statements: [
          `ALTER TABLE ${t} RENAME COLUMN ${to} TO ${from}`,
          ...followNames(facts.tableOid, { table: table.name, column: input.to }, { table: table.name, column: input.from }),
        ],
      },
    ];
    result.notes.push(
      `the application must use ${input.to} from the contract on: keep maintenance on until it is deployed (keepMaintenance)`,
      "views, policies, triggers and constraints using the column follow the rename; the column keeps its place in the table (Prisma's own migration would drop it and add it last)",
    );
    return result;
  }
  return planOnline(input, facts, facts.online, context, result);
}

function planOnline(input: Input, facts: Facts, online: OnlineFacts, context: PlanContext, result: OperationPlan): OperationPlan {
  const table = toTableRef(input.table);
  const t = quoteTable(table);
  const from = quoteIdent(input.from);
  const to = quoteIdent(input.to);
  const aside = quoteIdent(online.aside);
  const label = `${displayTable(table)}.${input.from}`;
  const column = facts.column;
  const sync = context.objectName("sync");
  const syncFn = quoteQualified("breakwater", sync);
  const reverse = context.objectName("rev");
  const reverseFn = quoteQualified("breakwater", reverse);
  const notNull = context.objectName("nn");
  const oldWrites = quoteQualified("breakwater", context.objectName("oldwrites"));
  const index = (name: string) => quoteQualified(table.schema, name);
  const copies = online.indexes.map((ix, k) => ({ ...ix, copy: context.objectName(`ix${k}`), back: context.objectName(`bix${k}`) }));
  const keys = online.foreignKeys.map((fk, k) => ({ ...fk, copy: context.objectName(`fk${k}`), back: context.objectName(`bfk${k}`) }));
  const countOldWrite = `PERFORM nextval(${quoteLiteral(oldWrites)});`;

  // INSERT: the statement gave `to` a value (it has no default during the window) or only `from`.
  // UPDATE: whichever column it changed; `to` when both. A write of `from` alone is the old
  // application's, and is counted, so the contract can wait for the last one. An INSERT that
  // leaves both out is not counted when `from` has a default: that is any version's INSERT.
  const syncBody = [
    "BEGIN",
    "IF TG_OP = 'INSERT' THEN",
    `  IF NEW.${to} IS NULL THEN NEW.${to} := NEW.${from};${column.defaultExpression === null ? ` IF NEW.${from} IS NOT NULL THEN ${countOldWrite} END IF;` : ""}`,
    `  ELSE NEW.${from} := NEW.${to}; END IF;`,
    `ELSIF NEW.${to} IS DISTINCT FROM OLD.${to} THEN NEW.${from} := NEW.${to};`,
    `ELSIF NEW.${from} IS DISTINCT FROM OLD.${from} THEN NEW.${to} := NEW.${from}; ${countOldWrite}`,
    "END IF;",
    "RETURN NEW;",
    "END",
  ].join("\n");
  result.summary.push(
    `online: ${input.to} added beside ${input.from} and kept in step by a trigger; ${input.from} set aside as ${online.aside} at the contract, dropped by \`breakwater cleanup\``,
  );
  result.expand.push({
    label: `add ${displayTable(table)}.${input.to} (${column.type}) and the trigger keeping it in step with ${input.from}`,
    lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
    statements: [
      // No default yet: an INSERT that leaves `to` NULL is one that did not name it (see above).
      `ALTER TABLE ${t} ADD COLUMN ${to} ${column.type}${column.collation ? ` COLLATE ${column.collation}` : ""}`,
      `CREATE SEQUENCE ${oldWrites}`,
      // SECURITY DEFINER: the application's role may not use the breakwater schema's sequence.
      `CREATE FUNCTION ${syncFn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ${dollarQuoted(syncBody)}`,
      `CREATE TRIGGER ${quoteIdent(sync)} BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${syncFn}()`,
    ],
  });
  const toCopy = `${label}:to copy`;
  result.measures.push({ name: toCopy, label: `rows of ${displayTable(table)} to copy into ${input.to}`, sql: `SELECT count(*) FROM ${t} WHERE ${to} IS DISTINCT FROM ${from}` });
  result.changes.push({ label: `${label} copied into ${input.to}`, measure: toCopy });
  result.transforms.push({
    label: `copy ${label} into ${input.to}`,
    table,
    key: online.key,
    set: `${to} = ${from}`,
    // Only rows not yet in step: a re-run is a no-op, and rows the application wrote meanwhile
    // were put in step by the trigger.
    where: `${to} IS DISTINCT FROM ${from}`,
    windowOverAllRows: true,
    idempotent: true,
  });
  // Per row, so it holds while the application writes (the trigger keeps every write in step).
  result.checks.push({ name: `every row has ${input.to} = ${input.from} (${displayTable(table)})`, table, key: online.key, differs: `${to} IS DISTINCT FROM ${from}` });

  const contract: Action[] = [];
  if (column.notNull) {
    // SET NOT NULL skips its scan when a valid CHECK (col IS NOT NULL) exists (PostgreSQL ≥ 12);
    // VALIDATE scans under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on.
    contract.push(
      {
        label: `prove ${displayTable(table)}.${input.to} is never NULL (CHECK NOT VALID)`,
        lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
        statements: [`ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(notNull)} CHECK (${to} IS NOT NULL) NOT VALID`],
      },
      {
        label: "validate that check without blocking writes",
        lock: { tables: [table], mode: "SHARE UPDATE EXCLUSIVE" },
        statements: [`ALTER TABLE ${t} VALIDATE CONSTRAINT ${quoteIdent(notNull)}`],
      },
    );
  }
  const buildIndex = (definition: string, column: string, name: string): Action => ({
    label: `build index ${name} on ${column} CONCURRENTLY`,
    statements: [rewriteIndexDefinition(definition, facts.column.printed, column, quoteIdent(name))],
    outsideTransaction: {
      skipIf: `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(${quoteLiteral(index(name))}) AND indisvalid)`,
      cleanupBeforeRetry: [`DROP INDEX CONCURRENTLY IF EXISTS ${index(name)}`],
    },
  });
  const addForeignKey = (fk: (typeof keys)[number], column: string, name: string): Action[] => {
    const columns = fk.columns.map((c, i) => (c === input.from ? quoteIdent(column) : fk.printedColumns[i]!)).join(", ");
    return [
      {
        label: `add foreign key ${name} on ${column} (NOT VALID)`,
        lock: { tables: [table, fk.references], mode: "SHARE ROW EXCLUSIVE" },
        statements: [`ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(name)} FOREIGN KEY (${columns})${fk.rest} NOT VALID`],
      },
      {
        label: `validate foreign key ${name} without blocking writes`,
        lock: { tables: [table], mode: "SHARE UPDATE EXCLUSIVE" },
        statements: [`ALTER TABLE ${t} VALIDATE CONSTRAINT ${quoteIdent(name)}`],
      },
    ];
  };
  for (const ix of copies) contract.push(buildIndex(ix.definition, input.to, ix.copy));
  for (const fk of keys) contract.push(...addForeignKey(fk, input.to, fk.copy));
  // Indexes keep their name on the new column (Prisma's, for the new name, when they had Prisma's):
  // the old column's are dropped, not kept aside, so a unique violation names the new column.
  const takeIndexes = (which: typeof copies, name: "copy" | "back", as: "final" | "original") =>
    which.map((ix) =>
      ix.uniqueConstraint ?
        `ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(ix[as])} UNIQUE USING INDEX ${quoteIdent(ix[name])}`
      : `ALTER INDEX ${index(ix[name])} RENAME TO ${quoteIdent(ix[as])}`,
    );
  const dropOriginals = copies.map((ix) => (ix.uniqueConstraint ? `ALTER TABLE ${t} DROP CONSTRAINT ${quoteIdent(ix.original)}` : `DROP INDEX ${index(ix.original)}`));
  const sequence = online.sequence;
  const reverseBody = `BEGIN NEW.${aside} := NEW.${to}; RETURN NEW; END`;
  contract.push({
    label: `switch to ${input.to}: ${input.from} set aside as ${online.aside}, kept filled until cleanup`,
    lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
    commitPoint: true,
    statements: [
      `DROP TRIGGER ${quoteIdent(sync)} ON ${t}`,
      `DROP FUNCTION ${syncFn}()`,
      `DROP SEQUENCE ${oldWrites}`,
      ...(column.notNull ? [`ALTER TABLE ${t} ALTER COLUMN ${to} SET NOT NULL`, `ALTER TABLE ${t} DROP CONSTRAINT ${quoteIdent(notNull)}`] : []),
      ...dropOriginals,
      ...keys.map((fk) => `ALTER TABLE ${t} DROP CONSTRAINT ${quoteIdent(fk.original)}`),
      ...(column.defaultExpression === null ?
        []
      : [`ALTER TABLE ${t} ALTER COLUMN ${from} DROP DEFAULT`, `ALTER TABLE ${t} ALTER COLUMN ${to} SET DEFAULT ${column.defaultExpression}`]),
      // The sequence would go with the old column at cleanup: it belongs to the new one now.
      ...(sequence ? [`ALTER SEQUENCE ${index(sequence.name)} OWNED BY ${t}.${to}`] : []),
      ...(sequence && sequence.final !== sequence.name ? [`ALTER SEQUENCE ${index(sequence.name)} RENAME TO ${quoteIdent(sequence.final)}`] : []),
      `ALTER TABLE ${t} RENAME COLUMN ${from} TO ${aside}`,
      `COMMENT ON COLUMN ${t}.${aside} IS ${quoteLiteral(`${setAsideComment} ${input.from} until breakwater cleanup (run ${context.runId})`)}`,
      ...takeIndexes(copies, "copy", "final"),
      ...keys.map((fk) => `ALTER TABLE ${t} RENAME CONSTRAINT ${quoteIdent(fk.copy)} TO ${quoteIdent(fk.final)}`),
      `CREATE FUNCTION ${reverseFn}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuoted(reverseBody)}`,
      `CREATE TRIGGER ${quoteIdent(reverse)} BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${reverseFn}()`,
    ],
  });
  contract.push({ label: `refresh planner statistics of ${displayTable(table)} (ANALYZE)`, statements: [`ANALYZE ${t}`] });
  result.contract = contract;
  result.oldFormWrites = { sequence: oldWrites, what: `${label} (it is ${input.to} now)` };
  // The swap left both columns equal in every row (the sync trigger, then the check), and the
  // reverse trigger keeps them so.
  result.finalChecks.push(columnsExist(table, facts.tableOid, [input.to, online.aside]), {
    name: `${online.aside} kept filled from ${input.to} (${displayTable(table)})`,
    sql: `SELECT count(*) FROM pg_trigger WHERE tgrelid = ${facts.tableOid} AND tgname = ${quoteLiteral(reverse)}`,
    expect: { equals: 1 },
  });

  result.rollback = [
    {
      label: `drop ${displayTable(table)}.${input.to}, its trigger, indexes and constraints`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [
        `DROP TRIGGER IF EXISTS ${quoteIdent(sync)} ON ${t}`,
        `DROP FUNCTION IF EXISTS ${syncFn}()`,
        `DROP SEQUENCE IF EXISTS ${oldWrites}`,
        ...keys.map((fk) => `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${quoteIdent(fk.copy)}`),
        `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${quoteIdent(notNull)}`,
        ...copies.map((ix) => `DROP INDEX IF EXISTS ${index(ix.copy)}`),
        `ALTER TABLE ${t} DROP COLUMN IF EXISTS ${to}`,
      ],
    },
  ];

  // After the contract: the old column holds every row's value (the reverse trigger), so a
  // rollback rebuilds its indexes and keys without blocking, then renames it back.
  const asideExists = `SELECT FROM pg_attribute WHERE attrelid = to_regclass(${quoteLiteral(t)}) AND attname = ${quoteLiteral(online.aside)} AND NOT attisdropped`;
  result.rollbackAfterContract = [
    {
      label: `check that ${online.aside} is still there`,
      statements: [
        plpgsqlBlock(
          `IF NOT EXISTS (${asideExists}) THEN RAISE EXCEPTION ${quoteLiteral(`${displayTable(table)}.${online.aside}, the old column this rollback renames back, is gone (breakwater cleanup dropped it)`)}; END IF;`,
        ),
      ],
    },
    ...copies.map((ix) => buildIndex(ix.definition, online.aside, ix.back)),
    ...keys.flatMap((fk) => addForeignKey(fk, online.aside, fk.back)),
    {
      label: `rename ${online.aside} back to ${input.from} and drop ${input.to}`,
      lock: { tables: [table], mode: "ACCESS EXCLUSIVE" },
      statements: [
        `DROP TRIGGER IF EXISTS ${quoteIdent(reverse)} ON ${t}`,
        `DROP FUNCTION IF EXISTS ${reverseFn}()`,
        ...(sequence ? [`ALTER SEQUENCE ${index(sequence.final)} OWNED BY ${t}.${aside}`] : []),
        ...(sequence && sequence.final !== sequence.name ? [`ALTER SEQUENCE ${index(sequence.final)} RENAME TO ${quoteIdent(sequence.name)}`] : []),
        // Its indexes and foreign keys go with it.
        `ALTER TABLE ${t} DROP COLUMN ${to}`,
        `ALTER TABLE ${t} RENAME COLUMN ${aside} TO ${from}`,
        `COMMENT ON COLUMN ${t}.${from} IS ${column.comment === null ? "NULL" : quoteLiteral(column.comment)}`,
        ...(column.defaultExpression === null ? [] : [`ALTER TABLE ${t} ALTER COLUMN ${from} SET DEFAULT ${column.defaultExpression}`]),
        ...takeIndexes(copies, "back", "original"),
        ...keys.map((fk) => `ALTER TABLE ${t} RENAME CONSTRAINT ${quoteIdent(fk.back)} TO ${quoteIdent(fk.original)}`),
      ],
    },
  ];
  result.cleanup = [
    {
      label: `drop ${displayTable(table)}.${online.aside} (the old ${input.from}) and its trigger`,
      // Found by its trigger, not by name: a later step of the plan may have renamed the table.
      statements: [
        plpgsqlBlock(
          `FOR t IN SELECT tgrelid::regclass FROM pg_trigger WHERE tgrelid = ${facts.tableOid} AND tgname = ${quoteLiteral(reverse)} LOOP ` +
            `EXECUTE format('DROP TRIGGER %I ON %s', ${quoteLiteral(reverse)}, t); EXECUTE format('ALTER TABLE %s DROP COLUMN IF EXISTS %I', t, ${quoteLiteral(online.aside)}); END LOOP;`,
          "t regclass;",
        ),
        `DROP FUNCTION IF EXISTS ${reverseFn}()`,
      ],
    },
  ];
  result.notes.push(
    `${online.aside} (the old ${input.from}) stays, kept filled, until \`breakwater cleanup\`; a rollback after completion renames it back`,
    `the contract waits until the application no longer writes ${input.from}: deploy the version using ${input.to} before it (reads of ${input.from} cannot be seen, and fail from the contract on)`,
    `${input.to} is added last in the table's column order, as Prisma's own migration would add it`,
  );
  if (column.defaultExpression !== null) {
    result.notes.push(`during the window an INSERT setting ${input.to} to NULL explicitly gets ${input.from}'s default instead (${column.defaultExpression})`);
  }
  return result;
}

export const renameColumnOperation: Operation<Input, Facts, "renameColumn"> = {
  kind: "renameColumn",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `rename column ${displayTable(toTableRef(input.table))}.${input.from} → ${input.to}`,
  inspect,
  plan,
  onlineRefusal: () => null,
};
