// The fault battery: each trial runs a backfill and the seeds' enum rename on a fresh database of
// the battery's own PostgreSQL, injects one fault (kill -9 of the runner, pg_terminate_backend of
// its connection, a server restart) at a random point of a phase, recovers as a user would
// (wait, `breakwater status`, `breakwater resume`) and compares the exact final state with the
// expected one. Trials are drawn from a seed, so a failure is reproduced by its seed and number.
//
//   npm run battery -- [--trials 100] [--seed N] [--faults kill,terminate,restart]
//                      [--phases transform,rollback] [--only 17] [--rows 20000]
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Database } from "@breakwater/runtime/internal";
import { startEmbeddedCluster, type EmbeddedCluster } from "../../packages/breakwater/src/db/embedded.ts";
import { createUsers } from "../../packages/breakwater/src/demo/users.ts";
import type { Phase } from "../../packages/breakwater/src/runner/events.ts";
import { phaseOrder, planContext } from "../../packages/breakwater/src/runner/program.ts";
import type { RunStatus } from "../../packages/breakwater/src/runner/runner.ts";
import { createTestDatabase, enumLabels, planSource, runCli, spawnCli, tableChecksum, tempProject, waitFor, type TestDatabase } from "../harness.ts";

export const DEFAULT_SEED = 32;
export const faultKinds = ["kill", "terminate", "restart"] as const;
export type Fault = (typeof faultKinds)[number];
/** every phase a fault can be aimed at: the run's phases, then rollback */
export const targetPhases: Phase[] = [...phaseOrder, "rollback"];
/** where the runner stood when struck: a phase, before it connected, or after it had finished */
export type Hit = Phase | "startup" | "finished";
const hitOrder: Hit[] = ["startup", ...targetPhases, "finished"];

/**
 * complete: the plan is meant to complete; check fails: its check fails at verify and the run
 * rolls back by itself; rollback command: a completed run undone by `breakwater rollback <id>`.
 */
export type Scenario = "complete" | "check fails" | "rollback command";

export interface TrialSpec {
  seed: number;
  n: number;
  fault: Fault;
  target: Phase;
  scenario: Scenario;
  /** where in the target phase to strike, as a fraction of its measured duration */
  at: number;
  /** how long the server stays down on a restart */
  downtimeMs: number;
}

export interface TrialResult {
  spec: TrialSpec;
  expected: "completed" | "rolled_back";
  hit: Hit;
  delayMs: number;
  /** how the struck runner ended: "killed", "exit 6: …" */
  runner: string;
  /** the commands run to recover, with their exit codes */
  recovery: string[];
  /** facts worth knowing that are not failures */
  notes: string[];
  /** every way the trial differs from what a user relies on; empty when it passed */
  problems: string[];
  seconds: number;
}

/** mulberry32: a small PRNG, so the same seed draws the same trials on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** Item `index` of a deck reshuffled every round: any `items.length` consecutive trials cover every item. */
function dealt<T>(items: readonly T[], seed: number, salt: number, index: number): T {
  const random = seededRandom(mixSeed(seed, salt, Math.floor(index / items.length)));
  const deck = [...items];
  for (let i = deck.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [deck[i], deck[j]] = [deck[j]!, deck[i]!];
  }
  return deck[index % items.length]!;
}

/** Trial `n` (from 1) of a seed: the same spec whatever other trials run. */
export function trialSpec(seed: number, n: number, faults: readonly Fault[] = faultKinds, targets: readonly Phase[] = targetPhases): TrialSpec {
  const fault = dealt(faults, seed, 1, n - 1);
  const target = dealt(targets, seed, 2, n - 1);
  const random = seededRandom(mixSeed(seed, 3, n));
  const [kind, at, downtime] = [random(), random(), random()];
  const beforeContract = phaseOrder.indexOf(target) >= 0 && phaseOrder.indexOf(target) <= phaseOrder.indexOf("verify");
  const scenario: Scenario =
    target === "rollback" ?
      kind < 0.5 ?
        "check fails"
      : "rollback command"
    : beforeContract && kind < 0.25 ? "check fails"
    : "complete";
  return { seed, n, fault, target, scenario, at, downtimeMs: Math.round(downtime * 800) };
}

export interface Battery {
  rows: number;
  cluster: EmbeddedCluster;
  /** each phase's duration in the no-fault control runs, to strike at a random point of it */
  phaseMs: Record<Phase, number>;
  /** what the control runs (no fault) got wrong; must be empty for the trials to mean anything */
  control: string[];
  /** how many steps the control run journaled: a completed run must have journaled as many */
  journalSteps: number;
}

// Small, slow batches (about 60 per table) so the transform lasts long enough to be struck in the middle.
const configSource = (rows: number) => `export default { batch: { size: ${Math.max(300, Math.round(rows / 60))}, pauseMs: 10 } };\n`;
const planId = "battery";

function planFor(scenario: Scenario, rows: number): string {
  const checks = [`{ name: "no user lost", sql: 'SELECT count(*) FROM "User"', expect: "before" }`];
  if (scenario === "check fails") checks.push(`{ name: "deliberately failing: one counter more", sql: 'SELECT count(*) FROM "Counter"', expect: ${rows + 1} }`);
  return planSource(`{
  id: "${planId}",
  steps: [
    backfill({ table: "Counter", set: { hits: "hits + 1" } }),
    // The application is taken to read EMPLOYEE already, so maintenance ends with the run.
    renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "shadow", appReadsNewValues: true }),
  ],
  checks: [${checks.join(", ")}],
}`);
}

/** Checksums and schema before the run, and what they must be after it completes. */
interface Before {
  counter: string;
  counterOnce: string;
  users: string;
  usersRenamed: string;
  schema: string[];
}

const userColumns = `id, email, role::text AS role, "createdAt"`;

async function schemaOf(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ item: string }>(`
    SELECT format('column %s.%s %s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END, coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')) AS item
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('index %s%s', pg_get_indexdef(i.indexrelid), CASE WHEN i.indisvalid THEN '' ELSE ' (INVALID)' END)
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
    UNION ALL
    SELECT format('constraint %s %s', co.conname, pg_get_constraintdef(co.oid))
      FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE n.nspname = 'public'
    UNION ALL
    SELECT format('trigger %s on %s', tgname, tgrelid::regclass) FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT format('type %s (%s)', t.oid::regtype, (SELECT string_agg(enumlabel::text, ', ' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid))
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'
    UNION ALL
    SELECT format('function %s', p.oid::regprocedure) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public' OR (n.nspname = 'breakwater' AND p.proname LIKE 'bw\\_%')
    ORDER BY 1`);
  return rows.map((r) => r.item);
}

/**
 * The schema a completed run leaves: the default and the enum's values renamed, and the old role
 * column the shadow swap set aside until `breakwater cleanup` (with its index, the old type in the
 * breakwater schema and the trigger keeping it filled); nothing else.
 */
function completedSchema(before: string[], runId: string): string[] {
  const replace = (from: string, to: string) => {
    const i = after.indexOf(from);
    if (i < 0) throw new Error(`the battery expected «${from}» in the schema before the run`);
    after[i] = to;
  };
  const after = [...before];
  replace(`column User.role "Role" NOT NULL DEFAULT 'USER'::"Role"`, `column User.role "Role" NOT NULL DEFAULT 'EMPLOYEE'::"Role"`);
  replace(`type "Role" (USER, ADMIN)`, `type "Role" (EMPLOYEE, MANAGER, ADMIN)`);
  // The rename is the plan's second step.
  const name = (suffix: string) => planContext(runId, 1, 0, false).objectName(suffix);
  after.push(
    `column User.role__bw_old breakwater.${name("oldtype")}`,
    `index CREATE INDEX ${name("oix0_0")} ON public."User" USING btree (role__bw_old)`,
    `trigger ${name("rev0")} on "User"`,
    `function breakwater.${name("rev0")}()`,
  );
  return after;
}

export interface TrialDatabase {
  t: TestDatabase;
  dir: string;
  before: Before;
}

/** A fresh database with the dataset and its checksums, and a project folder with the plan. */
export async function prepareTrial(battery: Battery, scenario: Scenario): Promise<TrialDatabase> {
  const t = await createTestDatabase();
  await t.db.query(`CREATE TABLE "Counter" (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0)`);
  await t.db.query(`INSERT INTO "Counter" (id) SELECT generate_series(1, $1::int)`, [battery.rows]);
  await t.db.query(`ANALYZE "Counter"`);
  await createUsers(t.db, battery.rows);
  const before: Before = {
    counter: await tableChecksum(t.db, `"Counter"`, "id", "id, hits"),
    counterOnce: await tableChecksum(t.db, `"Counter"`, "id", "id, hits + 1 AS hits"),
    users: await tableChecksum(t.db, `"User"`, "id", userColumns),
    usersRenamed: await tableChecksum(t.db, `"User"`, "id", `id, email, (CASE role::text WHEN 'USER' THEN 'EMPLOYEE' ELSE role::text END) AS role, "createdAt"`),
    schema: await schemaOf(t.db),
  };
  const dir = await tempProject({ "breakwater.config.ts": configSource(battery.rows), "plan.ts": planFor(scenario, battery.rows) });
  return { t, dir, before };
}

export function maintenanceFile(dir: string): string {
  return path.join(dir, "maintenance", "enabled.lock");
}

/** Every difference between the database and the state a user relies on after the run. */
export async function finalStateDifferences(
  db: Database,
  trial: TrialDatabase,
  expected: "completed" | "rolled_back",
  battery: Battery,
  run: RunStatus | undefined,
): Promise<string[]> {
  const { dir, before } = trial;
  const problems: string[] = [];
  if (!run) problems.push("no run of the plan in the journal");
  else if (run.state !== expected) problems.push(`run ${run.id} is ${run.state}${run.error ? ` (${run.error.code}: ${run.error.message})` : ""}, expected ${expected}`);

  const counter = await tableChecksum(db, `"Counter"`, "id", "id, hits");
  if (counter !== (expected === "completed" ? before.counterOnce : before.counter)) {
    const { rows: hits } = await db.query<{ hits: number; n: number }>(`SELECT hits, count(*)::int AS n FROM "Counter" GROUP BY hits ORDER BY hits`);
    const wanted = expected === "completed" ? `every row hits = 1 (changed exactly once)` : `every row back to hits = 0`;
    problems.push(`Counter: ${wanted}, found ${hits.map((h) => `hits=${h.hits} ×${h.n}`).join(", ")}`);
  }
  const users = await tableChecksum(db, `"User"`, "id", userColumns);
  if (users !== (expected === "completed" ? before.usersRenamed : before.users)) {
    const { rows: roles } = await db.query<{ role: string; n: number }>(`SELECT role::text AS role, count(*)::int AS n FROM "User" GROUP BY 1 ORDER BY 1`);
    problems.push(`User: md5 of (id, email, role, createdAt) differs from the expected one; roles now ${roles.map((r) => `${r.role} ×${r.n}`).join(", ")}`);
  }
  const labels = await enumLabels(db, `"Role"`);
  const wantedLabels = expected === "completed" ? ["EMPLOYEE", "MANAGER", "ADMIN"] : ["USER", "ADMIN"];
  if (labels.join(",") !== wantedLabels.join(",")) problems.push(`Role's values are ${labels.join(", ")}, expected ${wantedLabels.join(", ")}`);

  // Shadow columns, sync triggers and functions, index copies, __bw types, constraints: any
  // leftover or loss shows as a schema difference.
  const schema = await schemaOf(db);
  const wantedSchema = expected === "completed" && run ? completedSchema(before.schema, run.id) : before.schema;
  const missing = wantedSchema.filter((item) => !schema.includes(item));
  const unexpected = schema.filter((item) => !wantedSchema.includes(item));
  if (missing.length > 0) problems.push(`schema: missing ${missing.map((m) => `«${m}»`).join(", ")}`);
  if (unexpected.length > 0) problems.push(`schema: unexpected ${unexpected.map((m) => `«${m}»`).join(", ")}`);

  const fence = await db.query<{ table: string }>(`SELECT tgrelid::regclass::text AS table FROM pg_trigger WHERE tgname = 'breakwater_write_fence'`);
  if (fence.rowCount > 0) problems.push(`write-fence trigger left on ${fence.rows.map((r) => r.table).join(", ")}`);
  const journal = await db.one<{ fences: boolean }>(`SELECT to_regclass('breakwater.fences') IS NOT NULL AS fences`);
  if (journal.fences) {
    const fences = await db.query<{ table_name: string; run_id: string }>(`SELECT table_name, run_id FROM breakwater.fences`);
    if (fences.rowCount > 0) problems.push(`breakwater.fences still holds ${fences.rows.map((f) => `${f.table_name} (run ${f.run_id})`).join(", ")}`);
  }
  if (existsSync(maintenanceFile(dir))) problems.push(`maintenance is still on (${maintenanceFile(dir)} exists)`);

  const snapshots = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'breakwater' AND c.relname LIKE 'snap\\_%' ORDER BY 1`,
  );
  if (expected === "rolled_back" && snapshots.rowCount > 0) problems.push(`snapshot tables left after the rollback: ${snapshots.rows.map((s) => s.name).join(", ")}`);
  if (expected === "completed" && run) {
    // A step missing from the journal has no cursor: a later crash would redo its batches.
    const journaled = run.steps.filter((s) => s.phase !== "rollback").length;
    if (journaled !== battery.journalSteps) problems.push(`the journal holds ${journaled} of the run's ${battery.journalSteps} steps`);
    // The journal counts each row once, however often the run was interrupted.
    const step = await db.query<{ rows: number }>(`SELECT rows::int AS rows FROM breakwater.steps WHERE run_id = $1 AND phase = 'transform' AND label LIKE 'backfill %'`, [run.id]);
    if (step.rows[0]?.rows !== battery.rows) problems.push(`the journal's backfill step counts ${step.rows[0]?.rows ?? "no"} rows, expected ${battery.rows}`);
  }
  return problems;
}

/** The CLI started without waiting, with its output kept and its exit awaited once. */
interface RunnerProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  stderr(): string;
}

function startRunner(args: string[], trial: TrialDatabase): RunnerProcess {
  const child = spawnCli(args, { cwd: trial.dir, databaseUrl: trial.t.url });
  let stderr = "";
  let alive = true;
  child.stdout?.resume();
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      alive = false;
      resolve({ code, signal });
    }),
  );
  return { child, exited, alive: () => alive, stderr: () => stderr };
}

/** The CLI's error line (`breakwater: … [CODE]`), or the last line it printed. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  const error = lines.filter((l) => l.startsWith("breakwater: ")).pop();
  return (error ?? lines.pop() ?? "").replace(/^breakwater: /, "").slice(0, 300);
}

interface Observation {
  /** the runner's backend, found by its application_name */
  pid: number | null;
  run: { id: string; state: RunStatus["state"]; phase: Phase } | null;
}

const runnerSessions = `application_name ~ '^breakwater (run|rollback|resume)'`;

/** Reads where the runner stands, on a connection of the battery's own. */
function observer(db: Database, subject: { runId?: string }) {
  let journal = false;
  return async (): Promise<Observation> => {
    const runnerPid = `(SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND ${runnerSessions} ORDER BY backend_start LIMIT 1)`;
    if (!journal) {
      const row = await db.one<{ journal: boolean; pid: number | null }>(`SELECT to_regclass('breakwater.runs') IS NOT NULL AS journal, ${runnerPid} AS pid`);
      journal = row.journal;
      if (!journal) return { pid: row.pid, run: null };
    }
    const row = await db.one<{ pid: number | null; id: string | null; state: RunStatus["state"]; phase: Phase }>(
      `SELECT ${runnerPid} AS pid, r.id, r.state, r.phase FROM (SELECT 1) AS one
         LEFT JOIN LATERAL (SELECT id, state, phase FROM breakwater.runs WHERE ${subject.runId ? "id = $1" : "plan_id = $1"} ORDER BY started_at DESC LIMIT 1) AS r ON true`,
      [subject.runId ?? planId],
    );
    return { pid: row.pid, run: row.id === null ? null : { id: row.id, state: row.state, phase: row.phase } };
  };
}

function phaseOf(observation: Observation, scenario: Scenario, runnerAlive: boolean): Hit {
  const { run, pid } = observation;
  const connected = pid !== null;
  if (scenario === "rollback command" && (!run || run.state === "completed"))
    return (
      connected ? "rollback"
      : runnerAlive ? "startup"
      : "finished"
    );
  if (!run)
    return (
      connected ? "preflight"
      : runnerAlive ? "startup"
      : "finished"
    );
  switch (run.state) {
    case "rolling_back":
      return "rollback";
    case "completed":
      return runnerAlive ? "report" : "finished";
    case "rolled_back":
      return runnerAlive ? "rollback" : "finished";
    default:
      return run.phase;
  }
}

const reached = (hit: Hit, target: Hit) => hitOrder.indexOf(hit) >= hitOrder.indexOf(target);

/**
 * Polls every few milliseconds until the runner stands at `target` or beyond (or, with no target,
 * until it exits); returns where it stands and when each place was first seen.
 */
async function follow(observe: () => Promise<Observation>, runner: RunnerProcess, scenario: Scenario, target: Hit | null): Promise<{ hit: Hit; firstSeen: Map<Hit, number> }> {
  const firstSeen = new Map<Hit, number>();
  const deadline = Date.now() + 180_000;
  for (;;) {
    const alive = runner.alive();
    const observation = await observe();
    const hit = phaseOf(observation, scenario, alive);
    if (!firstSeen.has(hit)) firstSeen.set(hit, performance.now());
    if ((target !== null && reached(hit, target)) || !alive || Date.now() > deadline) return { hit, firstSeen };
    await sleep(2);
  }
}

export async function runStatusOf(trial: TrialDatabase, runId?: string): Promise<{ run: RunStatus | undefined; all: RunStatus[] } | { error: string }> {
  const status = await runCli(["status", "--json"], { cwd: trial.dir, databaseUrl: trial.t.url });
  if (status.code !== 0) return { error: `status exited ${status.code}: ${errorLine(status.stderr)}` };
  const all = JSON.parse(status.stdout) as RunStatus[];
  return { run: runId ? all.find((r) => r.id === runId) : all.find((r) => r.planId === planId), all };
}

const expectedExit = (scenario: Scenario) => (scenario === "check fails" ? 3 : 0);
const expectedState = (scenario: Scenario) => (scenario === "complete" ? "completed" : "rolled_back");

/** The no-fault runs: their final state must be right, and they time each phase for the aim. */
async function control(battery: Battery): Promise<{ phaseMs: Record<Phase, number>; problems: string[] }> {
  const phaseMs = Object.fromEntries(targetPhases.map((p) => [p, 1])) as Record<Phase, number>;
  const problems: string[] = [];
  const trial = await prepareTrial(battery, "complete");
  try {
    const observe = observer(await trial.t.connect(), {});
    const measure = async (runId: string, phases: Phase[]) => {
      const { rows } = await trial.t.db.query<{ phase: Phase; ms: number }>(
        `SELECT phase, extract(epoch FROM max(finished_at) - min(started_at))::float8 * 1000 AS ms FROM breakwater.steps WHERE run_id = $1 GROUP BY phase`,
        [runId],
      );
      for (const row of rows) if (phases.includes(row.phase)) phaseMs[row.phase] = Math.max(1, row.ms);
    };
    for (const scenario of ["complete", "rollback command"] as const) {
      const runId = scenario === "rollback command" ? (await observe()).run?.id : undefined;
      const runner = startRunner(runId ? ["rollback", runId] : ["run", "plan.ts"], trial);
      const { firstSeen } = await follow(runId ? observer(trial.t.db, { runId }) : observe, runner, scenario, null);
      const { code } = await runner.exited;
      if (code !== 0) problems.push(`${scenario}: the CLI exited ${code}: ${errorLine(runner.stderr())}`);
      const status = await runStatusOf(trial, runId);
      if ("error" in status) {
        problems.push(status.error);
        break;
      }
      if (!status.run) {
        problems.push(`${scenario}: no run in the journal`);
        break;
      }
      if (scenario === "complete") {
        battery.journalSteps = status.run.steps.length;
        await measure(status.run.id, phaseOrder);
        // Preflight happens before the journal: from the runner's connection to its run row.
        const connected = firstSeen.get("preflight");
        const journaled = [...firstSeen.entries()].filter(([hit]) => hit !== "startup" && hit !== "preflight").map(([, at]) => at);
        if (connected !== undefined && journaled.length > 0) phaseMs.preflight = Math.max(1, Math.min(...journaled) - connected);
      } else {
        await measure(status.run.id, ["rollback"]);
      }
      const differences = await finalStateDifferences(trial.t.db, trial, expectedState(scenario), battery, status.run);
      problems.push(...differences.map((d) => `${scenario}: ${d}`));
    }
  } finally {
    await trial.t.drop();
  }
  return { phaseMs, problems };
}

export async function startBattery(options: { rows?: number } = {}): Promise<Battery> {
  // The battery restarts its server, so it never uses a shared one: its own cluster, kept on
  // disk across restarts. createTestDatabase makes each trial's database on TEST_DATABASE_URL.
  const cluster = await startEmbeddedCluster({ persistent: true });
  process.env.TEST_DATABASE_URL = cluster.url;
  const battery: Battery = { rows: options.rows ?? 20_000, cluster, phaseMs: {} as Record<Phase, number>, control: [], journalSteps: 0 };
  try {
    const { phaseMs, problems } = await control(battery);
    battery.phaseMs = phaseMs;
    battery.control = problems;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return battery;
}

export async function stopBattery(battery: Battery): Promise<void> {
  await battery.cluster.stop();
}

/** How long a backend stays after its client died (ms), or null past 180 s. */
async function backendLifetime(db: Database, pid: number): Promise<number | null> {
  const since = performance.now();
  const gone = await waitFor(async () => (await db.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid])).rowCount === 0, 180_000, 20).catch(() => false);
  return gone ? performance.now() - since : null;
}

/** SIGKILL to the runner this trial started, if it is still running. */
function killIfAlive(runner: RunnerProcess): void {
  if (runner.alive()) runner.child.kill("SIGKILL");
}

export async function runTrial(battery: Battery, spec: TrialSpec): Promise<TrialResult> {
  const started = performance.now();
  const expected = expectedState(spec.scenario);
  const result: TrialResult = { spec, expected, hit: "startup", delayMs: 0, runner: "", recovery: [], notes: [], problems: [], seconds: 0 };
  const trial = await prepareTrial(battery, spec.scenario);
  let runner: RunnerProcess | undefined;
  try {
    let runId: string | undefined;
    if (spec.scenario === "rollback command") {
      const run = await runCli(["run", "plan.ts"], { cwd: trial.dir, databaseUrl: trial.t.url });
      const status = await runStatusOf(trial);
      if (run.code !== 0 || "error" in status || !status.run) throw new Error(`the run to roll back did not complete: exit ${run.code}: ${errorLine(run.stderr)}`);
      runId = status.run.id;
    }
    const observe = observer(await trial.t.connect(), { runId });
    runner = startRunner(runId ? ["rollback", runId] : ["run", "plan.ts"], trial);

    // Aim: wait for the target phase, then a random part of its length.
    let { hit } = await follow(observe, runner, spec.scenario, spec.target);
    if (hit === spec.target) {
      result.delayMs = Math.round(spec.at * battery.phaseMs[spec.target]);
      await sleep(result.delayMs);
    }
    // The journal read just before the strike says where the runner was struck: a kill lands
    // within a millisecond of it, a termination or shutdown within a few.
    const struck = await observe();
    hit = phaseOf(struck, spec.scenario, runner.alive());
    result.hit = hit;

    // Strike.
    const faultAt = performance.now();
    if (spec.fault === "kill") {
      if (!runner.alive()) result.notes.push("the runner had already exited");
      killIfAlive(runner);
    } else if (spec.fault === "terminate") {
      const terminated = await trial.t.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND ${runnerSessions}`);
      if (terminated.rowCount === 0) result.notes.push("no runner connection to terminate");
    } else {
      // pause() is a fast shutdown (SIGINT to the postmaster): every session ends, open transactions abort.
      await battery.cluster.pause();
      await sleep(spec.downtimeMs);
      await battery.cluster.resume();
    }

    // A killed runner's backend lives on until its statement ends; the user does not wait for it.
    const orphan = spec.fault === "kill" && struck.pid !== null ? backendLifetime(trial.t.db, struck.pid) : undefined;

    // Recover as a user would: let the runner finish (it may, by itself), then resume.
    // Unreferenced, so the timer cannot keep the process alive once the runner has exited.
    const exit = await Promise.race([runner.exited, sleep(180_000, null, { ref: false })]);
    if (exit === null) {
      result.problems.push("the runner was still running 180 s after the fault");
      killIfAlive(runner);
      await runner.exited;
    }
    const allowedExits = spec.fault === "kill" || hit === "finished" ? [expectedExit(spec.scenario)] : [expectedExit(spec.scenario), 6];
    if (exit?.signal === "SIGKILL") result.runner = "killed";
    else if (exit) {
      result.runner = exit.code === 0 ? "exit 0" : `exit ${exit.code}: ${errorLine(runner.stderr())}`;
      if (!allowedExits.includes(exit.code ?? -1))
        result.problems.push(`the struck runner exited ${exit.code} (expected ${allowedExits.join(" or ")}): ${errorLine(runner.stderr())}`);
    }
    await recover(trial, spec, runId, faultAt, result);
    if (exit?.code === 6 && result.recovery.length === 0) result.notes.push("the runner exited 6 (resumable), but the run had finished: there was nothing to resume");
    if (orphan) {
      const orphanMs = await orphan;
      if (orphanMs === null) result.notes.push("the killed runner's backend was still running 180 s after the kill");
      else if (orphanMs > 1000) result.notes.push(`the killed runner's backend lived on for ${(orphanMs / 1000).toFixed(1)} s`);
    }

    // The state a user finds: no runner session left behind, then the data and schema.
    const check = await trial.t.connect();
    const noneLeft = await waitFor(
      async () => (await check.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND ${runnerSessions}`)).rowCount === 0,
      10_000,
      50,
    ).catch(() => false);
    if (!noneLeft) result.problems.push("a breakwater runner session is still connected after recovery");
    const status = await runStatusOf(trial, runId);
    if ("error" in status) result.problems.push(status.error);
    else {
      const unfinished = status.all.filter((r) => r.id !== status.run?.id && r.state !== "completed" && r.state !== "rolled_back");
      if (unfinished.length > 0) result.problems.push(`other unfinished runs: ${unfinished.map((r) => `${r.id} (${r.state})`).join(", ")}`);
      result.problems.push(...(await finalStateDifferences(check, trial, expected, battery, status.run)));
    }
  } catch (error) {
    result.problems.push(`battery error: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    if (runner) {
      killIfAlive(runner);
      await runner.exited;
    }
    await trial.t.drop().catch(() => undefined);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/**
 * What a user does after a crash: read `breakwater status`, then `resume` (or `rollback` again,
 * or `run` when the run never reached the journal). Exit 6 (the server still coming back) is
 * retried; so is exit 4, but that one is a failure: the README promises that a dead runner never
 * leaves the runner lock behind.
 */
async function recover(trial: TrialDatabase, spec: TrialSpec, runId: string | undefined, faultAt: number, result: TrialResult): Promise<void> {
  const deadline = Date.now() + 180_000;
  const allowed = [0, expectedExit(spec.scenario)];
  const commands: string[] = [];
  let refused: { command: string; tries: number; lastAt: number; message: string } | null = null;
  const endRefusal = () => {
    if (!refused) return;
    result.problems.push(
      `\`breakwater ${refused.command}\` was refused (exit 4) ${refused.tries === 1 ? "once" : `${refused.tries} times`}, the last time ${((refused.lastAt - faultAt) / 1000).toFixed(1)} s after the fault: ${refused.message}`,
    );
    refused = null;
  };
  try {
    for (let finishing = 0; finishing < 6 && Date.now() < deadline;) {
      const status = await runStatusOf(trial, runId);
      if ("error" in status) {
        commands.push(status.error);
        await sleep(1000);
        continue;
      }
      const run = status.run;
      let args: string[];
      if (!run) args = ["run", "plan.ts"];
      else if (run.state === "completed" && spec.scenario === "rollback command") args = ["rollback", run.id];
      else if (run.state === "completed" || run.state === "rolled_back") {
        endRefusal();
        return;
      } else args = ["resume"];
      const attemptAt = performance.now();
      const cli = await runCli(args, { cwd: trial.dir, databaseUrl: trial.t.url });
      commands.push(`${args[0]} → ${cli.code}`);
      if (cli.code === 4) {
        refused ??= { command: args.join(" "), tries: 0, lastAt: 0, message: errorLine(cli.stderr) };
        refused.tries += 1;
        refused.lastAt = attemptAt;
        await sleep(1000);
        continue;
      }
      endRefusal();
      if (cli.code === 6) {
        await sleep(1000);
        continue;
      }
      finishing += 1;
      if (!allowed.includes(cli.code)) result.problems.push(`\`breakwater ${args.join(" ")}\` exited ${cli.code}: ${errorLine(cli.stderr)}`);
    }
    endRefusal();
    result.problems.push(`the run did not finish after ${commands.length} recovery commands`);
  } finally {
    // "resume → 4 ×12" rather than twelve entries.
    for (const command of commands) {
      const last = result.recovery.at(-1);
      const repeated = last?.match(/^(.*) ×(\d+)$/);
      if (last === command) result.recovery[result.recovery.length - 1] = `${command} ×2`;
      else if (repeated && repeated[1] === command) result.recovery[result.recovery.length - 1] = `${command} ×${Number(repeated[2]) + 1}`;
      else result.recovery.push(command);
    }
  }
}

export function describeTrial(r: TrialResult): string {
  const aim = `aimed at ${r.spec.target}${r.delayMs ? ` +${r.delayMs} ms` : ""}${r.spec.fault === "restart" ? `, down ${r.spec.downtimeMs} ms` : ""}`;
  const head = `#${r.spec.n} ${r.spec.fault} in ${r.hit} (${aim}; ${r.spec.scenario} → ${r.expected}): runner ${r.runner}; ${r.recovery.join(", ") || "no recovery needed"}`;
  const verdict = r.problems.length === 0 ? "PASS" : "FAIL";
  const lines = [`${verdict} ${head} [${r.seconds.toFixed(1)} s]`];
  for (const note of r.notes) lines.push(`     note: ${note}`);
  for (const problem of r.problems) lines.push(`     ✗ ${problem}`);
  return lines.join("\n");
}

/** Trials per fault × phase hit, as passes/trials. */
export function resultTable(results: TrialResult[]): string {
  const hits = hitOrder.filter((h) => results.some((r) => r.hit === h));
  const faults = faultKinds.filter((f) => results.some((r) => r.spec.fault === f));
  const cell = (rs: TrialResult[]) => (rs.length === 0 ? "" : `${rs.filter((r) => r.problems.length === 0).length}/${rs.length}`);
  const header = ["fault \\ hit", ...hits, "total"];
  const rows = faults.map((f) => [f, ...hits.map((h) => cell(results.filter((r) => r.spec.fault === f && r.hit === h))), cell(results.filter((r) => r.spec.fault === f))]);
  rows.push(["all", ...hits.map((h) => cell(results.filter((r) => r.hit === h))), cell(results)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line), "(passes/trials; hit = the phase the runner was in when struck, read from the journal)"].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      trials: { type: "string", default: "33" },
      seed: { type: "string" },
      faults: { type: "string", default: faultKinds.join(",") },
      phases: { type: "string", default: targetPhases.join(",") },
      only: { type: "string" },
      rows: { type: "string", default: "20000" },
    },
  });
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed);
  const faults = values.faults.split(",").map((f) => f.trim()) as Fault[];
  const phases = values.phases.split(",").map((p) => p.trim()) as Phase[];
  const bad = [...faults.filter((f) => !faultKinds.includes(f)), ...phases.filter((p) => !targetPhases.includes(p))];
  if (!Number.isInteger(seed) || bad.length > 0) {
    process.stderr.write(`battery: unknown ${bad.join(", ") || `seed ${values.seed}`} (faults: ${faultKinds.join(", ")}; phases: ${targetPhases.join(", ")})\n`);
    process.exit(2);
  }
  const trials = values.only ? [Number(values.only)] : Array.from({ length: Number(values.trials) }, (_, i) => i + 1);
  const rows = Number(values.rows);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `fault battery: seed ${seed}, ${values.only ? `trial ${values.only}` : `${trials.length} trials`}, faults ${faults.join(",")}, phases ${phases.join(",")}, ${rows} rows per table`,
  );
  out("starting a private PostgreSQL and the control runs (no fault)…");
  const battery = await startBattery({ rows });
  let failed = false;
  try {
    out(`phase durations without a fault (ms): ${targetPhases.map((p) => `${p} ${Math.round(battery.phaseMs[p])}`).join(", ")}`);
    if (battery.control.length > 0) {
      out(`CONTROL FAILED (a run without any fault): the battery cannot judge faults until this is right\n${battery.control.map((p) => `  ✗ ${p}`).join("\n")}`);
      process.exitCode = 1;
      return;
    }
    const results: TrialResult[] = [];
    for (const n of trials) {
      const result = await runTrial(battery, trialSpec(seed, n, faults, phases));
      results.push(result);
      out(describeTrial(result));
    }
    out(`\n${resultTable(results)}`);
    const failures = results.filter((r) => r.problems.length > 0);
    failed = failures.length > 0;
    out(`\n${results.length - failures.length} passed, ${failures.length} failed (seed ${seed})`);
    for (const r of failures)
      out(
        `  reproduce #${r.spec.n}: npm run battery -- --seed ${seed} --only ${r.spec.n}${values.faults === faultKinds.join(",") ? "" : ` --faults ${values.faults}`}${values.phases === targetPhases.join(",") ? "" : ` --phases ${values.phases}`}`,
      );
  } finally {
    await stopBattery(battery);
  }
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
