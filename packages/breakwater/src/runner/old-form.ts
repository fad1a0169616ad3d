// Online contracts: before the commit point removes the old form of the data (a renamed enum
// value, a renamed column), the application must have stopped writing it, or its next write
// fails. The operation's trigger advances a sequence on every write of the old form (a sequence:
// no row lock, so writers never wait on each other); here the runner watches it for a quiet
// window and refuses, resumable, while it still moves.
import { setTimeout as sleep } from "node:timers/promises";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { markStepDone } from "./journal.ts";
import type { ExecutionContext, StepResult } from "./step.ts";

/** How long the old form must go unwritten before the contract goes ahead. */
export const quietWindowMs = 1000;

async function writesSoFar(ctx: ExecutionContext, sequence: string): Promise<number> {
  const row = await ctx.db.one<{ n: string }>(`SELECT (CASE WHEN is_called THEN last_value ELSE 0 END)::text AS n FROM ${sequence}`);
  return Number(row.n);
}

/** Watches the sequence for quietWindowMs; BW_OLD_FORM_WRITTEN (nothing changed, resumable) when it moved. */
export async function awaitOldFormQuiet(ctx: ExecutionContext, seq: number, watch: { sequence: string; what: string }, countingSince: Date): Promise<StepResult> {
  const before = await writesSoFar(ctx, watch.sequence);
  const started = performance.now();
  await sleep(quietWindowMs);
  const after = await writesSoFar(ctx, watch.sequence);
  const windowMs = Math.round(performance.now() - started);
  if (after > before) {
    throw new BreakwaterError(
      "BW_OLD_FORM_WRITTEN",
      `The application still writes ${watch.what}: ${after - before} write(s) in the last ${(windowMs / 1000).toFixed(1)} s, ${after} since ${countingSince.toISOString()} when the run began counting. The contract would make those writes fail, so it was not started.`,
      {
        hint: `Deploy the application that writes only the new form, then \`breakwater resume ${ctx.runId}\`; or \`breakwater rollback ${ctx.runId}\`. The application keeps working meanwhile.`,
        details: { writesInWindow: after - before, windowMs, writesSinceStart: after, since: countingSince.toISOString() },
      },
    );
  }
  const data = { writesSinceStart: after, quietMs: windowMs };
  await markStepDone(ctx.db, ctx.runId, seq, { data });
  return { rows: 0, lockMode: null, lockHoldMs: null, retries: 0, data };
}
