// The restore's write fence: from before the bad-state dump until the restored data is verified,
// the database itself refuses writes, so no write can commit after the bad state was dumped and
// be lost to `pg_restore --clean`. `ALTER DATABASE … SET default_transaction_read_only = on`
// reaches every new session and lives in the catalog (a killed restore leaves the database
// protected, not open; per-table triggers would vanish with the tables pg_restore drops); the
// sessions connected before it are ended, so none keeps writing under its old setting; and
// breakwater's own sessions opt out per connection. A database owner may do all of it, no
// superuser needed. breakwater.restore_fence records the fence (its schema is never dumped or
// restored), so a later restore or `restore --lift-fence` knows it is breakwater's.
import { BreakwaterError, Database } from "@breakwater/runtime/internal";
import { quoteIdent, quoteLiteral } from "../db/quote.ts";

/** Startup options of breakwater's own sessions: they write while the database refuses writes. */
export const writableSessionOptions = "-c default_transaction_read_only=off";

/** Advisory lock held by the restore's session: one restore (or lift) per database at a time. */
const RESTORE_LOCK_KEY = 0x627772657374n;

export interface RestoreFence {
  backup: string;
  badStateBackup: string | null;
  since: string;
  /** the database's own default_transaction_read_only before the fence (null: not set) */
  previousSetting: string | null;
}

export interface EndedSessions {
  ended: number;
  /** sessions that could not be ended, described for a message */
  remaining: string[];
}

const setupSql = `
  CREATE SCHEMA IF NOT EXISTS breakwater;
  CREATE TABLE IF NOT EXISTS breakwater.restore_fence (
    id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    backup text NOT NULL,
    bad_state_backup text,
    previous_setting text,
    since timestamptz NOT NULL DEFAULT clock_timestamp()
  );`;

/** The URL with startup options that let its sessions write while the fence is up. */
export function writableUrl(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("options", [parsed.searchParams.get("options"), writableSessionOptions].filter(Boolean).join(" "));
  return parsed.toString();
}

/** A session of breakwater's own that can write under the fence, holding the restore lock. */
export async function openRestoreSession(url: string, applicationName: string): Promise<Database> {
  const db = await Database.connect(writableUrl(url), { applicationName });
  if (!(await db.tryAdvisoryLock(RESTORE_LOCK_KEY))) {
    await db.close();
    throw new BreakwaterError("BW_LOCKED", "Another `breakwater restore` is running on this database.", {
      hint: "Wait for it to finish; if it was killed, its session ends with it and you can run the command again.",
    });
  }
  return db;
}

async function currentDatabase(db: Database): Promise<{ oid: number; name: string }> {
  return db.one<{ oid: number; name: string }>("SELECT oid::int8 AS oid, datname AS name FROM pg_database WHERE datname = current_database()");
}

/** The fence breakwater left on the session's database, if any. */
export async function readRestoreFence(db: Database): Promise<RestoreFence | null> {
  const exists = await db.one<{ ok: boolean }>("SELECT to_regclass('breakwater.restore_fence') IS NOT NULL AS ok");
  if (!exists.ok) return null;
  const { rows } = await db.query<RestoreFence>(
    `SELECT backup, bad_state_backup AS "badStateBackup", since::text AS since, previous_setting AS "previousSetting" FROM breakwater.restore_fence WHERE id = 1`,
  );
  return rows[0] ?? null;
}

const truthy = /^(on|t|tr|tru|true|y|ye|yes|1)$/i;

/** Refuses what would let a write through the fence: role settings that override it, prepared transactions. */
async function checkNothingBypasses(db: Database, database: { oid: number; name: string }): Promise<void> {
  const { rows: overrides } = await db.query<{ role: string; value: string }>(
    `SELECT r.rolname AS role, split_part(c, '=', 2) AS value
       FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) AS c
      WHERE s.setdatabase IN (0, $1) AND c LIKE 'default\\_transaction\\_read\\_only=%'`,
    [database.oid],
  );
  // A role's own setting takes precedence over the database's (ALTER ROLE … SET).
  const bypassing = overrides.filter((o) => !truthy.test(o.value.trim()));
  if (bypassing.length > 0) {
    const roles = [...new Set(bypassing.map((o) => o.role))];
    throw new BreakwaterError(
      "BW_RESTORE_FAILED",
      `The role(s) ${roles.join(", ")} set default_transaction_read_only = off for themselves, which would let their sessions write during the restore; nothing was changed.`,
      {
        hint: `Remove the setting first: ${roles.map((r) => `ALTER ROLE ${quoteIdent(r)} RESET default_transaction_read_only;`).join(" ")}`,
      },
    );
  }
  const prepared = await db.one<{ n: number }>("SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE database = current_database()");
  if (prepared.n > 0) {
    throw new BreakwaterError("BW_RESTORE_FAILED", `${prepared.n} prepared transaction(s) of ${database.name} could still commit during the restore; nothing was changed.`, {
      hint: "COMMIT PREPARED or ROLLBACK PREPARED them (SELECT gid FROM pg_prepared_xacts), then restore again.",
    });
  }
}

/**
 * Ends every other session of the database that started before `cutoff` (and every one still
 * starting): after it, each remaining session has read the database's settings as they are now.
 */
async function endSessionsStartedBefore(db: Database, databaseOid: number, cutoff: string): Promise<EndedSessions> {
  // A starting backend holds a lock on its database from before it reads pg_db_role_setting
  // until after it shows in pg_stat_activity (InitPostgres), so the two views together miss none.
  const scan = () =>
    db.query<{ pid: number; description: string }>(
      `SELECT a.pid, format('pid %s (%s)', a.pid, concat_ws(', ', 'user ' || a.usename, 'application ' || quote_literal(nullif(a.application_name, '')), a.backend_type)) AS description
         FROM pg_stat_activity a
        WHERE a.datid = $1 AND a.pid <> pg_backend_pid()
          -- Hidden from roles without pg_read_all_stats, backend_type and backend_start read NULL;
          -- processes without a user (autovacuum workers …) never write the application's data.
          AND a.usesysid IS NOT NULL
          AND (a.backend_type IS NULL OR a.backend_type NOT IN ('autovacuum worker', 'parallel worker', 'walsender'))
          AND (a.backend_start IS NULL OR a.backend_start < $2::timestamptz)
       UNION
       SELECT l.pid, format('pid %s (starting)', l.pid)
         FROM pg_locks l
        WHERE l.locktype = 'object' AND l.classid = 'pg_database'::regclass AND l.objid = $1 AND l.granted
          AND l.pid IS NOT NULL AND l.pid <> pg_backend_pid()
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.pid)`,
      [databaseOid, cutoff],
    );
  const reasons = new Map<number, string>();
  let ended = 0;
  for (let pass = 0; pass < 3; pass++) {
    const { rows } = await scan();
    if (rows.length === 0) return { ended, remaining: [] };
    for (const session of rows) {
      try {
        // Waits until the backend has exited: whatever it committed is then visible to new snapshots.
        const result = await db.one<{ ok: boolean }>("SELECT pg_terminate_backend($1, 5000) AS ok", [session.pid]);
        if (result.ok) ended++;
        else reasons.set(session.pid, "did not end within 5 s");
      } catch (error) {
        reasons.set(session.pid, (error as Error).message);
      }
    }
  }
  const { rows } = await scan();
  return { ended, remaining: rows.map((r) => `${r.description}: ${reasons.get(r.pid) ?? "still connected"}`) };
}

async function now(db: Database): Promise<string> {
  return (await db.one<{ now: string }>("SELECT clock_timestamp()::text AS now")).now;
}

export interface RaisedFence {
  /** the fence a restore that did not finish left, now taken over */
  takenOver: RestoreFence | null;
  ended: number;
}

/**
 * Raises the fence (or takes over one a killed restore left) and ends the sessions that could
 * still write. If some cannot be ended, the fence is lowered again and the restore refused.
 */
export async function raiseRestoreFence(db: Database, backup: string): Promise<RaisedFence> {
  const database = await currentDatabase(db);
  await checkNothingBypasses(db, database);
  const takenOver = await readRestoreFence(db);
  try {
    await db.query(setupSql);
    await db.transaction(async (tx) => {
      const previous = await tx.query<{ value: string }>(
        `SELECT split_part(c, '=', 2) AS value FROM pg_db_role_setting s, unnest(s.setconfig) AS c
          WHERE s.setdatabase = $1 AND s.setrole = 0 AND c LIKE 'default\\_transaction\\_read\\_only=%'`,
        [database.oid],
      );
      await tx.query(
        `INSERT INTO breakwater.restore_fence (id, backup, previous_setting) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET backup = EXCLUDED.backup, bad_state_backup = NULL`,
        [backup, previous.rows[0]?.value ?? null],
      );
      await tx.query(`ALTER DATABASE ${quoteIdent(database.name)} SET default_transaction_read_only = on`);
    });
  } catch (error) {
    if (error instanceof BreakwaterError) throw error;
    throw new BreakwaterError("BW_RESTORE_FAILED", `Could not make ${database.name} refuse writes for the restore: ${(error as Error).message}; nothing was changed.`, {
      hint: "Restore as the database's owner (or a superuser): it needs ALTER DATABASE … SET and CREATE on the database.",
    });
  }
  const sessions = await endSessionsStartedBefore(db, database.oid, await now(db));
  if (sessions.remaining.length > 0) {
    if (!takenOver) await lowerRestoreFence(db);
    throw new BreakwaterError(
      "BW_RESTORE_FAILED",
      `Could not end ${sessions.remaining.length} session(s) of ${database.name} that could still write during the restore: ${sessions.remaining.join("; ")}.`,
      {
        hint:
          takenOver ?
            "Writes stay refused (a restore that did not finish left them so). End those sessions, or restore as a role that may end them (a superuser or a member of pg_signal_backend)."
          : "Nothing was changed and writes are allowed again. End those sessions (or stop their application), or restore as a role that may end them (a superuser or a member of pg_signal_backend).",
      },
    );
  }
  return { takenOver, ended: sessions.ended };
}

/** Names the bad-state dump in the fence record, for the messages of a later restore or lift. */
export async function recordBadState(db: Database, badStateBackup: string): Promise<void> {
  await db.query("UPDATE breakwater.restore_fence SET bad_state_backup = $1 WHERE id = 1", [badStateBackup]);
}

/**
 * Lowers the fence: the database's own setting back, the record gone, and the sessions opened
 * while it was up ended (they keep the read-only default until they reconnect).
 */
export async function lowerRestoreFence(db: Database): Promise<{ fence: RestoreFence | null; sessions: EndedSessions }> {
  const database = await currentDatabase(db);
  const fence = await readRestoreFence(db);
  // Without a record the setting is not breakwater's to change.
  if (!fence) return { fence, sessions: { ended: 0, remaining: [] } };
  await db.transaction(async (tx) => {
    const name = quoteIdent(database.name);
    if (fence.previousSetting) await tx.query(`ALTER DATABASE ${name} SET default_transaction_read_only = ${quoteLiteral(fence.previousSetting)}`);
    else await tx.query(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
    await tx.query("DELETE FROM breakwater.restore_fence WHERE id = 1");
  });
  return { fence, sessions: await endSessionsStartedBefore(db, database.oid, await now(db)) };
}

/** How to let writes in again, for the hints of a restore that leaves the fence up. */
export function liftHint(database: string): string {
  return `Writes to ${database} stay refused (default_transaction_read_only is on for the database). Restore again, or let writes in with \`breakwater restore --lift-fence\` (or ALTER DATABASE ${quoteIdent(database)} RESET default_transaction_read_only).`;
}

/** `breakwater restore --lift-fence`: lets writes in again after a restore that failed or was killed. */
export async function liftRestoreFence(url: string): Promise<{ fence: RestoreFence | null; sessions: EndedSessions }> {
  const db = await openRestoreSession(url, "breakwater restore --lift-fence");
  try {
    return await lowerRestoreFence(db);
  } finally {
    await db.close();
  }
}
