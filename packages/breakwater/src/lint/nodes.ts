// Reading libpg-query's parse tree: the table a statement names, ALTER TABLE's subcommands,
// column definitions and type names, and the lock each statement takes on its table.
import { quoteIdent, quoteQualified } from "../db/quote.ts";
import type { LintFile, LintStatement, RuleContext, TableLock } from "./types.ts";

export type Node = Record<string, unknown>;

export interface RangeVar {
  schemaname?: string;
  relname: string;
}

export interface TypeName {
  names: { String: { sval: string } }[];
  typmods?: { A_Const?: { ival?: { ival?: number } } }[];
  arrayBounds?: unknown[];
}

export interface ColumnDef {
  colname?: string;
  typeName?: TypeName;
  constraints?: { Constraint: Constraint }[];
  raw_default?: Node;
}

export interface Constraint {
  contype: string;
  conname?: string;
  skip_validation?: boolean;
  indexname?: string;
  raw_expr?: Node;
  generated_when?: string;
  generated_kind?: string;
}

export interface AlterTableCmd {
  subtype: string;
  name?: string;
  def?: { ColumnDef?: ColumnDef; Constraint?: Constraint } & Node;
}

/** The table as SQL, each part through the quoting helper: `"app"."User"` or `"User"`. */
export function sqlTable(table: RangeVar): string {
  return table.schemaname ? quoteQualified(table.schemaname, table.relname) : quoteIdent(table.relname);
}

/** The table as a reader writes it: `app.User` or `User`. */
export function tableName(table: RangeVar): string {
  return table.schemaname ? `${table.schemaname}.${table.relname}` : table.relname;
}

/** The table a statement acts on, when it names exactly one through `relation`. */
export function relationOf(statement: LintStatement): RangeVar | null {
  const relation = (statement.node as { relation?: RangeVar }).relation;
  return relation?.relname ? relation : null;
}

/** A statement of the run, with its file and the file's place in the run. */
export interface Placed {
  file: LintFile;
  at: number;
  statement: LintStatement;
}

const byTable = new WeakMap<LintFile[], Map<string, Placed[]>>();
const tableKey = (schema: string | undefined | null, name: string) => `${schema ?? ""}\u0000${name}`;

/** The run's statements that name `table` as their relation (ALTER TABLE, CREATE INDEX …), in run order; indexed once per run. */
export function statementsOn(files: LintFile[], table: RangeVar): Placed[] {
  let index = byTable.get(files);
  if (!index) {
    index = new Map();
    for (const [at, file] of files.entries())
      for (const statement of file.statements) {
        const relation = relationOf(statement);
        if (!relation) continue;
        const key = tableKey(relation.schemaname, relation.relname);
        index.set(key, [...(index.get(key) ?? []), { file, at, statement }]);
      }
    byTable.set(files, index);
  }
  return index.get(tableKey(table.schemaname, table.relname)) ?? [];
}

const indexTables = new WeakMap<LintFile[], Map<string, RangeVar>>();

/** The table the run's first CREATE INDEX of this name builds the index on; undefined when the run builds none. */
export function tableOfIndex(files: LintFile[], index: string): RangeVar | undefined {
  let tables = indexTables.get(files);
  if (!tables) {
    tables = new Map();
    for (const file of files)
      for (const statement of file.statements) {
        const node = statement.node as { idxname?: string; relation?: RangeVar };
        if (statement.kind === "IndexStmt" && node.idxname && node.relation && !tables.has(node.idxname)) tables.set(node.idxname, node.relation);
      }
    indexTables.set(files, tables);
  }
  return tables.get(index);
}

/** The table exists before this run (not created earlier in it): a busy table, as far as the linter knows. */
export function existing(table: RangeVar | null, statement: LintStatement, context: RuleContext): table is RangeVar {
  return table !== null && !context.createdEarlier(table.schemaname ?? null, table.relname, statement);
}

/** ALTER TABLE's subcommands (empty for any other statement). */
export function alterCommands(statement: LintStatement): AlterTableCmd[] {
  if (statement.kind !== "AlterTableStmt") return [];
  const node = statement.node as { cmds?: { AlterTableCmd: AlterTableCmd }[]; objtype?: string };
  if (node.objtype !== undefined && node.objtype !== "OBJECT_TABLE") return [];
  return (node.cmds ?? []).map((c) => c.AlterTableCmd);
}

/** Column types PostgreSQL fills from a sequence of their own. */
export const serialTypes = new Set(["serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"]);

/** The columns an ALTER TABLE adds to a table that existed before the run (none for a new table). */
export function addedColumns(statement: LintStatement, context: RuleContext): { table: RangeVar; column: ColumnDef }[] {
  const table = relationOf(statement);
  if (!existing(table, statement, context)) return [];
  return alterCommands(statement)
    .filter((cmd) => cmd.subtype === "AT_AddColumn")
    .map((cmd) => ({ table, column: cmd.def?.ColumnDef ?? {} }));
}

export function constraintsOf(column: ColumnDef): Constraint[] {
  return (column.constraints ?? []).map((c) => c.Constraint);
}

/** The type's last name, lower case: `int4`, `varchar`, `bigserial`, `json`. */
export function typeBaseName(type: TypeName | undefined): string {
  return type?.names.at(-1)?.String.sval.toLowerCase() ?? "";
}

export function typeModifiers(type: TypeName | undefined): number[] {
  return (type?.typmods ?? []).map((m) => m.A_Const?.ival?.ival ?? 0);
}

/** Every node of a subtree, depth first. */
export function* walk(node: unknown): Generator<Node> {
  if (Array.isArray(node)) for (const item of node) yield* walk(item);
  else if (node !== null && typeof node === "object") {
    yield node as Node;
    for (const value of Object.values(node)) yield* walk(value);
  }
}

/** Functions PostgreSQL marks volatile that defaults commonly use: each row gets its own value, so ADD COLUMN rewrites. */
const volatileFunctions = new Set([
  "gen_random_uuid",
  "uuid_generate_v1",
  "uuid_generate_v1mc",
  "uuid_generate_v4",
  "random",
  "clock_timestamp",
  "timeofday",
  "nextval",
  "txid_current",
  "setseed",
  "uuidv7",
  "uuidv4",
]);

/** The first volatile function called in an expression, if any (now() and CURRENT_TIMESTAMP are stable: evaluated once). */
export function volatileCall(expression: unknown): string | null {
  for (const node of walk(expression)) {
    const call = node.FuncCall as { funcname?: { String: { sval: string } }[] } | undefined;
    const name = call?.funcname?.at(-1)?.String.sval.toLowerCase();
    if (name && volatileFunctions.has(name)) return name;
  }
  return null;
}

const order: TableLock[] = ["ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"];

/** A lock's strength: 0 for ACCESS SHARE up to 7 for ACCESS EXCLUSIVE (a stronger lock conflicts with more). */
export function lockRank(lock: TableLock): number {
  return order.indexOf(lock);
}

/** LOCK TABLE's numeric mode (PostgreSQL's lockdefs.h: 1 = ACCESS SHARE … 8 = ACCESS EXCLUSIVE). */
export function lockByNumber(mode: number): TableLock {
  return order[Math.max(0, Math.min(order.length - 1, mode - 1))]!;
}

/** The stronger of two locks. */
export function stronger(a: TableLock | null, b: TableLock | null): TableLock | null {
  if (a === null) return b;
  if (b === null) return a;
  return order.indexOf(a) >= order.indexOf(b) ? a : b;
}

/** Blocks writes (INSERT/UPDATE/DELETE): SHARE and above. */
export function blocksWrites(lock: TableLock | null): boolean {
  return lock !== null && order.indexOf(lock) >= order.indexOf("SHARE");
}

/** ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (PostgreSQL's AlterTableGetLockLevel). */
const alterLocks: Record<string, TableLock> = {
  AT_ValidateConstraint: "SHARE UPDATE EXCLUSIVE",
  AT_SetStatistics: "SHARE UPDATE EXCLUSIVE",
  AT_ClusterOn: "SHARE UPDATE EXCLUSIVE",
  AT_DropCluster: "SHARE UPDATE EXCLUSIVE",
  AT_SetRelOptions: "SHARE UPDATE EXCLUSIVE",
  AT_ResetRelOptions: "SHARE UPDATE EXCLUSIVE",
  AT_AttachPartition: "SHARE UPDATE EXCLUSIVE",
  AT_DetachPartition: "SHARE UPDATE EXCLUSIVE",
  AT_EnableTrig: "SHARE ROW EXCLUSIVE",
  AT_DisableTrig: "SHARE ROW EXCLUSIVE",
  AT_EnableTrigAll: "SHARE ROW EXCLUSIVE",
  AT_DisableTrigAll: "SHARE ROW EXCLUSIVE",
  AT_EnableTrigUser: "SHARE ROW EXCLUSIVE",
  AT_DisableTrigUser: "SHARE ROW EXCLUSIVE",
};

/** The lock a statement takes on the table it names (null: none worth knowing, or no table named). */
export function statementLock(statement: LintStatement): { table: RangeVar; lock: TableLock } | null {
  const node = statement.node as Node;
  const table = relationOf(statement);
  switch (statement.kind) {
    case "AlterTableStmt": {
      let lock: TableLock | null = null;
      for (const cmd of alterCommands(statement)) {
        const foreignKey = cmd.subtype === "AT_AddConstraint" && cmd.def?.Constraint?.contype === "CONSTR_FOREIGN";
        lock = stronger(lock, foreignKey ? "SHARE ROW EXCLUSIVE" : (alterLocks[cmd.subtype] ?? "ACCESS EXCLUSIVE"));
      }
      return table && lock ? { table, lock } : null;
    }
    case "IndexStmt":
      return table ? { table, lock: node.concurrent ? "SHARE UPDATE EXCLUSIVE" : "SHARE" } : null;
    case "RenameStmt":
      return table ? { table, lock: "ACCESS EXCLUSIVE" } : null;
    case "ClusterStmt":
      return table ? { table, lock: "ACCESS EXCLUSIVE" } : null;
    case "ReindexStmt":
      return table && node.kind === "REINDEX_OBJECT_TABLE" ? { table, lock: hasOption(node, "concurrently") ? "SHARE UPDATE EXCLUSIVE" : "SHARE" } : null;
    case "CreateTrigStmt":
      return table ? { table, lock: "SHARE ROW EXCLUSIVE" } : null;
    case "TruncateStmt":
    case "LockStmt":
    case "VacuumStmt": {
      const first = firstTable(statement);
      if (!first) return null;
      if (statement.kind === "TruncateStmt") return { table: first, lock: "ACCESS EXCLUSIVE" };
      if (statement.kind === "LockStmt") return { table: first, lock: lockByNumber(Number(node.mode ?? 8)) };
      return hasOption(node, "full") ? { table: first, lock: "ACCESS EXCLUSIVE" } : null;
    }
    case "DropStmt": {
      const name = droppedNames(statement)[0];
      return node.removeType === "OBJECT_TABLE" && name ? { table: name, lock: "ACCESS EXCLUSIVE" } : null;
    }
    default:
      return null;
  }
}

/** TRUNCATE / LOCK / VACUUM's first table. */
export function firstTable(statement: LintStatement): RangeVar | null {
  return tablesOf(statement)[0] ?? null;
}

/** The tables TRUNCATE, LOCK TABLE and VACUUM name. */
export function tablesOf(statement: LintStatement): RangeVar[] {
  const node = statement.node as { relations?: { RangeVar: RangeVar }[]; rels?: { VacuumRelation: { relation?: RangeVar } }[] };
  if (node.relations) return node.relations.map((r) => r.RangeVar);
  return (node.rels ?? []).flatMap((r) => (r.VacuumRelation.relation ? [r.VacuumRelation.relation] : []));
}

/** DROP's objects as names (`schema.name` lists). */
export function droppedNames(statement: LintStatement): RangeVar[] {
  const node = statement.node as { objects?: { List?: { items: { String: { sval: string } }[] } }[] };
  return (node.objects ?? []).flatMap((o) => {
    const parts = o.List?.items.map((i) => i.String.sval) ?? [];
    const relname = parts.at(-1);
    return relname ? [{ relname, ...(parts.length > 1 ? { schemaname: parts.at(-2)! } : {}) }] : [];
  });
}

/** VACUUM / REINDEX options given as DefElems: `full`, `concurrently`. */
export function hasOption(node: Node, name: string): boolean {
  const options = (node.options ?? node.params ?? []) as { DefElem?: { defname?: string; arg?: unknown } }[];
  return options.some((o) => o.DefElem?.defname === name && !isFalse(o.DefElem.arg));
}

function isFalse(arg: unknown): boolean {
  const value = (arg as { Boolean?: { boolval?: boolean }; String?: { sval?: string } } | undefined) ?? undefined;
  if (!value) return false;
  if (value.Boolean) return value.Boolean.boolval !== true;
  return ["false", "off", "0"].includes(String(value.String?.sval ?? "").toLowerCase());
}
