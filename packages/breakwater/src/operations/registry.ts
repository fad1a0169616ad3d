// Every operation by its `op` name. Adding an operation: one module, its input type in
// @breakwater/runtime's StepInputs, and one line here (the compiler asks for each).
import type { StepInputs } from "@breakwater/runtime";
import { addEnumValueOperation } from "./add-enum-value.ts";
import { backfillOperation } from "./backfill.ts";
import { createIndexOperation } from "./create-index.ts";
import { addForeignKeyOperation } from "./add-foreign-key.ts";
import { setNotNullOperation } from "./set-not-null.ts";
import { renameEnumValueOperation } from "./rename-enum-value.ts";
import { sqlOperation } from "./sql.ts";
import { renameColumnOperation } from "./rename-column.ts";
import { renameTableOperation } from "./rename-table.ts";
import { changeColumnTypeOperation } from "./change-column-type.ts";
import { addColumnOperation } from "./add-column.ts";
import type { Operation } from "./types.ts";

export const operations: { readonly [Kind in keyof StepInputs]: Operation<any, any, Kind> } = {
  renameEnumValue: renameEnumValueOperation,
  addEnumValue: addEnumValueOperation,
  backfill: backfillOperation,
  createIndex: createIndexOperation,
  addForeignKey: addForeignKeyOperation,
  setNotNull: setNotNullOperation,
  sql: sqlOperation,
  renameColumn: renameColumnOperation,
  renameTable: renameTableOperation,
  changeColumnType: changeColumnTypeOperation,
  addColumn: addColumnOperation,
};

/** The operation named by a plan step's `op`, or undefined for an unknown name. */
export function operationFor(kind: string): Operation<any, any> | undefined {
  return Object.hasOwn(operations, kind) ? operations[kind as keyof StepInputs] : undefined;
}
