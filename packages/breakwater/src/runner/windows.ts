// How batches walk a table: keyset windows over its key (never OFFSET) or block ranges (a
// partitioned table's partitions one after the other). Transforms write through these windows;
// row checks read through them.
import { BreakwaterError, type Database } from "@breakwater/runtime/internal";
import type { KeyColumn } from "../db/catalog.ts";
import { displayTable, quoteIdent, quoteLiteral, quoteTable, type TableRef } from "../db/quote.ts";

const integerKey = /^(smallint|integer|bigint)$/;

/** One batch: the table it covers, the rows it covers (SQL + parameters), and the cursor after it. */
export interface Window {
  upper: string[];
  /** table rows the window spans (for progress) */
  rows: number;
  /** the quoted table the batch targets (a partition, for block ranges of a partitioned table) */
  target: string;
  range: { sql: string; params: unknown[] };
}

/** How one batch window is found: by key arithmetic (integer keys), by reading the next keys, or by block ranges. */
export interface Windowing {
  /** rows the batches will cover from `cursor` on (for progress and ETA) */
  remaining(db: Database, cursor: string[] | null): Promise<number>;
  /** the window after `cursor`; null when done */
  next(db: Database, cursor: string[] | null, size: number): Promise<Window | null>;
}

/** `a AND b AND …` of the conditions given (false and null left out); `true` when there are none. */
export function allOf(...conditions: (string | null | false)[]): string {
  return [...conditions.filter((e): e is string => typeof e === "string"), "true"].join(" AND ");
}

interface PhysicalPart {
  /** quoted, as regclass prints it */
  name: string;
  blocks: number;
  perBlock: number;
}

/** The table itself, or for a partitioned table (which has no blocks of its own) every leaf partition, in name order. */
async function physicalParts(db: Database, table: string): Promise<{ partitioned: boolean; parts: PhysicalPart[] }> {
  const { rows } = await db.query<{ name: string; blocks: number; per_block: number; partitioned: boolean }>(
    `SELECT c.oid::regclass::text AS name, (pg_relation_size(c.oid) / current_setting('block_size')::int)::int8 AS blocks,
            coalesce(nullif(c.reltuples, -1) / nullif(c.relpages, 0), 50)::float8 AS per_block,
            (SELECT relkind = 'p' FROM pg_class WHERE oid = $1::regclass) AS partitioned
       FROM pg_class c
      -- pg_partition_tree() returns no row for a table that is not partitioned
      WHERE c.oid IN (SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf UNION ALL SELECT $1::regclass WHERE NOT EXISTS (SELECT FROM pg_partition_tree($1::regclass)))
        AND c.relkind <> 'p'
      ORDER BY c.relname, c.oid`,
    [table],
  );
  return { partitioned: rows[0]?.partitioned ?? false, parts: rows.map((r) => ({ name: r.name, blocks: Number(r.blocks), perBlock: Math.max(1, r.per_block) })) };
}

/**
 * Physical order: block ranges read by a TID Range Scan (PostgreSQL ≥ 14), as fast as a
 * sequential scan. A partitioned table has no blocks of its own: its leaf partitions are walked
 * one after the other, the cursor naming the partition.
 */
export async function blockWindows(db: Database, tableRef: TableRef): Promise<Windowing> {
  const { partitioned, parts } = await physicalParts(db, quoteTable(tableRef));
  const position = (cursor: string[] | null) => {
    if (!cursor) return { part: 0, block: 0 };
    if (!partitioned) return { part: 0, block: Number(cursor[0]) };
    const part = parts.findIndex((p) => p.name === cursor[0]);
    if (part < 0)
      throw new BreakwaterError("BW_SQL_FAILED", `Partition ${cursor[0]} of ${displayTable(tableRef)}, where the transform stopped, is gone.`, {
        hint: "Partitions must not change during a run; roll the run back.",
      });
    return { part, block: Number(cursor[1]) };
  };
  return {
    remaining: async (_db, cursor) => {
      const at = position(cursor);
      return Math.round(parts.reduce((sum, p, i) => sum + (i < at.part ? 0 : (p.blocks - (i === at.part ? at.block : 0)) * p.perBlock), 0));
    },
    next: async (_tx, cursor, size) => {
      let { part, block } = position(cursor);
      while (part < parts.length && block >= parts[part]!.blocks) {
        part += 1;
        block = 0;
      }
      const current = parts[part];
      if (!current) return null;
      const to = Math.min(current.blocks, block + Math.max(1, Math.round(size / current.perBlock)));
      return {
        upper: partitioned ? [current.name, String(to)] : [String(to)],
        rows: Math.round((to - block) * current.perBlock),
        target: current.name,
        range: { sql: `ctid >= ('(' || $1 || ',0)')::tid AND ctid < ('(' || $2 || ',0)')::tid`, params: [String(block), String(to)] },
      };
    },
  };
}

export interface KeyWindowSpec {
  table: TableRef;
  key: KeyColumn[];
  /** only rows matching it count towards a window's size (null: every row) */
  filter: string | null;
  /** the windows stop at the last key the table had when they started (rows inserted later need no batch) */
  newRowsCovered: boolean;
}

/**
 * Keyset windows `key > cursor AND key <= upper`. Integer keys step through key ranges without
 * reading them first (sized by the rows per key, so sparse keys too); other keys read the next
 * `size` keys (matching the filter).
 */
export async function keyWindows(db: Database, spec: KeyWindowSpec): Promise<Windowing> {
  const table = quoteTable(spec.table);
  const keys = spec.key;
  const keyColumns = keys.map((k) => quoteIdent(k.name)).join(", ");
  const tuple = (sqls: string[]) => (sqls.length === 1 ? sqls[0]! : `(${sqls.join(", ")})`);
  const params = (offset: number) => keys.map((k, i) => `$${offset + i}::${k.type}`);
  const keyTuple = tuple(keys.map((k) => quoteIdent(k.name)));
  const keyRange = (cursor: string[] | null, upper: string[]) => ({
    sql: allOf(cursor !== null && `${keyTuple} > ${tuple(params(1))}`, `${keyTuple} <= ${tuple(params(cursor === null ? 1 : 1 + keys.length))}`),
    params: [...(cursor ?? []), ...upper],
  });

  if (keys.length === 1 && integerKey.test(keys[0]!.type) && !spec.filter) {
    const key = quoteIdent(keys[0]!.name);
    // min/max read the index ends; the row count comes from the statistics when there are any.
    const bounds = await db.one<{ lo: string | null; hi: string | null; n: number }>(
      `SELECT min(${key})::text AS lo, max(${key})::text AS hi,
              coalesce((SELECT nullif(reltuples, -1)::int8 FROM pg_class WHERE oid = $1::regclass), (SELECT count(*) FROM ${table}))::int8 AS n FROM ${table}`,
      [table],
    );
    let hi = bounds.hi === null ? null : BigInt(bounds.hi);
    const lo = bounds.lo === null ? 0n : BigInt(bounds.lo) - 1n;
    // Rows per key, so a key range of `size` rows can be sized on sparse keys too.
    const density = hi === null ? 1 : Math.min(1, bounds.n / Math.max(1, Number(hi - lo)));
    return {
      remaining: async (_db, cursor) => {
        if (hi === null) return 0;
        const from = cursor ? BigInt(cursor[0]!) : lo;
        return Math.max(0, Math.round(Number(hi - from) * density));
      },
      next: async (tx, cursor, size) => {
        const from = cursor ? BigInt(cursor[0]!) : lo;
        if (hi === null || from >= hi) {
          if (spec.newRowsCovered) return null;
          // Rows added beyond the end while the batches ran are covered too.
          const latest = await tx.one<{ hi: string | null }>(`SELECT max(${key})::text AS hi FROM ${table}`);
          if (latest.hi === null || BigInt(latest.hi) <= from) return null;
          hi = BigInt(latest.hi);
        }
        const width = BigInt(Math.max(1, Math.round(size / Math.max(density, 1e-6))));
        const upper = [(from + width < hi ? from + width : hi).toString()];
        return { upper, rows: Math.max(1, Math.round(Number(BigInt(upper[0]!) - from) * density)), target: table, range: keyRange(cursor, upper) };
      },
    };
  }

  const single = keys.length === 1 && /^(smallint|integer|bigint|text|character varying.*|numeric.*|date|timestamp.*)$/.test(keys[0]!.type);
  // The last key when the batches started, when rows inserted later need no batch.
  const last =
    spec.newRowsCovered ?
      ((
        await db.query<Record<string, string>>(
          `SELECT ${keys.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(", ")} FROM ${table} ORDER BY ${keys.map((k) => `${quoteIdent(k.name)} DESC`).join(", ")} LIMIT 1`,
        )
      ).rows[0] ?? null)
    : null;
  const ceiling = last === null ? null : `${keyTuple} <= ${tuple(keys.map((k, i) => `${quoteLiteral(last[`k${i}`]!)}::${k.type}`))}`;
  const source = (hasCursor: boolean) =>
    `SELECT ${keyColumns} FROM ${table} WHERE ${allOf(hasCursor && `${keyTuple} > ${tuple(params(2))}`, spec.filter && `(${spec.filter})`, ceiling)} ORDER BY ${keyColumns} LIMIT $1`;
  return {
    remaining: async (tx, cursor) =>
      (
        await tx.one<{ n: number }>(
          `SELECT count(*)::int8 AS n FROM ${table} WHERE ${allOf(cursor !== null && `${keyTuple} > ${tuple(params(1))}`, spec.filter && `(${spec.filter})`, ceiling)}`,
          cursor ?? [],
        )
      ).n,
    next: async (tx, cursor, size) => {
      const sql =
        single ?
          `SELECT count(*)::int8 AS window_size, max(${keyColumns})::text AS k0 FROM (${source(cursor !== null)}) AS w`
        : `SELECT window_size, ${keys.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(", ")}
             FROM (SELECT *, count(*) OVER () AS window_size FROM (${source(cursor !== null)}) AS w) AS x
            ORDER BY ${keys.map((k) => `${quoteIdent(k.name)} DESC`).join(", ")} LIMIT 1`;
      const row = (await tx.query<Record<string, string | null> & { window_size: number }>(sql, [size, ...(cursor ?? [])])).rows[0];
      if (!row || Number(row.window_size) === 0) return null;
      const upper = keys.map((_, i) => row[`k${i}`]!);
      return { upper, rows: Number(row.window_size), target: table, range: keyRange(cursor, upper) };
    },
  };
}
