// ALTER COLUMN TYPE rewrites the table and its indexes under ACCESS EXCLUSIVE, except for the
// binary-coercible changes PostgreSQL documents (ALTER TABLE, Notes): varchar widening, varchar →
// text, numeric precision increase with the same scale, dropping a length or precision limit.
// With the old type known, from the run (the CREATE TABLE or ADD COLUMN that made the column, an
// earlier TYPE change) or else the live catalog, the rule decides as PostgreSQL does; only when
// neither knows it does it warn that the change may only widen.
// Prisma's enum swap (ALTER COLUMN … TYPE "X_new") is prisma-enum-swap's finding, not this one's.
import { quoteIdent } from "../../db/quote.ts";
import { describeSize } from "../catalog.ts";
import { alterCommands, droppedNames, existing, relationOf, tableName, typeBaseName, typeModifiers, walk, type ColumnDef, type RangeVar, type TypeName } from "../nodes.ts";
import type { LintFile, LintStatement, Rule, RuleContext } from "../types.ts";
import { swappedEnum } from "./prisma-enum-swap.ts";
import { replayTo, typeName, type ReplayCursor } from "./prisma-history.ts";

const textLike = new Set(["varchar", "text", "bpchar"]);
const precisionTypes = new Set(["timestamp", "timestamptz", "time", "timetz", "interval"]);

/**
 * What PostgreSQL does to a column's table when its type changes (tablecmds.c,
 * ATColumnChangeRequiresRewrite, after the length casts' support functions drop the no-ops):
 * relabel: the catalog only; reindex: no rewrite, but the column's indexes are rebuilt (another
 * operator class); utc: timestamp ↔ timestamptz, no rewrite only when the session's TimeZone is
 * UTC (PostgreSQL 12 and later), the indexes rebuilt either way; rewrite: every row copied.
 */
type TypeChange = "relabel" | "reindex" | "utc" | "rewrite";

const changeOrder: TypeChange[] = ["relabel", "reindex", "utc", "rewrite"];

/** The casts pg_cast marks binary (castmethod 'b') between types a migration changes: the value is relabeled, not converted. */
const binaryCasts = new Map([
  ["varchar", ["text", "bpchar"]],
  ["text", ["varchar", "bpchar"]],
  ["bit", ["varbit"]],
  ["varbit", ["bit"]],
  ["cidr", ["inet"]],
  ["int4", ["oid"]],
  ["oid", ["int4"]],
  ["xml", ["text", "varchar", "bpchar"]],
]);

/** Types whose indexes share an operator class: a relabel between them keeps the indexes (text_ops, inet_ops). */
const sharedOperatorClass = [new Set(["text", "varchar"]), new Set(["cidr", "inet"])];

/** The name without its schema, as the parser spells it (built-in names are lower case, a quoted type keeps its case). */
const baseName = (type: TypeName) => type.names.at(-1)?.String.sval ?? "";
const schemaName = (type: TypeName) => (type.names.length > 1 ? type.names.at(-2)!.String.sval : null);
const isArray = (type: TypeName) => (type.arrayBounds?.length ?? 0) > 0;

/** One type, schema-qualified or not (`pg_catalog.varchar` and `varchar`, `app."Role"` and `"Role"`). */
function sameType(a: TypeName, b: TypeName): boolean {
  const [sa, sb] = [schemaName(a), schemaName(b)];
  return baseName(a) === baseName(b) && (sa === null || sb === null || sa === sb);
}

/** numeric(p) is numeric(p,0): one typmod. */
function typmodOf(base: string, modifiers: number[]): string {
  return base === "numeric" && modifiers.length === 1 ? `${modifiers[0]},0` : modifiers.join();
}

// INTERVAL_MASK bits (datetime.h), from the largest field to the smallest.
const intervalFields: [bit: number, name: string][] = [
  [2, "year"],
  [1, "month"],
  [3, "day"],
  [10, "hour"],
  [11, "minute"],
  [12, "second"],
];
const fullRange = 0x7fff;
const fullPrecision = 0xffff;

/** intervaltypmodleastfield: 0 for SECOND … 5 for YEAR (no typmod: SECOND). */
function leastField(modifiers: number[]): number {
  if (modifiers.length === 0) return 0;
  const present = [...intervalFields].reverse().findIndex(([bit]) => (modifiers[0]! & (1 << bit)) !== 0);
  return present < 0 ? 0 : present;
}

/**
 * Whether the length coercion to `to` is a no-op on a value whose typmod is `from` (`[]`: none,
 * -1), per the support function of the type's length cast (varchar_support, numeric_support,
 * TemporalSimplify, interval_support); a type without one (bpchar, bit) is coerced unless the typmod is unchanged.
 */
function lengthCoercionFree(base: string, from: number[], to: number[]): boolean {
  if (to.length === 0) return true;
  if (from.length > 0 && typmodOf(base, from) === typmodOf(base, to)) return true;
  if (base === "varchar" || base === "varbit") return from.length > 0 && from[0]! <= to[0]!;
  if (base === "numeric") return from.length > 0 && (from[1] ?? 0) === (to[1] ?? 0) && from[0]! <= to[0]!;
  // MAX_TIMESTAMP_PRECISION and MAX_TIME_PRECISION are 6: a precision of 6 keeps every value.
  if (base === "timestamp" || base === "timestamptz" || base === "time" || base === "timetz") return to[0]! >= 6 || (from.length > 0 && from[0]! <= to[0]!);
  if (base === "interval") {
    const precision = (m: number[]) => m[1] ?? fullPrecision;
    return leastField(to) <= leastField(from) && (leastField(from) > 0 || precision(to) >= 6 || precision(to) >= precision(from));
  }
  return false;
}

/** What changing a column of type `from` to `to` (an assignment cast, or an explicit one in USING) does to its table. */
function typeChange(from: TypeName, to: TypeName): TypeChange {
  if (isArray(from) !== isArray(to)) return "rewrite";
  const [a, b] = [baseName(from), baseName(to)];
  const [ma, mb] = [typeModifiers(from), typeModifiers(to)];
  // Between arrays only the dimensions (which PostgreSQL ignores) or a dropped element typmod come
  // free: any other element change is an ArrayCoerceExpr, which always rewrites.
  if (isArray(from)) return sameType(from, to) && (mb.length === 0 || typmodOf(a, ma) === typmodOf(b, mb)) ? "relabel" : "rewrite";
  if (sameType(from, to)) return lengthCoercionFree(b, ma, mb) ? "relabel" : "rewrite";
  const zone = (a === "timestamp" && b === "timestamptz") || (a === "timestamptz" && b === "timestamp");
  if (!zone && !binaryCasts.get(a)?.includes(b)) return "rewrite";
  // A relabeled or converted value has no typmod left (-1) for the length cast's support function.
  if (!lengthCoercionFree(b, [], mb)) return "rewrite";
  if (zone) return "utc";
  return sharedOperatorClass.some((family) => family.has(a) && family.has(b)) ? "relabel" : "reindex";
}

/** True when PostgreSQL changes the type without rewriting the table (it only relabels or checks nothing). */
export function binaryCoercible(from: TypeName, to: TypeName): boolean {
  const change = typeChange(from, to);
  return change === "relabel" || change === "reindex";
}

/** A target some old type reaches without a rewrite: without the old type, the rewrite is only likely. */
function maybeCoercibleTarget(to: TypeName): boolean {
  const b = typeBaseName(to);
  return textLike.has(b) || b === "numeric" || b === "varbit" || precisionTypes.has(b);
}

/** USING that only reads the column (or casts it) leaves PostgreSQL free to skip the rewrite. */
function trivialUsing(expression: unknown, column: string): boolean {
  if (!expression) return true;
  const refs = [...walk(expression)].filter((n) => n.ColumnRef);
  const calls = [...walk(expression)].filter((n) => n.FuncCall || n.A_Expr || n.CaseExpr || n.SubLink);
  const names = refs.map((n) => (n.ColumnRef as { fields: { String?: { sval: string } }[] }).fields.at(-1)?.String?.sval ?? "");
  return calls.length === 0 && names.every((n) => n === column);
}

/** USING's casts of the column, innermost first (`USING a::text::varchar(50)` → text, varchar(50)); null when it computes anything else. */
function usingCasts(expression: unknown, column: string): TypeName[] | null {
  const casts: TypeName[] = [];
  let node = expression as { TypeCast?: { arg?: unknown; typeName: TypeName }; ColumnRef?: { fields: { String?: { sval: string } }[] } } | undefined;
  while (node?.TypeCast) {
    casts.unshift(node.TypeCast.typeName);
    node = node.TypeCast.arg as typeof node;
  }
  return node?.ColumnRef?.fields.at(-1)?.String?.sval === column ? casts : null;
}

/** The change through USING's casts: each cast one step, the last to the column's new type; the indexes follow the first and last types. */
function changeThrough(old: TypeName, casts: TypeName[], target: TypeName): TypeChange {
  const types = [old, ...casts, target];
  const steps = types.slice(1).map((to, at) => typeChange(types[at]!, to));
  const worst = changeOrder[Math.max(...steps.map((step) => changeOrder.indexOf(step)))]!;
  if (worst !== "relabel" && worst !== "reindex") return worst;
  return typeChange(old, target) === "relabel" ? "relabel" : "reindex";
}

/** Zone names whose offset is fixed at 0, as PostgreSQL's tz database links them to UTC. */
const utcZone = /^(etc\/)?(utc|uct|gmt|universal|zulu)$/i;

/**
 * Whether the file set the session's TimeZone to UTC before `statement` (SET TimeZone, or SET
 * LOCAL inside the transaction that runs it); a RESET, another zone or a SET LOCAL's transaction
 * ending puts it back to unknown.
 */
function sessionInUtc(file: LintFile, statement: LintStatement): boolean {
  let session = false;
  let local: boolean | null = null;
  for (const s of file.statements) {
    if (s.index >= statement.index) break;
    if (s.kind === "TransactionStmt") local = null;
    const node = s.node as { kind?: string; name?: string; is_local?: boolean; args?: { A_Const?: { sval?: { sval?: string } } }[] };
    if (s.kind !== "VariableSetStmt" || (node.name !== "timezone" && node.kind !== "VAR_RESET_ALL")) continue;
    const zone = node.args?.[0]?.A_Const?.sval?.sval;
    const utc = node.kind === "VAR_SET_VALUE" && zone !== undefined && utcZone.test(zone);
    if (node.is_local) local = utc;
    else [session, local] = [utc, null];
  }
  return local ?? session;
}

const serialBase = new Map([
  ["serial", "int4"],
  ["serial4", "int4"],
  ["bigserial", "int8"],
  ["serial8", "int8"],
  ["smallserial", "int2"],
  ["serial2", "int2"],
]);

/** A column's type as it stands after its definition: `serial` is an int4 with a sequence. */
function definedType(column: ColumnDef): TypeName | null {
  const type = column.typeName;
  if (!type) return null;
  const serial = type.names.length === 1 ? serialBase.get(type.names[0]!.String.sval) : undefined;
  return serial ? { names: [{ String: { sval: serial } }] } : type;
}

interface TableTypes {
  schema: string | null;
  name: string;
  /** column → its type; null: the run changed it in a way not followed (unknown) */
  columns: Map<string, TypeName | null>;
}

const sameTable = (t: TableTypes, r: RangeVar) => t.name === r.relname && (t.schema === null || r.schemaname === undefined || t.schema === r.schemaname);

/** A table the run has not defined: its columns as the live catalog has them, or none known. */
function fromCatalog(catalog: RuleContext["catalog"], table: RangeVar): TableTypes {
  const facts = catalog?.table(table.schemaname ?? null, table.relname);
  return { schema: table.schemaname ?? null, name: table.relname, columns: new Map((facts?.columns ?? []).map((c) => [c.name, c.typeName ?? null])) };
}

/** The run's tables as its statements left them, up to the next statement to replay: its file's place in the run and its index in the file. */
interface Replay extends ReplayCursor {
  catalog: RuleContext["catalog"];
  tables: TableTypes[];
}

// One replay per run, moved forward as the engine checks later statements: one pass over the run
// in all, not one per ALTER COLUMN TYPE.
const replays = new WeakMap<LintFile[], Replay>();

function apply(replay: Replay, s: LintStatement): void {
  const find = (relation: RangeVar) => replay.tables.find((t) => sameTable(t, relation));
  // A table the run touches before defining it starts from the catalog's columns (a renamed table keeps them).
  const touch = (relation: RangeVar) => {
    const found = find(relation);
    if (found) return found;
    const added = fromCatalog(replay.catalog, relation);
    replay.tables.push(added);
    return added;
  };
  const node = s.node as { tableElts?: { ColumnDef?: ColumnDef }[]; renameType?: string; subname?: string; newname?: string; removeType?: string };
  const relation = relationOf(s);
  if (s.kind === "CreateStmt" && relation) {
    const defs = (node.tableElts ?? []).flatMap((e) => (e.ColumnDef?.colname ? [e.ColumnDef] : []));
    const columns = new Map(defs.map((def) => [def.colname!, definedType(def)]));
    replay.tables = [...replay.tables.filter((t) => !sameTable(t, relation)), { schema: relation.schemaname ?? null, name: relation.relname, columns }];
  } else if (s.kind === "AlterTableStmt" && relation) {
    for (const cmd of alterCommands(s)) {
      const def = cmd.def?.ColumnDef;
      if (cmd.subtype === "AT_AddColumn" && def?.colname) touch(relation).columns.set(def.colname, definedType(def));
      else if (cmd.subtype === "AT_AlterColumnType" && cmd.name) touch(relation).columns.set(cmd.name, def ? definedType(def) : null);
      else if (cmd.subtype === "AT_DropColumn" && cmd.name) touch(relation).columns.delete(cmd.name);
    }
  } else if (s.kind === "RenameStmt" && relation && node.newname) {
    if (node.renameType === "OBJECT_TABLE") touch(relation).name = node.newname;
    else if (node.renameType === "OBJECT_COLUMN" && node.subname) {
      const columns = touch(relation).columns;
      columns.set(node.newname, columns.get(node.subname) ?? null);
      columns.delete(node.subname);
    }
  } else if (s.kind === "DropStmt" && node.removeType === "OBJECT_TABLE") {
    for (const dropped of droppedNames(s)) replay.tables = replay.tables.filter((t) => !sameTable(t, dropped));
  }
}

/**
 * The column's type just before `statement`: replayed from the run's earlier statements (CREATE
 * TABLE, ADD COLUMN, TYPE changes, renames, drops; the run wins over the catalog), else the live
 * catalog's; null when neither knows it. Subcommands of the statement itself do not count:
 * PostgreSQL prepares every TYPE change of an ALTER TABLE before it adds a column.
 */
function oldType(context: RuleContext, statement: LintStatement, table: RangeVar, column: string): TypeName | null {
  const replay = replayTo(
    context,
    statement,
    replays,
    () => ({ catalog: context.catalog, file: 0, index: 0, tables: [] }),
    apply,
    (r) => r.catalog !== context.catalog,
  );
  const replayed = replay.tables.find((t) => sameTable(t, table));
  if (replayed) return replayed.columns.get(column) ?? null;
  return context.catalog?.table(table.schemaname ?? null, table.relname)?.columns?.find((c) => c.name === column)?.typeName ?? null;
}

// The fields of an interval typmod as SQL writes them: `day to second`.
function intervalText(modifiers: number[]): string {
  const fields = modifiers[0] === fullRange ? [] : intervalFields.filter(([bit]) => (modifiers[0]! & (1 << bit)) !== 0).map(([, name]) => name);
  const range = fields.length === 0 ? "" : ` ${fields[0]}${fields.length > 1 ? ` to ${fields.at(-1)}` : ""}`;
  return `interval${range}${modifiers[1] === undefined ? "" : `(${modifiers[1]})`}`;
}

/** A type as a message shows it: `varchar(20)`, `numeric(10,2)`, `"Role"[]`, `interval day to second(3)`. */
function typeText(type: TypeName): string {
  const names = type.names.map((n) => n.String.sval).filter((name, at, all) => !(at === 0 && all.length > 1 && name === "pg_catalog"));
  const name = names.map((n) => (/^[a-z_][a-z0-9_]*$/.test(n) ? n : quoteIdent(n))).join(".");
  const modifiers = typeModifiers(type);
  const text =
    name === "interval" && modifiers.length > 0 ? intervalText(modifiers)
    : modifiers.length > 0 ? `${name}(${modifiers.join(",")})`
    : name;
  return text + "[]".repeat(type.arrayBounds?.length ?? 0);
}

const fix =
  "Add a column of the new type, keep both in sync (trigger), backfill in batches, switch readers, drop the old one — breakwater operation changeColumnType (`breakwater plan`).";

export const alterColumnType: Rule = {
  id: "alter-column-type",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  rewrites: true,
  why: "Changing a column's type rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE: every query on it waits.",
  fix,
  kinds: ["AlterTableStmt"],
  check(statement, context) {
    const table = relationOf(statement);
    if (!existing(table, statement, context)) return [];
    return alterCommands(statement).flatMap((cmd) => {
      const def = cmd.def?.ColumnDef;
      if (cmd.subtype !== "AT_AlterColumnType" || !def?.typeName || !cmd.name) return [];
      const target = typeName(def.typeName);
      if (target && swappedEnum(context, target)) return [];
      const size = describeSize(context, table.schemaname ?? null, table.relname);
      const rewrites = `rewrites ${tableName(table)}${size ? ` (${size})` : ""} and its indexes under ACCESS EXCLUSIVE`;
      const column = `${tableName(table)}.${cmd.name}`;
      const old = oldType(context, statement, table, cmd.name);
      if (old) {
        const casts = def.raw_default ? usingCasts(def.raw_default, cmd.name) : [];
        let change = casts ? changeThrough(old, casts, def.typeName) : "rewrite";
        // PostgreSQL 12 converts timestamp ↔ timestamptz in place when the session's zone is UTC (TimestampTimestampTzRequiresRewrite).
        if (change === "utc" && context.serverVersion < 120000) change = "rewrite";
        if (change === "utc" && sessionInUtc(context.file, statement)) change = "reindex";
        const from = `Changing ${column} from ${typeText(old)} to ${typeText(def.typeName)}${casts ? "" : " with a USING that computes"}`;
        if (change === "relabel") return [];
        if (change === "reindex")
          return [
            {
              severity: "warning" as const,
              rewrites: false,
              message: `${from} does not rewrite ${tableName(table)}, but rebuilds every index on ${cmd.name} (another operator class) under ACCESS EXCLUSIVE.`,
            },
          ];
        if (change === "utc")
          return [
            {
              severity: "warning" as const,
              // The zone is the session's, which the file does not set: the warning does not claim the rewrite.
              rewrites: false,
              message: `${from} ${rewrites} unless the session's TimeZone is UTC (then only the indexes on ${cmd.name} are rebuilt); the TimeZone also decides how the values convert.`,
              fix: `If the values are meant as UTC, \`SET TimeZone = 'UTC'\` before it: PostgreSQL then changes the type in place, rebuilding only the column's indexes. Otherwise: ${fix}`,
            },
          ];
        return [{ message: `${from} ${rewrites}.` }];
      }
      const using = trivialUsing(def.raw_default, cmd.name);
      const base = typeBaseName(def.typeName);
      if (using && maybeCoercibleTarget(def.typeName))
        return [
          {
            severity: "warning" as const,
            // Without the old type the rewrite is only likely: the warning does not claim it.
            rewrites: false,
            message: `Changing ${column} to ${base} ${rewrites} unless it only widens (varchar(n) → varchar(m ≥ n) or text, numeric(p,s) → numeric(p' ≥ p,s), a larger precision): check the old type.`,
          },
        ];
      return [{ message: `Changing ${column} to ${base}${using ? "" : " with a computing USING"} ${rewrites}.` }];
    });
  },
};
