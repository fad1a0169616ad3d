// The plan `breakwater plan` writes: one backfill per column to transform, and checks a reviewer
// can read, as the source of a plan.ts.
import { quoteIdent, quoteLiteral, quoteTable } from "../../db/quote.ts";
import { columnOf, type Datamodel, type DmmfModel } from "./datamodel.ts";
import type { Analysis } from "./schema-changes.ts";

/** A type change the plan checks before the final migration: Prisma's new SQL type and the current one. */
export interface TypeCheck {
  model: string;
  field: string;
  column: string;
  newType: string;
  oldType: string;
}

export interface PlanStep {
  table: string | { schema: string; name: string };
  tableSql: string;
  set: Record<string, string>;
  where: string;
  checks: { name: string; sql: string; expect: number | "before" }[];
}

function tableRef(model: DmmfModel, dbSchema: string): { ref: string | { schema: string; name: string }; sql: string } {
  const name = model.dbName ?? model.name;
  const schema = model.schema ?? dbSchema;
  return { ref: schema === "public" ? name : { schema, name }, sql: schema === "public" ? quoteIdent(name) : quoteTable({ schema, name }) };
}

export function planSteps(analysis: Analysis, source: Datamodel, target: Datamodel, dbSchema: string): PlanStep[] {
  const steps: PlanStep[] = [];
  for (const move of analysis.enumMoves) {
    const before = source.enums.find((e) => e.name === move.enumName)!;
    const after = target.enums.find((e) => e.name === move.enumName)!;
    const fromDb = before.values.find((v) => v.name === move.from)?.dbName ?? move.from;
    const toDb = after.values.find((v) => v.name === move.to)?.dbName ?? move.to;
    for (const model of source.models) {
      for (const field of model.fields.filter((f) => f.kind === "enum" && f.type === move.enumName)) {
        if (!target.models.find((m) => m.name === model.name)) continue;
        const { ref, sql } = tableRef(model, dbSchema);
        const column = quoteIdent(columnOf(field));
        const label = `${model.name}.${field.name}`;
        if (field.isList) {
          steps.push({
            table: ref,
            tableSql: sql,
            set: { [columnOf(field)]: `array_replace(${column}, ${quoteLiteral(fromDb)}, ${quoteLiteral(toDb)})` },
            where: `${quoteLiteral(fromDb)} = ANY(${column})`,
            checks: [{ name: `${move.from} left (${label})`, sql: `SELECT count(*) FROM ${sql} WHERE ${quoteLiteral(fromDb)} = ANY(${column})`, expect: 0 }],
          });
        } else {
          steps.push({
            table: ref,
            tableSql: sql,
            set: { [columnOf(field)]: quoteLiteral(toDb) },
            where: `${column} = ${quoteLiteral(fromDb)}`,
            checks: [
              {
                name: `${move.from} before = ${move.to} after (${label})`,
                sql: `SELECT count(*) FROM ${sql} WHERE ${column} IN (${quoteLiteral(fromDb)}, ${quoteLiteral(toDb)})`,
                expect: "before",
              },
              { name: `${move.from} left (${label})`, sql: `SELECT count(*) FROM ${sql} WHERE ${column} = ${quoteLiteral(fromDb)}`, expect: 0 },
            ],
          });
        }
      }
    }
  }
  for (const rename of analysis.columnRenames) {
    const model = source.models.find((m) => m.name === rename.model)!;
    const newModel = target.models.find((m) => m.name === rename.model)!;
    const from = columnOf(model.fields.find((f) => f.name === rename.from)!);
    const to = columnOf(newModel.fields.find((f) => f.name === rename.to)!);
    const { ref, sql } = tableRef(model, dbSchema);
    steps.push({
      table: ref,
      tableSql: sql,
      set: { [to]: quoteIdent(from) },
      where: `${quoteIdent(to)} IS DISTINCT FROM ${quoteIdent(from)}`,
      checks: [
        {
          name: `${rename.model}.${rename.to} differs from ${rename.from}`,
          sql: `SELECT count(*) FROM ${sql} WHERE ${quoteIdent(to)} IS DISTINCT FROM ${quoteIdent(from)}`,
          expect: 0,
        },
      ],
    });
  }
  for (const fill of analysis.fills) {
    const model = target.models.find((m) => m.name === fill.model)!;
    const column = quoteIdent(columnOf(model.fields.find((f) => f.name === fill.field)!));
    const { ref, sql } = tableRef(source.models.find((m) => m.name === fill.model) ?? model, dbSchema);
    steps.push({
      table: ref,
      tableSql: sql,
      set: { [columnOf(model.fields.find((f) => f.name === fill.field)!)]: fill.fill },
      where: `${column} IS NULL`,
      checks: [{ name: `${fill.model}.${fill.field} NULL left`, sql: `SELECT count(*) FROM ${sql} WHERE ${column} IS NULL`, expect: 0 }],
    });
  }
  return steps;
}

/** A value that would fail, be truncated or be rounded by the new type is counted (or names itself in the error). */
export function typeCheckSpecs(typeChecks: TypeCheck[], source: Datamodel, dbSchema: string): PlanStep["checks"] {
  return typeChecks.map((c) => {
    const { sql } = tableRef(
      source.models.find((m) => m.name === c.model)!,
      dbSchema,
    );
    const col = quoteIdent(c.column);
    return {
      name: `${c.model}.${c.field} converts to ${c.newType} without loss`,
      sql: `SELECT count(*) FROM ${sql} WHERE ${col} IS NOT NULL AND ((${col})::${c.newType})::${c.oldType} IS DISTINCT FROM ${col}`,
      expect: 0,
    };
  });
}

export function planFileSource(id: string, description: string, steps: PlanStep[], importFrom: string, extraChecks: PlanStep["checks"] = []): string {
  const tables = [...new Map(steps.map((s) => [s.tableSql, s])).values()];
  const checks = [
    ...steps.flatMap((s) => s.checks),
    ...extraChecks,
    ...tables.map((s) => ({
      name: `rows of ${typeof s.table === "string" ? s.table : `${s.table.schema}.${s.table.name}`}`,
      sql: `SELECT count(*) FROM ${s.tableSql}`,
      expect: "before" as const,
    })),
  ];
  // Template literals read better for SQL full of double quotes.
  const lit = (v: unknown) => (typeof v === "string" && !/[`\\]|\$\{/.test(v) && v.includes('"') ? `\`${v}\`` : JSON.stringify(v));
  const body = [
    `// Scaffolded by \`breakwater plan\`: review it, then commit it with the two migration folders.`,
    `// Order: breakwater deploy (intermediate) → deploy the app built from schema.intermediate.prisma (it reads old and`,
    `// new values) → breakwater run <this file> → breakwater deploy (final) → deploy the app built from the new schema →`,
    `// breakwater maintenance off`,
    `import { ${steps.length > 0 ? "backfill, " : ""}defineMigration } from ${lit(importFrom)};`,
    ``,
    `export default defineMigration({`,
    `  id: ${lit(id)},`,
    `  description: ${lit(description)},`,
    `  // Maintenance stays on after the transform until the final migration is deployed, so the`,
    `  // old application cannot write old values back in between.`,
    `  keepMaintenance: true,`,
    `  steps: [`,
    ...steps.map(
      (s) =>
        `    backfill({ table: ${lit(s.table)}, set: { ${Object.entries(s.set)
          .map(([c, e]) => `${lit(c)}: ${lit(e)}`)
          .join(", ")} }, where: ${lit(s.where)} }),`,
    ),
    `  ],`,
    `  checks: [`,
    ...checks.map((c) => `    { name: ${lit(c.name)}, sql: ${lit(c.sql)}, expect: ${lit(c.expect)} },`),
    `  ],`,
    `});`,
    ``,
  ];
  return body.join("\n");
}

/** One step of an online plan: an operation and its input, written as `name({ … })`. */
export interface OnlineStep {
  operation: "renameEnumValue" | "renameColumn" | "setNotNull" | "changeColumnType" | "renameTable";
  input: Record<string, unknown>;
}

/**
 * The operations of an online plan, in an order that works: every step names the table as it is
 * when the plan starts, so table renames go last.
 */
export function onlineSteps(analysis: Analysis, source: Datamodel, target: Datamodel, dbSchema: string, typeChecks: TypeCheck[]): OnlineStep[] {
  const steps: OnlineStep[] = [];
  const schemaOf = dbSchema === "public" ? {} : { schema: dbSchema };
  for (const move of analysis.enumMoves) {
    const before = source.enums.find((e) => e.name === move.enumName)!;
    const after = target.enums.find((e) => e.name === move.enumName)!;
    const dbValue = (e: typeof before, name: string) => e.values.find((v) => v.name === name)?.dbName ?? name;
    steps.push({
      operation: "renameEnumValue",
      input: {
        ...schemaOf,
        enum: before.dbName ?? before.name,
        from: dbValue(before, move.from),
        to: dbValue(after, move.to),
        values: after.values.map((v) => v.dbName ?? v.name),
        // The application serving during the run is built from the intermediate schema: it reads both.
        appReadsNewValues: true,
      },
    });
  }
  for (const rename of analysis.columnRenames) {
    const model = source.models.find((m) => m.name === rename.model)!;
    const to = columnOf(target.models.find((m) => m.name === rename.model)!.fields.find((f) => f.name === rename.to)!);
    steps.push({ operation: "renameColumn", input: { table: tableRef(model, dbSchema).ref, from: columnOf(model.fields.find((f) => f.name === rename.from)!), to } });
  }
  for (const fill of analysis.fills) {
    const model = source.models.find((m) => m.name === fill.model) ?? target.models.find((m) => m.name === fill.model)!;
    const field = target.models.find((m) => m.name === fill.model)!.fields.find((f) => f.name === fill.field)!;
    steps.push({ operation: "setNotNull", input: { table: tableRef(model, dbSchema).ref, column: columnOf(field), fill: fill.fill } });
  }
  for (const change of typeChecks) {
    const model = source.models.find((m) => m.name === change.model)!;
    steps.push({ operation: "changeColumnType", input: { table: tableRef(model, dbSchema).ref, column: change.column, type: change.newType } });
  }
  for (const renamed of analysis.tableRenames) {
    const model = source.models.find((m) => m.name === renamed.oldModel)!;
    steps.push({ operation: "renameTable", input: { from: tableRef(model, dbSchema).ref, to: renamed.to } });
  }
  return steps;
}

/** The source of an online plan.ts. */
export function onlinePlanFileSource(id: string, description: string, steps: OnlineStep[], importFrom: string, stopBeforeContract: boolean): string {
  const lit = (v: unknown): string =>
    Array.isArray(v) ? `[${v.map(lit).join(", ")}]`
    : typeof v === "object" && v !== null ?
      `{ ${Object.entries(v)
        .map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${lit(x)}`)
        .join(", ")} }`
    : typeof v === "string" && !/[`\\]|\$\{/.test(v) && v.includes('"') ? `\`${v}\``
    : JSON.stringify(v);
  const names = [...new Set(steps.map((s) => s.operation))].sort();
  return [
    `// Scaffolded by \`breakwater plan --online\`: review it, then commit it with the migration folders.`,
    `// Online: no maintenance mode; the application keeps reading and writing during the whole run.`,
    `// Order: breakwater deploy (intermediate) → deploy the app built from schema.intermediate.prisma →`,
    ...(stopBeforeContract ?
      [
        `// breakwater run <this file> --stop-before contract → deploy the app built from the new schema (it uses the`,
        `// renamed column, which the run has added) → breakwater resume <run id> → breakwater deploy (records the final`,
        `// migration) → later, breakwater cleanup`,
      ]
    : [`// breakwater run <this file> → breakwater deploy (records the final migration) → deploy the app built from the new`, `// schema → later, breakwater cleanup`]),
    `import { ${[...names, "defineMigration"].join(", ")} } from ${lit(importFrom)};`,
    ``,
    `export default defineMigration({`,
    `  id: ${lit(id)},`,
    `  description: ${lit(description)},`,
    `  online: true,`,
    `  steps: [`,
    ...steps.map((s) => `    ${s.operation}(${lit(s.input)}),`),
    `  ],`,
    `});`,
    ``,
  ].join("\n");
}
