// Prisma removes (or renames) an enum value by building a second type and moving every column to
// it: `CREATE TYPE "X_new"`, `ALTER COLUMN … TYPE "X_new" USING (…::text::"X_new")`, renames, `DROP
// TYPE "X_old"`. Each ALTER COLUMN TYPE rewrites its table under ACCESS EXCLUSIVE.
import { describeSize } from "../catalog.ts";
import type { LintStatement, Rule, RuleContext } from "../types.ts";
import { alterTableCommands, displayName, enumLabelsBefore, qualified, sameName, svals, typeName, type QualifiedName } from "./prisma-history.ts";

const quoteLabel = (label: string) => `'${label.replaceAll("'", "''")}'`;

/** The enum the swap replaces, when `target` is a type this file creates as an enum and swaps in. */
export function swappedEnum(context: RuleContext, target: QualifiedName): { old: QualifiedName; labels: string[] } | null {
  let created: string[] | null = null;
  let old: QualifiedName | null = null;
  for (const s of context.file.statements) {
    const node = s.node as Record<string, unknown>;
    if (s.kind === "CreateEnumStmt" && sameName(qualified(svals(node.typeName)), target)) created = svals(node.vals);
    // ALTER TYPE "X_new" RENAME TO "X": the type it takes the name of.
    if (s.kind === "RenameStmt" && node.renameType === "OBJECT_TYPE" && typeof node.newname === "string") {
      const from = qualified(svals((node.object as { List?: { items?: unknown } } | undefined)?.List?.items));
      if (sameName(from, target)) old = { schema: target.schema, name: node.newname };
    }
  }
  if (created === null) return null;
  old ??= target.name.endsWith("_new") ? { schema: target.schema, name: target.name.slice(0, -"_new".length) } : null;
  return old ? { old, labels: created } : null;
}

export const prismaEnumSwap: Rule = {
  id: "prisma-enum-swap",
  defaultSeverity: "error",
  lock: "ACCESS EXCLUSIVE",
  blocks: ["reads", "writes"],
  rewrites: true,
  why: "Prisma's enum swap moves every column to a new type: each table is rewritten under ACCESS EXCLUSIVE, and the cast fails (22P02) if a row still holds a removed value.",
  fix: "For a renamed value: `ALTER TYPE … RENAME VALUE 'old' TO 'new'` (catalog only), or `breakwater plan --rename Enum.OLD=NEW` (renameEnumValue); for a removed value, `breakwater plan` (or `--online`) moves the rows off it first.",
  kinds: ["AlterTableStmt"],
  check(statement: LintStatement, context: RuleContext) {
    const alter = alterTableCommands(statement);
    // A table created earlier in the run holds no rows yet: the swap costs nothing there.
    if (!alter || context.createdEarlier(alter.table.schema, alter.table.name, statement)) return [];
    const hits = [];
    for (const command of alter.commands) {
      if (command.subtype !== "AT_AlterColumnType") continue;
      const target = typeName((command.def as { ColumnDef?: { typeName?: unknown } } | undefined)?.ColumnDef?.typeName);
      const swap = target && swappedEnum(context, target);
      if (!swap) continue;
      const oldLabels = enumLabelsBefore(context, statement, swap.old);
      const removed = oldLabels?.filter((l) => !swap.labels.includes(l)) ?? null;
      const added = oldLabels ? swap.labels.filter((l) => !oldLabels.includes(l)) : [];
      const column = `"${alter.table.name}"."${String(command.name)}"`;
      const size = describeSize(context, alter.table.schema, alter.table.name);
      const rewrite = `rewrites ${displayName(alter.table)}${size ? ` (${size})` : ""} under ACCESS EXCLUSIVE, blocking reads and writes until it ends`;
      const fails =
        removed === null ? `and fails (22P02) if a row still holds a value the new type drops (lint with --database-url to name them)`
        : removed.length === 0 ? `(no value of ${displayName(swap.old)} is removed)`
        : `and fails (22P02) if a row still holds ${removed.map(quoteLabel).join(", ")}, removed from ${displayName(swap.old)}`;
      let fix: string | undefined;
      if (removed?.length === 1 && added.length === 1) {
        const [from, to] = [removed[0]!, added[0]!];
        fix = `If ${quoteLabel(from)} was renamed to ${quoteLabel(to)}: \`ALTER TYPE ${displayName(swap.old)} RENAME VALUE ${quoteLabel(from)} TO ${quoteLabel(to)}\` changes only the catalog; \`breakwater plan --rename ${swap.old.name}.${from}=${to}\` (renameEnumValue) does it with the application's values mapped too.`;
      } else if (removed && removed.length > 0) {
        fix = `Move the rows off ${removed.map(quoteLabel).join(", ")} before the swap: \`breakwater plan\` (a backfill and checks, or \`--online\` for no maintenance window); a renamed value is \`breakwater plan --rename ${swap.old.name}.OLD=NEW\`.`;
      }
      hits.push({ message: `Prisma's enum swap: changing ${column} to ${displayName(target)} ${rewrite}, ${fails}.`, ...(fix ? { fix } : {}) });
    }
    return hits;
  },
};
