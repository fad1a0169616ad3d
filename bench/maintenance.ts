// bench/maintenance.ts — what maintenance mode costs a live app, and how fast a flip spreads.
//   requests/s of a plain Node HTTP server: without a check, with the seeds' existsSync check,
//   with breakwater's adapter on the file store and on the PostgreSQL store (ratios to "none",
//   medians of interleaved rounds in one server process); then the delay from `maintenance on/off` on the
//   PostgreSQL store to 4 separate app processes seeing it (p50, p99, max).
// Usage: npm run bench:maintenance [-- --seconds 1 --rounds 30 --flips 25] (fewer rounds are noisy on a shared machine)
// Uses BENCH_DATABASE_URL when set, otherwise a throwaway embedded PostgreSQL 15.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { fileStore, postgresStore } from "@breakwater/runtime/internal";
import { benchDatabase } from "./fixtures/database.ts";
import { existsSync } from "node:fs";
import { maintenanceExpress } from "@breakwater/runtime/express";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1" }, rounds: { type: "string", default: "30" }, flips: { type: "string", default: "25" } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const flips = Number(values.flips);
const here = path.dirname(fileURLToPath(import.meta.url));
const log = (text: string) => process.stderr.write(`${text}\n`);

// On a 2-core machine the load generator and the server fight for the cores; when taskset is
// there, the benchmark runs on CPU 0 and the HTTP server on CPU 1.
const taskset = ["/usr/bin/taskset", "/bin/taskset"].find((p) => existsSync(p));
if (taskset) spawnSync(taskset, ["-cp", "0", String(process.pid)], { stdio: "ignore" });

function startProcess(args: string[], cpu?: number): Promise<{ child: ChildProcess; firstLine: string; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, "--import", "tsx", ...args];
    const pinned = taskset && cpu !== undefined ? [taskset, "-c", String(cpu), ...command] : command;
    const child = spawn(pinned[0]!, pinned.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
    const lines: string[] = [];
    let buffer = "";
    let resolved = false;
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let n = buffer.indexOf("\n"); n >= 0; n = buffer.indexOf("\n")) {
        lines.push(buffer.slice(0, n));
        buffer = buffer.slice(n + 1);
        if (!resolved) {
          resolved = true;
          resolve({ child, firstLine: lines[0]!, lines });
        }
      }
    });
    child.on("exit", (code) => !resolved && reject(new Error(`process exited with ${code}`)));
  });
}

async function cpuMicros(port: number): Promise<number> {
  const usage = (await (await fetch(`http://127.0.0.1:${port}/__bench/cpu`)).json()) as { user: number; system: number };
  return usage.user + usage.system;
}

/** Wall-clock requests/s, and requests per second of the server's own CPU time. */
async function requestsPerSecond(port: number, variant: string, duration: number): Promise<{ wall: number; cpu: number }> {
  const before = await cpuMicros(port);
  const result = await autocannon({ url: `http://127.0.0.1:${port}/${variant}/users`, connections: 32, duration });
  const cpuSeconds = ((await cpuMicros(port)) - before) / 1e6;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`unexpected responses on /${variant}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { wall: result.requests.total / duration, cpu: result.requests.total / cpuSeconds };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

const database = await benchDatabase(log);
const url = database.url;
const lockFile = path.join(await mkdtemp(path.join(tmpdir(), "breakwater-bench-")), "maintenance", "enabled.lock");
const children: ChildProcess[] = [];
try {
  await postgresStore({ url }).disable();
  const variants: [string, string][] = [
    ["no middleware", "none"],
    ["seeds' existsSync check", "exists"],
    ["breakwater, file store", "file"],
    ["breakwater, postgres store", "postgres"],
  ];
  const results = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  const perCpu = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  const server = await startProcess([path.join(here, "fixtures", "http-server.ts"), lockFile, url], 1);
  children.push(server.child);
  const port = Number(server.firstLine);
  for (const [, variant] of variants) await requestsPerSecond(port, variant, 2); // warm-up, not counted
  for (let r = 0; r < rounds; r++) {
    // Short, interleaved measurements in one server process, order rotated each round: slow
    // drifts of a shared machine hit every variant alike.
    for (let i = 0; i < variants.length; i++) {
      const [name, variant] = variants[(i + r) % variants.length]!;
      const m = await requestsPerSecond(port, variant, seconds);
      results.get(name)!.push(m.wall);
      perCpu.get(name)!.push(m.cpu);
    }
    log(`  round ${r + 1}: ${variants.map(([name]) => `${name} ${Math.round(results.get(name)!.at(-1)!)}`).join(", ")} req/s`);
  }
  // Per round, each variant against the no-middleware run of the same round.
  const ratio = (name: string) => median(results.get(name)!.map((v, r) => v / results.get("no middleware")![r]!));
  const cpuRatio = (name: string) => median(perCpu.get(name)!.map((v, r) => v / perCpu.get("no middleware")![r]!));

  // The check's own cost per request, in this process (HTTP-level numbers move by more than it).
  log("Per-request cost of each check, in-process…");
  const fakeRequest = { method: "GET", url: "/users", headers: { accept: "application/json" } };
  const fakeResponse = { statusCode: 200, setHeader: () => undefined, end: () => undefined };
  let passed = 0;
  const next = () => void passed++;
  const fileCheck = maintenanceExpress({ store: fileStore({ path: lockFile }), log: () => undefined });
  const postgresCheck = maintenanceExpress({ store: postgresStore({ url }), log: () => undefined });
  await new Promise((r) => setTimeout(r, 500));
  const perCall = (fn: () => void) => {
    const samples: number[] = [];
    for (let round = 0; round < 5; round++) {
      const start = performance.now();
      for (let i = 0; i < 500_000; i++) fn();
      samples.push(((performance.now() - start) * 1e6) / 500_000);
    }
    return median(samples);
  };
  const costs: [string, number][] = [
    ["seeds' existsSync check", perCall(() => (existsSync(lockFile) ? undefined : next()))],
    ["breakwater, file store", perCall(() => fileCheck(fakeRequest, fakeResponse, next))],
    ["breakwater, postgres store", perCall(() => postgresCheck(fakeRequest, fakeResponse, next))],
  ];
  await fileCheck.close();
  await postgresCheck.close();

  log("Flip propagation to 4 processes (postgres store)…");
  const watchers = await Promise.all([0, 1, 2, 3].map(() => startProcess([path.join(here, "..", "test", "fixtures", "watch-maintenance.ts"), url])));
  children.push(...watchers.map((w) => w.child));
  const store = postgresStore({ url });
  const delays: number[] = [];
  for (let f = 0; f < flips * 2; f++) {
    const enabled = f % 2 === 0;
    const counts = watchers.map((w) => w.lines.length);
    const at = Date.now();
    if (enabled) await store.enable({ mode: "full" });
    else await store.disable();
    for (const [i, w] of watchers.entries()) {
      for (;;) {
        const seen = w.lines.slice(counts[i]).map((l) => JSON.parse(l) as { at: number; enabled: boolean });
        const hit = seen.find((s) => s.enabled === enabled);
        if (hit) {
          delays.push(hit.at - at);
          break;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  }

  const lines = [
    "",
    "(ratios: median over rounds of each variant against the no-middleware run of the same round)",
    `bench/maintenance.ts — plain Node HTTP server, 32 connections, ${rounds} interleaved rounds of ${seconds} s per variant (medians)${taskset ? "; load generator on CPU 0, server on CPU 1" : ""}`,
    "",
  ];
  for (const [name] of variants) {
    lines.push(
      `${name.padEnd(28)} ${Math.round(median(results.get(name)!))
        .toLocaleString("en-US")
        .padStart(8)} req/s ${ratio(name).toFixed(3)}×   ${Math.round(median(perCpu.get(name)!))
        .toLocaleString("en-US")
        .padStart(8)} req per server CPU-second ${cpuRatio(name).toFixed(3)}×`,
    );
  }
  lines.push("", "per-request cost of the check itself (in-process, maintenance off, median of 5 × 500,000 calls):");
  for (const [name, ns] of costs) lines.push(`${name.padEnd(28)} ${ns.toFixed(0).padStart(6)} ns`);
  lines.push(
    "",
    `flip propagation, postgres store → 4 processes, ${flips} on + ${flips} off (${delays.length} samples): p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms, max ${Math.max(...delays)} ms   [goal p99 ≤ 1000 ms]`,
    `goal: breakwater ≥ 0.97 × no middleware`,
    "",
  );
  process.stdout.write(lines.join("\n"));
} finally {
  for (const c of children) c.kill();
  await database.drop();
  process.exit(process.exitCode ?? 0);
}
