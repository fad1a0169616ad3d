// Prisma cannot tell a renamed field from a removed one and an added one: it emits DROP COLUMN +
// ADD COLUMN (a renamed model: DROP TABLE + CREATE TABLE), and every value is lost.
import { describeSize } from "../catalog.ts";
import type { LintStatement, Rule, RuleContext, RuleHit } from "../types.ts";
import {
  alterTableCommands,
  columnsBefore,
  compatibleTypes,
  displayName,
  qualified,
  sameName,
  svals,
  typeName,
  type Column,
  type Node,
  type QualifiedName,
} from "./prisma-history.ts";

/** Every column the file adds to `table` (in any statement). */
function addedColumns(context: RuleContext, table: QualifiedName): Column[] {
  const added: Column[] = [];
  for (const s of context.file.statements) {
    const alter = alterTableCommands(s);
    if (!alter || !sameName(alter.table, table)) continue;
    for (const command of alter.commands) {
      const def = (command.def as { ColumnDef?: { colname?: string; typeName?: unknown } } | undefined)?.ColumnDef;
      if (command.subtype === "AT_AddColumn" && def?.colname) added.push({ name: def.colname, type: typeName(def.typeName)?.name ?? "" });
    }
  }
  return added;
}

function columnRenames(statement: LintStatement, context: RuleContext): RuleHit[] {
  const alter = alterTableCommands(statement);
  if (!alter || context.createdEarlier(alter.table.schema, alter.table.name, statement)) return [];
  const dropped = alter.commands.filter((c) => c.subtype === "AT_DropColumn" && typeof c.name === "string").map((c) => c.name as string);
  if (dropped.length === 0) return [];
  const before = columnsBefore(context, statement, alter.table);
  const added = addedColumns(context, alter.table).filter((a) => !dropped.includes(a.name));
  const hits: RuleHit[] = [];
  for (const name of dropped) {
    const type = before?.find((c) => c.name === name)?.type ?? null;
    const candidates = added.filter((a) => type === null || a.type === "" || compatibleTypes(type, a.type));
    if (candidates.length === 0) continue;
    const size = describeSize(context, alter.table.schema, alter.table.name);
    const pair = candidates.length === 1 ? candidates[0]!.name : "new";
    hits.push({
      message: `Drops ${displayName(alter.table)}."${name}" and adds ${candidates.map((c) => `"${c.name}"${c.type ? ` (${c.type})` : ""}`).join(", ")} in the same file: if this is a rename, Prisma emitted it as DROP + ADD and every value of "${name}"${size ? ` (${size})` : ""} is lost.`,
      fix: `Confirm the rename: \`breakwater plan --rename ${alter.table.name}.${name}=${pair}\` (renameColumn; add \`--online\` for no maintenance window) keeps the values.`,
    });
  }
  return hits;
}

function tableRenames(statement: LintStatement, context: RuleContext): RuleHit[] {
  const node = statement.node as Node;
  if (statement.kind !== "DropStmt" || node.removeType !== "OBJECT_TABLE") return [];
  const hits: RuleHit[] = [];
  for (const object of (node.objects as unknown[] | undefined) ?? []) {
    const dropped = qualified(svals((object as { List?: { items?: unknown } }).List?.items));
    if (context.createdEarlier(dropped.schema, dropped.name, statement)) continue;
    const columns = columnsBefore(context, statement, dropped);
    if (!columns || columns.length === 0) continue;
    for (const s of context.file.statements) {
      const relation = (s.node as { relation?: { schemaname?: string; relname?: string } }).relation;
      if (s.kind !== "CreateStmt" || !relation?.relname || relation.relname === dropped.name) continue;
      const created = ((s.node as Node).tableElts as unknown[] | undefined)
        ?.map((e) => (e as { ColumnDef?: { colname?: string; typeName?: unknown } }).ColumnDef)
        .filter((d) => d?.colname)
        .map((d) => ({ name: d!.colname!, type: typeName(d!.typeName)?.name ?? "" }));
      const same = created && created.length === columns.length && columns.every((c) => created.some((n) => n.name === c.name && compatibleTypes(c.type, n.type)));
      if (!same) continue;
      const size = describeSize(context, dropped.schema, dropped.name);
      hits.push({
        message: `Drops ${displayName(dropped)} and creates "${relation.relname}" with the same columns in the same file: if the model was renamed, Prisma emitted it as DROP + CREATE and every row${size ? ` (${size})` : ""} is lost.`,
        fix: `Keep the table: \`breakwater plan --online\` turns the model rename into renameTable (ALTER TABLE … RENAME, the rows kept), or map the model to the old table with \`@@map("${dropped.name}")\`.`,
      });
    }
  }
  return hits;
}

export const prismaRenameAsDropAdd: Rule = {
  id: "prisma-rename-as-drop-add",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  why: "Prisma writes a renamed field as DROP COLUMN + ADD COLUMN (a renamed model as DROP TABLE + CREATE TABLE): the migration succeeds and every value is gone.",
  fix: "Confirm the rename: `breakwater plan --rename Model.old=new` (or `--online`) renames in place and keeps the values.",
  kinds: ["AlterTableStmt", "DropStmt"],
  check(statement: LintStatement, context: RuleContext) {
    return [...columnRenames(statement, context), ...tableRenames(statement, context)];
  },
};
