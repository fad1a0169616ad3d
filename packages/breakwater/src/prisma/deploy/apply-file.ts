// One migration.sql as Prisma runs it (one simple query, so one implicit transaction), with
// lock_timeout retries; a file PostgreSQL refuses with 55P04 (it uses an enum value it adds) is run
// again in several transactions, committing only where a later statement needs it.
import { setTimeout as sleep } from "node:timers/promises";
import { type Database, sqlErrorInfo } from "@breakwater/runtime/internal";
import { isLockTimeout, type LockPolicy } from "../../db/locks.ts";
import { quoteIdent, quoteLiteral } from "../../db/quote.ts";
import { addedEnumValue, isEnumValueAddition, splitStatements, type Statement } from "../../db/sql-statements.ts";
import type { MigrateEvent } from "./deploy.ts";
import type { PendingMigration } from "./migrations.ts";

/** "2", "2 and 5", "2, 5 and 6" */
function listNumbers(numbers: number[]): string {
  return numbers.length === 1 ? String(numbers[0]) : `${numbers.slice(0, -1).join(", ")} and ${numbers.at(-1)}`;
}

/** How far a file run in several transactions got: its first statements committed, of `total`. */
export interface FileProgress {
  committed: Statement[];
  total: number;
}

/** What a file split into transactions left committed when a later statement failed. */
export function describeCommitted(progress: FileProgress): string {
  const n = progress.committed.length;
  const added = progress.committed
    .map(addedEnumValue)
    .filter((v) => v !== null)
    .map((v) => `${quoteLiteral(v.value)} to ${v.type.map(quoteIdent).join(".")}`);
  return `Committed before the failure, not rolled back: ${n === 1 ? "statement 1" : `statements 1–${n}`} of ${progress.total}${added.length ? `, which added ${added.join(", ")}` : ""}.`;
}

/**
 * Runs `attempt` under lock_timeout; when a lock is busy, again after a backoff, as long as
 * `retryable()` says nothing the attempt did can have been committed.
 */
async function withLockTimeout(
  db: Database,
  name: string,
  lock: LockPolicy,
  emit: (e: MigrateEvent) => void,
  retryable: () => Promise<boolean>,
  attempt: () => Promise<void>,
): Promise<void> {
  for (let n = 0; ; n++) {
    await db.query("SELECT set_config('lock_timeout', $1, false)", [`${lock.lockTimeoutMs}ms`]);
    try {
      await attempt();
      return;
    } catch (error) {
      if (!isLockTimeout(error) || n >= lock.retries || !(await retryable())) throw error;
      const wait = Math.min(lock.maxBackoffMs, lock.backoffMs * 2 ** n);
      emit({ type: "migration-note", name, message: `lock busy (lock_timeout ${lock.lockTimeoutMs} ms); retrying in ${wait} ms` });
      await sleep(wait);
    } finally {
      await db.query("SELECT set_config('lock_timeout', '0', false)").catch(() => undefined);
    }
  }
}

/**
 * One file as Prisma runs it: one simple query, so PostgreSQL's one implicit transaction. A lock
 * timeout is retried when the file has no transaction control of its own (then nothing of it was
 * committed). Only when PostgreSQL refuses the file with 55P04 (it uses an enum value it adds)
 * is it run again in several transactions (see applyInTransactions).
 */
export async function applyFile(db: Database, folder: PendingMigration, progress: FileProgress, lock: LockPolicy, emit: (e: MigrateEvent) => void): Promise<void> {
  let parsed: Promise<Statement[]> | undefined;
  const statements = () => (parsed ??= splitStatements(folder.sql, `${folder.name}/migration.sql`));
  const ownTransactions = async () => (await statements().catch(() => null))?.some((s) => s.kind === "TransactionStmt") ?? true;
  try {
    await withLockTimeout(
      db,
      folder.name,
      lock,
      emit,
      async () => !(await ownTransactions()),
      () => db.query(folder.sql).then(() => undefined),
    );
  } catch (error) {
    if (sqlErrorInfo(error).sqlstate !== "55P04" || (await ownTransactions())) throw error;
    const list = await statements();
    if (!list.some(isEnumValueAddition)) throw error;
    progress.total = list.length;
    emit({
      type: "migration-note",
      name: folder.name,
      message:
        "PostgreSQL refused it as one transaction (55P04: it uses an enum value it adds); running its statements in order, committing after each ALTER TYPE … ADD VALUE a later statement uses",
    });
    const commits = await applyInTransactions(db, folder.name, list, progress, lock, emit);
    emit({
      type: "migration-note",
      name: folder.name,
      message: `applied in ${commits.length + 1} transactions, committed after statement${commits.length > 1 ? "s" : ""} ${listNumbers(commits.map((i) => i + 1))}`,
    });
  }
}

/**
 * The file's statements in order, in transactions that end after an ADD VALUE only where a later
 * statement needs it committed. PostgreSQL finds those places: when a statement fails with 55P04,
 * its transaction is rolled back and runs again ending after the last ADD VALUE before it.
 * Statements already committed never run again (lock timeouts included). Returns the indexes of
 * the statements committed after.
 */
async function applyInTransactions(
  db: Database,
  name: string,
  statements: Statement[],
  progress: FileProgress,
  lock: LockPolicy,
  emit: (e: MigrateEvent) => void,
): Promise<number[]> {
  const commitAfter = new Set<number>();
  for (;;) {
    let failedAt = -1;
    try {
      await withLockTimeout(
        db,
        name,
        lock,
        emit,
        async () => true,
        async () => {
          await db.query("BEGIN");
          try {
            for (let i = progress.committed.length; i < statements.length; i++) {
              failedAt = i;
              await db.query(statements[i]!.text);
              if (commitAfter.has(i) && i < statements.length - 1) {
                await db.query("COMMIT");
                progress.committed.push(...statements.slice(progress.committed.length, i + 1));
                await db.query("BEGIN");
              }
            }
            await db.query("COMMIT");
          } catch (error) {
            await db.query("ROLLBACK").catch(() => undefined);
            throw error;
          }
        },
      );
      return [...commitAfter].sort((a, b) => a - b);
    } catch (error) {
      if (sqlErrorInfo(error).sqlstate !== "55P04") throw error;
      const before = statements.slice(progress.committed.length, failedAt).findLastIndex(isEnumValueAddition);
      if (before < 0) throw error;
      commitAfter.add(progress.committed.length + before);
    }
  }
}
