// What the Prisma rules need to know about the schema before a statement: an enum's labels and a
// table's columns, replayed from the run's earlier statements (a migrations folder is the whole
// history) or, when the files never created them, read from the live catalog.
import type { LintStatement, RuleContext } from "../types.ts";

export type Node = Record<string, unknown>;

/** `[{ String: { sval } }, …]` → the strings. */
export function svals(list: unknown): string[] {
  return Array.isArray(list) ? list.map((item) => (item as { String?: { sval?: string } }).String?.sval ?? "") : [];
}

export interface QualifiedName {
  schema: string | null;
  name: string;
}

export function qualified(names: string[]): QualifiedName {
  return { schema: names.length > 1 ? names[names.length - 2]! : null, name: names[names.length - 1] ?? "" };
}

export const sameName = (a: QualifiedName, b: QualifiedName) => a.name === b.name && (a.schema === null || b.schema === null || a.schema === b.schema);

/** `"Role"` or `"app"."Role"`, as SQL would spell it (for messages only). */
export const displayName = (n: QualifiedName) => (n.schema === null ? `"${n.name}"` : `"${n.schema}"."${n.name}"`);

/** A column type's name without its schema: `pg_catalog.int4` → `int4`, `"Role"` → `Role`. */
export function typeName(node: unknown): QualifiedName | null {
  const names = svals((node as { names?: unknown } | undefined)?.names);
  if (names.length === 0) return null;
  const q = qualified(names);
  return q.schema === "pg_catalog" ? { schema: null, name: q.name } : q;
}

/** The statement's ALTER TABLE subcommands (`AT_AddColumn`, `AT_DropColumn`, …) with its table. */
export function alterTableCommands(statement: LintStatement): { table: QualifiedName; commands: Node[] } | null {
  if (statement.kind !== "AlterTableStmt") return null;
  const node = statement.node as { relation?: { schemaname?: string; relname?: string }; cmds?: { AlterTableCmd?: Node }[]; objtype?: string };
  if (node.objtype !== "OBJECT_TABLE" || !node.relation?.relname) return null;
  return {
    table: { schema: node.relation.schemaname ?? null, name: node.relation.relname },
    commands: (node.cmds ?? []).map((c) => c.AlterTableCmd).filter((c): c is Node => c !== undefined),
  };
}

/** Calls `visit` on every object node under `value`. */
export function walk(value: unknown, visit: (node: Node) => void): void {
  if (Array.isArray(value)) for (const item of value) walk(item, visit);
  else if (value !== null && typeof value === "object") {
    visit(value as Node);
    for (const child of Object.values(value)) walk(child, visit);
  }
}

/** Every statement of the run before `statement` (earlier files first). */
function* before(context: RuleContext, statement: LintStatement): Generator<LintStatement> {
  for (const file of context.files) {
    if (file === context.file) {
      for (const s of file.statements) {
        if (s.index >= statement.index) return;
        yield s;
      }
      return;
    }
    yield* file.statements;
  }
}

/**
 * The enum's labels just before `statement`: replayed from the run when an earlier statement
 * created it, else the live type's labels from the catalog, else null (unknown).
 */
export function enumLabelsBefore(context: RuleContext, statement: LintStatement, type: QualifiedName): string[] | null {
  const enums: { name: QualifiedName; labels: string[] }[] = [];
  const find = (n: QualifiedName) => enums.find((e) => sameName(e.name, n));
  for (const s of before(context, statement)) {
    const node = s.node as Node;
    if (s.kind === "CreateEnumStmt") {
      enums.push({ name: qualified(svals(node.typeName)), labels: svals(node.vals) });
    } else if (s.kind === "AlterEnumStmt") {
      const e = find(qualified(svals(node.typeName)));
      if (!e || typeof node.newVal !== "string") continue;
      if (typeof node.oldVal === "string") e.labels = e.labels.map((l) => (l === node.oldVal ? (node.newVal as string) : l));
      else if (!e.labels.includes(node.newVal)) e.labels.push(node.newVal);
    } else if (s.kind === "RenameStmt" && node.renameType === "OBJECT_TYPE" && typeof node.newname === "string") {
      const from = qualified(svals((node.object as { List?: { items?: unknown } } | undefined)?.List?.items));
      const e = find(from);
      if (e) e.name = { schema: e.name.schema, name: node.newname };
    } else if (s.kind === "DropStmt" && node.removeType === "OBJECT_TYPE") {
      for (const object of (node.objects as unknown[] | undefined) ?? []) {
        const n = typeName((object as { TypeName?: unknown }).TypeName);
        const at = n ? enums.findIndex((e) => sameName(e.name, n)) : -1;
        if (at >= 0) enums.splice(at, 1);
      }
    }
  }
  return find(type)?.labels ?? context.catalog?.enumLabels?.(type.schema, type.name) ?? null;
}

export interface Column {
  name: string;
  /** the type's name without schema or modifiers (`int4`, `text`, `Role`); the catalog's format_type otherwise */
  type: string;
}

function columnDef(node: unknown): Column | null {
  const def = (node as { ColumnDef?: { colname?: string; typeName?: unknown } } | undefined)?.ColumnDef;
  if (!def?.colname) return null;
  return { name: def.colname, type: typeName(def.typeName)?.name ?? "" };
}

/** The table's columns just before `statement`: replayed from the run when it created the table, else from the catalog, else null. */
export function columnsBefore(context: RuleContext, statement: LintStatement, table: QualifiedName): Column[] | null {
  const tables: { name: QualifiedName; columns: Column[] }[] = [];
  const find = (n: QualifiedName) => tables.find((t) => sameName(t.name, n));
  for (const s of before(context, statement)) {
    const node = s.node as Node;
    const relation = node.relation as { schemaname?: string; relname?: string } | undefined;
    const name: QualifiedName | null = relation?.relname ? { schema: relation.schemaname ?? null, name: relation.relname } : null;
    if (s.kind === "CreateStmt" && name) {
      const columns = ((node.tableElts as unknown[] | undefined) ?? []).map(columnDef).filter((c): c is Column => c !== null);
      tables.push({ name, columns });
    } else if (s.kind === "AlterTableStmt") {
      const alter = alterTableCommands(s);
      const t = alter && find(alter.table);
      if (!alter || !t) continue;
      for (const command of alter.commands) {
        if (command.subtype === "AT_AddColumn") {
          const c = columnDef(command.def);
          if (c) t.columns.push(c);
        } else if (command.subtype === "AT_DropColumn") t.columns = t.columns.filter((c) => c.name !== command.name);
        else if (command.subtype === "AT_AlterColumnType") {
          const type = typeName((command.def as { ColumnDef?: { typeName?: unknown } } | undefined)?.ColumnDef?.typeName);
          t.columns = t.columns.map((c) => (c.name === command.name && type ? { ...c, type: type.name } : c));
        }
      }
    } else if (s.kind === "RenameStmt" && name) {
      const t = find(name);
      if (!t || typeof node.newname !== "string") continue;
      if (node.renameType === "OBJECT_TABLE") t.name = { schema: t.name.schema, name: node.newname };
      else if (node.renameType === "OBJECT_COLUMN") t.columns = t.columns.map((c) => (c.name === node.subname ? { ...c, name: node.newname as string } : c));
    } else if (s.kind === "DropStmt" && node.removeType === "OBJECT_TABLE") {
      for (const object of (node.objects as unknown[] | undefined) ?? []) {
        const n = qualified(svals((object as { List?: { items?: unknown } }).List?.items));
        const at = tables.findIndex((t) => sameName(t.name, n));
        if (at >= 0) tables.splice(at, 1);
      }
    }
  }
  const replayed = find(table);
  if (replayed) return replayed.columns;
  const facts = context.catalog?.table(table.schema, table.name);
  return facts?.columns ? facts.columns.map((c) => ({ name: c.name, type: normalizeType(c.type) })) : null;
}

const aliases: Record<string, string> = {
  integer: "int4",
  int: "int4",
  smallint: "int2",
  bigint: "int8",
  "character varying": "varchar",
  character: "bpchar",
  char: "bpchar",
  "double precision": "float8",
  real: "float4",
  boolean: "bool",
  "timestamp without time zone": "timestamp",
  "timestamp with time zone": "timestamptz",
};

/** format_type's spelling (`character varying(20)`, `"Role"`) or the parser's (`varchar`) → one name. */
export function normalizeType(type: string): string {
  const bare = type
    .replace(/\(.*\)$/, "")
    .replace(/\[\]$/, "")
    .replace(/^.*\./, "")
    .replaceAll('"', "")
    .trim();
  return aliases[bare.toLowerCase()] ?? (/^[a-z0-9_ ]+$/.test(bare) ? bare.toLowerCase() : bare);
}

const families = [
  new Set(["text", "varchar", "bpchar", "citext"]),
  new Set(["int2", "int4", "int8", "numeric", "float4", "float8"]),
  new Set(["timestamp", "timestamptz", "date"]),
  new Set(["json", "jsonb"]),
];

/** Two column types a rename could move values between without loss of meaning. */
export function compatibleTypes(a: string, b: string): boolean {
  const x = normalizeType(a);
  const y = normalizeType(b);
  return x === y || families.some((f) => f.has(x) && f.has(y));
}
