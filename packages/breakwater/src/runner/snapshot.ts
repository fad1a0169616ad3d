// Snapshots: exactly the rows and columns a transform will change, copied into the breakwater
// schema before it, and put back by a rollback before the contract.
import { columnType } from "../db/catalog.ts";
import { setLocalLockTimeout } from "../db/locks.ts";
import { quoteIdent, quoteTable } from "../db/quote.ts";
import type { SnapshotSpec } from "../operations/types.ts";
import { scalar } from "./checks.ts";
import { markStepDone } from "./journal.ts";
import { withStepLockRetries, type ExecutionContext, type StepResult } from "./step.ts";

/** Copies exactly the rows and columns a transform will change into the breakwater schema. */
export async function executeSnapshot(ctx: ExecutionContext, seq: number, snapshot: SnapshotSpec): Promise<StepResult> {
  const { db } = ctx;
  const valueColumns = snapshot.columns.filter((c) => !snapshot.key.some((k) => k.name === c));
  const selectList = [
    ...snapshot.key.map((k) => quoteIdent(k.name)),
    ...valueColumns.map((c) => (snapshot.asText ? `${quoteIdent(c)}::text AS ${quoteIdent(c)}` : quoteIdent(c))),
  ].join(", ");
  const { value, retries } = await withStepLockRetries(ctx, "snapshot", [snapshot.table], async () => {
    let rows = 0;
    const start = performance.now();
    await db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, ctx.lock.lockTimeoutMs);
      await tx.query(`DROP TABLE IF EXISTS ${quoteTable(snapshot.into)}`);
      rows = (
        await tx.query(`CREATE TABLE ${quoteTable(snapshot.into)} AS SELECT ${selectList} FROM ${quoteTable(snapshot.table)}${snapshot.where ? ` WHERE ${snapshot.where}` : ""}`)
      ).rowCount;
      await tx.query(`ALTER TABLE ${quoteTable(snapshot.into)} ADD PRIMARY KEY (${snapshot.key.map((k) => quoteIdent(k.name)).join(", ")})`);
      await markStepDone(tx, ctx.runId, seq, { rows, lockMode: "ACCESS SHARE", data: { table: `${snapshot.into.schema}.${snapshot.into.name}` } });
    });
    return { rows, ms: performance.now() - start };
  });
  return { rows: value.rows, lockMode: "ACCESS SHARE", lockHoldMs: value.ms, retries, data: null };
}

/** Puts the snapshot's values back into the table (rollback before the contract). */
export async function restoreSnapshot(ctx: ExecutionContext, snapshot: SnapshotSpec): Promise<number> {
  const { db } = ctx;
  const exists = await scalar(db, `SELECT to_regclass('${quoteTable(snapshot.into).replaceAll("'", "''")}') IS NOT NULL`);
  if (exists !== true) return 0;
  const sets: string[] = [];
  for (const c of snapshot.columns.filter((c) => !snapshot.key.some((k) => k.name === c))) {
    const type = snapshot.asText ? await columnType(db, snapshot.table, c) : null;
    sets.push(`${quoteIdent(c)} = s.${quoteIdent(c)}${type ? `::${type}` : ""}`);
  }
  const match = snapshot.key.map((k) => `t.${quoteIdent(k.name)} = s.${quoteIdent(k.name)}`).join(" AND ");
  const { value } = await withStepLockRetries(ctx, "restore snapshot", [snapshot.table], async () =>
    db.transaction(async (tx) => {
      await setLocalLockTimeout(tx, ctx.lock.lockTimeoutMs);
      return (await tx.query(`UPDATE ${quoteTable(snapshot.table)} AS t SET ${sets.join(", ")} FROM ${quoteTable(snapshot.into)} AS s WHERE ${match}`)).rowCount;
    }),
  );
  return value;
}
