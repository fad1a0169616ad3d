// sql: raw SQL in the expand or contract phase, each statement list in one transaction, with
// optional `down` SQL used by rollback.
import { z } from "zod";
import { checkScript } from "../db/sql-fragments.ts";
import { emptyPlan, type Operation, type Proof, type SchemaAccepts } from "./types.ts";

const inputSchema = z
  .object({
    op: z.literal("sql"),
    up: z.string().min(1),
    down: z.string().min(1).optional(),
    phase: z.enum(["expand", "contract"]).default("expand"),
    label: z.string().optional(),
  })
  .strict();

type _Accepts = Proof<SchemaAccepts<"sql", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;

export const sqlOperation: Operation<Input, Record<string, never>, "sql"> = {
  kind: "sql",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => input.label ?? `sql (${input.phase})`,
  async inspect(_db, input) {
    const what = input.label ? `sql step "${input.label}"` : "sql step";
    await checkScript(input.up, what);
    if (input.down !== undefined) await checkScript(input.down, `${what} (down)`);
    return {};
  },
  plan(input) {
    const plan = emptyPlan();
    const label = input.label ?? `sql ${input.phase} step`;
    plan.summary.push(`${label}${input.down ? "" : " (no down SQL: not undone by rollback)"}`);
    const action = { label, statements: [input.up], commitPoint: input.phase === "contract" };
    const undo = input.down ? [{ label: `undo: ${label}`, statements: [input.down] }] : [];
    if (input.phase === "expand") {
      plan.expand.push(action);
      plan.rollback = undo;
    } else {
      plan.contract.push(action);
      plan.rollbackAfterContract = input.down ? undo : undefined;
    }
    if (!input.down) plan.notes.push(`"${label}" has no down SQL; a rollback leaves its effect in place.`);
    return plan;
  },
  // Runs as written: an online plan's SQL must itself be safe with the application writing.
  onlineRefusal: () => null,
};
