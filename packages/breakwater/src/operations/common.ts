// Pieces shared by operations: input schemas for names, key expressions, fact lookups.
import { z } from "zod";
import type { TableRef } from "../db/quote.ts";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";

export const identifier = z
  .string()
  .min(1, "must not be empty")
  .max(63, "PostgreSQL names are at most 63 bytes")
  .refine((s) => !s.includes("\u0000"), "must not contain NUL");

/** A table as `"Name"` (schema public) or `{ schema, name }`; a dot in a string is part of the name. */
export const tableInput = z.union([identifier, z.object({ schema: identifier, name: identifier }).strict()]);
export type TableInput = z.infer<typeof tableInput>;

export function toTableRef(input: TableInput): TableRef {
  return typeof input === "string" ? { schema: "public", name: input } : input;
}

export function preflightError(message: string, hint?: string): BreakwaterError {
  return new BreakwaterError("BW_PREFLIGHT_FAILED", message, hint === undefined ? {} : { hint });
}

/** Bytes, not characters: PostgreSQL truncates names longer than 63 bytes. */
export function fitsName(name: string): boolean {
  return Buffer.byteLength(name, "utf8") <= 63;
}
