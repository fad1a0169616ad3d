// bench/transform.ts — rows/s of the enum-rename transform and exclusive-lock holds, measured in
// one run against baselines on the same server:
//   (a) one single UPDATE reaching the same end state (the physical limit),
// rows/s counts the table's rows brought to the new type per second (every row is covered; rows
// already right through the column's fast default are not written).
//   (b) breakwater's batched, journaled transform (renameEnumValue, shadow contract),
//   (c) the seeds' data-migration script pattern (seed 002 §7: fetch a batch, update row by row),
//   (d) the longest ACCESS EXCLUSIVE hold on the table over the whole run, for breakwater's
//       default contract and for the seeds' final migration (Prisma's type swap).
// Usage: npm run bench:transform [-- --rows 1000000 --sample 20000]
// Uses BENCH_DATABASE_URL when set, otherwise a throwaway embedded PostgreSQL 15.
import path from "node:path";
import { parseArgs } from "node:util";
import { resolveConfig } from "../packages/breakwater/src/config/config.ts";
import { Database, fileStore } from "@breakwater/runtime/internal";
import { benchDatabase } from "./fixtures/database.ts";
import { quoteIdent } from "../packages/breakwater/src/db/quote.ts";
import { renameEnumValue } from "@breakwater/runtime";
import { validatePlan } from "../packages/breakwater/src/plan/plan.ts";
import { runPlan } from "../packages/breakwater/src/runner/runner.ts";
import { tempProject } from "../test/harness.ts";

const { values } = parseArgs({ options: { rows: { type: "string", default: "1000000" }, sample: { type: "string", default: "20000" }, rounds: { type: "string", default: "3" } } });
const rows = Number(values.rows);
const sample = Number(values.sample);
const rounds = Number(values.rounds);

const log = (text: string) => process.stderr.write(`${text}\n`);

async function createUsers(db: Database, schema: string, count: number, enumValues: string[]): Promise<void> {
  const s = quoteIdent(schema);
  await db.query(`CREATE SCHEMA ${s}`);
  await db.query(`CREATE TYPE ${s}."Role" AS ENUM (${enumValues.map((v) => `'${v}'`).join(", ")})`);
  // The seeds' model: User { id Int @id, email String @unique, role Role }.
  await db.query(
    `CREATE TABLE ${s}."User" (id int PRIMARY KEY, email text NOT NULL UNIQUE, role ${s}."Role" NOT NULL DEFAULT 'USER', "createdAt" timestamptz NOT NULL DEFAULT now())`,
  );
  await db.query(`CREATE INDEX "User_role_idx" ON ${s}."User" (role)`);
  await db.query(
    `INSERT INTO ${s}."User" (id, email, role) SELECT i, 'user' || i || '@example.com', (CASE WHEN i % 10 = 0 THEN 'ADMIN' ELSE 'USER' END)::${s}."Role" FROM generate_series(1, $1::int) i`,
    [count],
  );
  // Autovacuum off on every bench table alike, so it cannot land inside one measurement only.
  await db.query(`ALTER TABLE ${s}."User" SET (autovacuum_enabled = false)`);
  await db.query(`VACUUM ANALYZE ${s}."User"`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Samples pg_locks every ~2 ms; returns the longest continuous ACCESS EXCLUSIVE hold seen on the table. */
function watchAccessExclusive(db: Database, table: string) {
  let stop = false;
  let longest = 0;
  let since: number | null = null;
  const done = (async () => {
    const {
      rows: [row],
    } = await db.query<{ oid: number }>(`SELECT $1::regclass::oid::int AS oid`, [table]);
    while (!stop) {
      const held = await db.one<{ held: boolean }>(`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = $1 AND mode = 'AccessExclusiveLock' AND granted) AS held`, [row!.oid]);
      const now = performance.now();
      if (held.held && since === null) since = now;
      if (!held.held && since !== null) {
        longest = Math.max(longest, now - since);
        since = null;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    if (since !== null) longest = Math.max(longest, performance.now() - since);
  })();
  return { stop: async () => ((stop = true), await done, longest) };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

const database = await benchDatabase(log);
const url = database.url;
const db = await Database.connect(url);
const watcherDb = await Database.connect(url);
try {
  log(`${rounds} rounds of (a) and (b) on fresh copies of "User" with ${fmt(rows)} rows (medians reported)…`);
  const ratesA: number[] = [];
  const ratesB: number[] = [];
  const batchMaxima: number[] = [];
  const holdsB: number[] = [];
  const sampledHoldsB: number[] = [];
  const written = { a: 0, b: 0 };
  let lastOutcome: Awaited<ReturnType<typeof runPlan>> | undefined;
  const mapped = (schema: string) => `(CASE role::text WHEN 'USER' THEN 'EMPLOYEE' ELSE role::text END)::${schema}."Role__bw_new"`;
  const runA = async (schema: string) => {
    // Same end state as breakwater's transform, with the same fast default (most common value).
    await db.query(`CREATE TYPE ${schema}."Role__bw_new" AS ENUM ('EMPLOYEE', 'MANAGER', 'ADMIN')`);
    await db.query(`ALTER TABLE ${schema}."User" ADD COLUMN "role__bw" ${schema}."Role__bw_new" DEFAULT 'EMPLOYEE'`);
    await db.query(`ALTER TABLE ${schema}."User" ALTER COLUMN "role__bw" DROP DEFAULT`);
    await db.query("CHECKPOINT");
    const start = performance.now();
    const single = await db.query(`UPDATE ${schema}."User" SET "role__bw" = ${mapped(schema)} WHERE "role__bw" IS DISTINCT FROM ${mapped(schema)}`);
    ratesA.push(rows / ((performance.now() - start) / 1000));
    written.a = single.rowCount;
  };
  const runB = async (schema: string) => {
    await db.query("CHECKPOINT");
    const dir = await tempProject();
    const config = resolveConfig({ maintenance: { file: path.join(dir, "maintenance", "enabled.lock") } }, dir, null, {});
    const watcher = watchAccessExclusive(watcherDb, `${schema}."User"`);
    const outcome = await runPlan(
      {
        plan: validatePlan({ id: `bench_${schema}`, steps: [renameEnumValue({ schema, enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"] })] }),
        path: "bench",
        sha256: "",
      },
      { config, databaseUrl: url, store: fileStore({ path: config.maintenanceFile }) },
    );
    sampledHoldsB.push(await watcher.stop());
    if (outcome.state !== "completed") throw new Error(`run ended ${outcome.state}`);
    const step = await db.one<{ rows: number; scanned: number; duration_ms: number; longest: number }>(
      `SELECT rows::int8 AS rows, (data->>'scanned')::int8 AS scanned, duration_ms, (data->>'longestBatchMs')::float8 AS longest FROM breakwater.steps WHERE run_id = $1 AND phase = 'transform'`,
      [outcome.runId],
    );
    ratesB.push(step.scanned / (step.duration_ms / 1000));
    batchMaxima.push(step.longest);
    holdsB.push(outcome.log.longestAccessExclusiveMs);
    written.b = step.rows;
    lastOutcome = outcome;
  };
  for (let r = 0; r < rounds; r++) {
    log(`  round ${r + 1}: creating tables…`);
    await createUsers(db, `bench_a${r}`, rows, ["USER", "ADMIN"]);
    await createUsers(db, `bench_b${r}`, rows, ["USER", "ADMIN"]);
    // Alternate the order so neither side always runs on a warmer (or more loaded) server.
    if (r % 2 === 0) {
      await runA(`bench_a${r}`);
      await runB(`bench_b${r}`);
    } else {
      await runB(`bench_b${r}`);
      await runA(`bench_a${r}`);
    }
    log(`  round ${r + 1}: (a) ${fmt(ratesA.at(-1)!)} rows/s, (b) ${fmt(ratesB.at(-1)!)} rows/s, longest batch ${batchMaxima.at(-1)!.toFixed(1)} ms`);
    await db.query(`DROP SCHEMA bench_a${r} CASCADE`);
    await db.query(`DROP SCHEMA bench_b${r} CASCADE`);
  }
  const rateA = median(ratesA);
  const rateB = median(ratesB);
  const longestBatch = Math.max(...batchMaxima);
  const dB = Math.max(...holdsB);
  const sampledB = Math.max(...sampledHoldsB);
  const outcome = lastOutcome!;
  await createUsers(db, "bench_d", rows, ["USER", "EMPLOYEE", "MANAGER", "ADMIN"]);
  await createUsers(db, "bench_c", sample, ["USER", "EMPLOYEE", "MANAGER", "ADMIN"]);

  // (c) the seeds' script pattern with pg: fetch 100 rows, update each by id (autocommit).
  log("(c) seed 002 §7 pattern (row by row)…");
  let start = performance.now();
  let updated = 0;
  for (;;) {
    const batch = await db.query<{ id: number }>(`SELECT id FROM bench_c."User" WHERE role = 'USER' ORDER BY id LIMIT 100`);
    if (batch.rows.length === 0) break;
    for (const row of batch.rows) {
      updated += (await db.query(`UPDATE bench_c."User" SET role = 'EMPLOYEE' WHERE id = $1`, [row.id])).rowCount;
    }
  }
  const rateC = updated / ((performance.now() - start) / 1000);

  // (d) the seeds' final migration: Prisma's type swap, after the data was transformed.
  log("(d) seeds' final migration (type swap)…");
  await db.query(`UPDATE bench_d."User" SET role = 'EMPLOYEE' WHERE role = 'USER'`);
  await db.query(`VACUUM ANALYZE bench_d."User"`);
  await db.query("CHECKPOINT");
  const watcherD = watchAccessExclusive(watcherDb, `bench_d."User"`);
  await db.query("BEGIN");
  await db.query(`CREATE TYPE bench_d."Role_new" AS ENUM ('EMPLOYEE', 'MANAGER', 'ADMIN')`);
  start = performance.now();
  await db.query(`ALTER TABLE bench_d."User" ALTER COLUMN "role" DROP DEFAULT`);
  await db.query(`ALTER TABLE bench_d."User" ALTER COLUMN "role" TYPE bench_d."Role_new" USING ("role"::text::bench_d."Role_new")`);
  await db.query(`ALTER TYPE bench_d."Role" RENAME TO "Role_old"`);
  await db.query(`ALTER TYPE bench_d."Role_new" RENAME TO "Role"`);
  await db.query(`DROP TYPE bench_d."Role_old"`);
  await db.query(`ALTER TABLE bench_d."User" ALTER COLUMN "role" SET DEFAULT 'EMPLOYEE'`);
  await db.query("COMMIT");
  const swapHold = performance.now() - start;
  const sampledD = await watcherD.stop();

  const lines = [
    "",
    `bench/transform.ts — ${fmt(rows)} rows (seeds' User table, 90% USER), PostgreSQL ${(await db.one<{ server_version: string }>("SHOW server_version")).server_version}`,
    "",
    `(a) single UPDATE (physical limit)          ${fmt(rateA).padStart(10)} rows/s   (median of ${rounds}: ${ratesA.map(fmt).join(", ")}; ${fmt(written.a)} rows written)`,
    `(b) breakwater batched transform            ${fmt(rateB).padStart(10)} rows/s   (median of ${rounds}: ${ratesB.map(fmt).join(", ")}; ${fmt(written.b)} rows written)`,
    `(c) seed 002 §7 row-by-row (${fmt(sample)} sample) ${fmt(rateC).padStart(10)} rows/s`,
    `    longest batch transaction of (b)        ${longestBatch.toFixed(1).padStart(10)} ms   (all rounds)`,
    `(d) longest ACCESS EXCLUSIVE hold, whole run:`,
    `    breakwater default contract (shadow)    ${dB.toFixed(1).padStart(10)} ms   (max of ${rounds} runs; pg_locks sampler: ${sampledB.toFixed(1)} ms)`,
    `    seeds' type swap (Prisma final SQL)     ${swapHold.toFixed(1).padStart(10)} ms   (pg_locks sampler: ${sampledD.toFixed(1)} ms)`,
    "",
    `ratios: (b)/(a) = ${(rateB / rateA).toFixed(2)}  [goal ≥ 0.80]   (b)/(c) = ${(rateB / rateC).toFixed(0)}×  [goal ≥ 50]`,
    `        longest batch ${longestBatch.toFixed(1)} ms [goal ≤ 250]   breakwater hold ${dB.toFixed(1)} ms [goal ≤ 100]   type swap / breakwater = ${(swapHold / Math.max(dB, 0.1)).toFixed(0)}×`,
    `        whole breakwater run: ${outcome.log.durationSeconds} s, write outage (maintenance on) ${outcome.log.writeOutageSeconds} s`,
    "",
  ];
  process.stdout.write(lines.join("\n"));
} finally {
  await db.close();
  await watcherDb.close();
  await database.drop();
  process.exit(process.exitCode ?? 0);
}
