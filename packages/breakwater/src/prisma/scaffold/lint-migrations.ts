// `breakwater plan` lints the migrations it writes. A finding on a statement the plan itself makes
// safe (the contract's enum swap after the plan moved the rows, its SET NOT NULL after the plan
// filled the column, …) gets `-- breakwater-ignore <rule>: <reason>` before the statement, so
// deploy applies it; any other finding stays in the file and is returned for plan to print.
import { lint } from "../../lint/engine.ts";
import { allRules } from "../../lint/rules/index.ts";
import { readLintFile } from "../../lint/source.ts";
import type { Finding } from "../../lint/types.ts";
import { columnOf, type Datamodel, type DmmfModel } from "./datamodel.ts";
import type { Analysis } from "./schema-changes.ts";

/** A finding the plan answers: its rule, on a statement whose text holds every one of `names` (quoted identifiers). */
export interface PlannedSafety {
  rule: string;
  names: string[];
  reason: string;
}

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;
const tableOf = (model: DmmfModel) => model.dbName ?? model.name;

function column(models: DmmfModel[], model: string, field: string): { table: string; column: string } | null {
  const m = models.find((x) => x.name === model);
  const f = m?.fields.find((x) => x.name === field);
  return m && f ? { table: tableOf(m), column: columnOf(f) } : null;
}

/**
 * What a maintenance-mode plan makes safe in its contract migration: the rows it moves off an
 * enum value, the NULLs it fills, the columns it copies, the values it checks convert. Each reason
 * says what the plan did and what still holds (maintenance mode stays on until the contract).
 */
export function contractSafety(analysis: Analysis, source: Datamodel, target: Datamodel): PlannedSafety[] {
  const kept = "maintenance mode stays on until this migration has run";
  const safety: PlannedSafety[] = [];
  for (const move of analysis.enumMoves) {
    const type = source.enums.find((e) => e.name === move.enumName);
    const name = type?.dbName ?? move.enumName;
    safety.push({
      rule: "prisma-enum-swap",
      names: [quoted(`${name}_new`)],
      reason: `the plan moves every row off '${move.from}' to '${move.to}' first (its checks count none left), so the cast cannot fail; ${kept}`,
    });
  }
  for (const fill of analysis.fills) {
    const at = column(target.models, fill.model, fill.field);
    if (at)
      safety.push({
        rule: "set-not-null",
        names: [quoted(at.table), quoted(at.column)],
        reason: `the plan fills every NULL of ${quoted(at.table)}.${quoted(at.column)} first and ${kept}, so no writer adds one; reads of ${quoted(at.table)} wait for the scan`,
      });
    // A relation field made required: Prisma drops and re-adds its foreign key (ON DELETE changes).
    if (at)
      safety.push({
        rule: "foreign-key-not-valid",
        names: [quoted(at.table), quoted(at.column)],
        reason: `the plan fills every NULL of ${quoted(at.table)}.${quoted(at.column)} first and ${kept}: the writes this check holds back are stopped already`,
      });
  }
  for (const rename of analysis.columnRenames) {
    const from = column(source.models, rename.model, rename.from);
    const to = column(target.models, rename.model, rename.to);
    if (!from || !to) continue;
    safety.push({
      rule: "drop-column",
      names: [quoted(from.table), quoted(from.column)],
      reason: `the plan copies every value of ${quoted(from.column)} into ${quoted(to.column)} first (its checks compare them); ${kept}`,
    });
    safety.push({
      rule: "set-not-null",
      names: [quoted(to.table), quoted(to.column)],
      reason: `the plan copies every value of ${quoted(from.column)} into ${quoted(to.column)} first and ${kept}; reads of ${quoted(to.table)} wait for the scan`,
    });
  }
  for (const change of analysis.typeChanges) {
    const at = column(source.models, change.model, change.field);
    if (at)
      safety.push({
        rule: "alter-column-type",
        names: [quoted(at.table), quoted(at.column)],
        reason: `the plan checks that every value of ${quoted(at.table)}.${quoted(at.column)} converts to the new type and back unchanged; ${kept}; reads of ${quoted(at.table)} wait for the rewrite`,
      });
  }
  return safety;
}

/** What the intermediate migration does safely because of the plan: new enum values the intermediate schema reads. */
export function expandSafety(analysis: Analysis): PlannedSafety[] {
  return analysis.enumMoves.map((move) => ({
    rule: "enum-value-added-unreadable",
    names: [`'${move.to}'`],
    reason: `the application built from schema.intermediate.prisma reads '${move.to}': deploy it before the plan writes the value`,
  }));
}

/**
 * Lints `sql` as Prisma runs it, writes an ignore with its reason before each statement whose
 * finding `safety` answers, and returns the text with what is left to review.
 */
export async function lintWritten(sql: string, file: string, safety: PlannedSafety[]): Promise<{ sql: string; review: Finding[] }> {
  const findings = await lint([await readLintFile(file, sql, "prisma")], { rules: allRules });
  const inserts = new Map<number, string[]>();
  for (const finding of findings) {
    const answer = safety.find((s) => s.rule === finding.rule && s.names.every((n) => finding.statement.includes(n)));
    if (!answer) continue;
    const line = `-- breakwater-ignore ${finding.rule}: ${answer.reason}`;
    const at = inserts.get(finding.line) ?? [];
    if (!at.includes(line)) at.push(line);
    inserts.set(finding.line, at);
  }
  if (inserts.size === 0) return { sql, review: findings };
  const lines = sql.split("\n");
  const out: string[] = [];
  lines.forEach((text, i) => {
    const indent = /^\s*/.exec(text)![0];
    for (const ignore of inserts.get(i + 1) ?? []) out.push(indent + ignore);
    out.push(text);
  });
  const annotated = out.join("\n");
  return { sql: annotated, review: await lint([await readLintFile(file, annotated, "prisma")], { rules: allRules }) };
}

/** The text Prisma's engine wrote: the file without breakwater's ignore lines. */
export function withoutIgnores(sql: string): string {
  return sql
    .split("\n")
    .filter((line) => !/^\s*--\s*breakwater-ignore\s/.test(line))
    .join("\n");
}
