// Every operation by its `op` name. Adding an operation: one module and one line here.
import { addEnumValueOperation } from "./add-enum-value.ts";
import { backfillOperation } from "./backfill.ts";
import { renameEnumValueOperation } from "./rename-enum-value.ts";
import { sqlOperation } from "./sql.ts";
import type { Operation } from "./types.ts";

export const operations: Record<string, Operation<any, any>> = {
  [renameEnumValueOperation.kind]: renameEnumValueOperation,
  [addEnumValueOperation.kind]: addEnumValueOperation,
  [backfillOperation.kind]: backfillOperation,
  [sqlOperation.kind]: sqlOperation,
};
