// addEnumValue: ALTER TYPE … ADD VALUE, committed on its own in the expand phase, so later steps
// can use the value (using it in the same transaction fails with 55P04, "unsafe use of new value").
import { z } from "zod";
import { findEnum } from "../db/catalog.ts";
import { quoteLiteral, quoteQualified } from "../db/quote.ts";
import { identifier, preflightError } from "./common.ts";
import { emptyPlan, type Operation, type Proof, type SchemaAccepts } from "./types.ts";

const inputSchema = z
  .object({
    op: z.literal("addEnumValue"),
    schema: identifier.default("public"),
    enum: identifier,
    value: z.string().min(1).max(63),
    before: z.string().min(1).optional(),
    after: z.string().min(1).optional(),
  })
  .strict()
  .refine((i) => !(i.before && i.after), { message: "give `before` or `after`, not both" });

type _Accepts = Proof<SchemaAccepts<"addEnumValue", typeof inputSchema>>;
type Input = z.output<typeof inputSchema>;
interface Facts {
  alreadyPresent: boolean;
}

export const addEnumValueOperation: Operation<Input, Facts, "addEnumValue"> = {
  kind: "addEnumValue",
  schema: inputSchema as unknown as z.ZodType<Input>,
  describe: (input) => `add value ${input.value} to ${input.enum}`,
  async inspect(db, input) {
    const type = await findEnum(db, input.schema, input.enum);
    if (!type) throw preflightError(`Enum type ${input.schema}.${input.enum} does not exist.`);
    const neighbour = input.before ?? input.after;
    if (neighbour !== undefined && !type.values.includes(neighbour)) {
      throw preflightError(`Enum ${input.schema}.${input.enum} has no value ${JSON.stringify(neighbour)} to place ${input.value} next to.`);
    }
    return { alreadyPresent: type.values.includes(input.value) };
  },
  plan(input, facts) {
    const plan = emptyPlan();
    const type = quoteQualified(input.schema, input.enum);
    plan.summary.push(`${input.enum}: add ${input.value}${facts.alreadyPresent ? " (already present, nothing to do)" : ""}`);
    if (!facts.alreadyPresent) {
      const position =
        input.before ? ` BEFORE ${quoteLiteral(input.before)}`
        : input.after ? ` AFTER ${quoteLiteral(input.after)}`
        : "";
      plan.expand.push({
        label: `add ${input.value} to ${input.enum} (committed alone)`,
        statements: [`ALTER TYPE ${type} ADD VALUE IF NOT EXISTS ${quoteLiteral(input.value)}${position}`],
      });
      plan.notes.push(
        `${input.enum}.${input.value} stays in the type if the run is rolled back: PostgreSQL cannot remove an enum value without rebuilding the type (no row uses it after the rollback).`,
      );
    }
    return plan;
  },
  // Catalog only, committed on its own: nothing for the application to wait for.
  onlineRefusal: () => null,
};
