// bench/startup.ts — how long the command line takes to start, side by side with
// `psql -c 'select 1'` measured in the same run:
//   `breakwater --version`; `breakwater deploy` with nothing pending (20 applied migrations), with
//   no config, with a breakwater.config.ts in an installed project (loaded from its compiled copy
//   in node_modules/.cache), and with one outside an installed project (loaded through tsx).
// Goal: --version and the no-op deploy each under 300 ms (median) on the project's machine.
// Usage: npm run bench:startup [-- --runs 15 --migrations 20]
// Uses BENCH_DATABASE_URL when set, otherwise a throwaway embedded PostgreSQL 15.
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { benchDatabase } from "./fixtures/database.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "15" }, migrations: { type: "string", default: "20" } } });
const runs = Number(values.runs);
const log = (text: string) => process.stderr.write(`${text}\n`);
const bin = path.join(import.meta.dirname, "..", "packages", "breakwater", "bin", "breakwater.js");

function timed(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) =>
    execFile(command, args, options, (error, _stdout, stderr) => (error ? reject(new Error(`${command} ${args.join(" ")}: ${stderr}`)) : resolve(performance.now() - start))),
  );
}

async function median(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<number> {
  await timed(command, args, options); // warm the file cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timed(command, args, options));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const database = await benchDatabase(log);
const url = database.url;
const work = await mkdtemp(path.join(tmpdir(), "breakwater-bench-startup-"));
try {
  const migrations = path.join(work, "prisma", "migrations");
  for (let i = 1; i <= Number(values.migrations); i++) {
    const dir = path.join(migrations, `2025010100${String(i).padStart(4, "0")}_step_${i}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, "migration.sql"), `CREATE TABLE "T${i}" (id serial PRIMARY KEY, name text NOT NULL);\nCREATE INDEX "T${i}_name_idx" ON "T${i}" (name);\n`);
  }
  await writeFile(path.join(migrations, "migration_lock.toml"), 'provider = "postgresql"\n');
  const env = { ...process.env, DATABASE_URL: url, CI: "true" };
  await timed(process.execPath, [bin, "deploy"], { cwd: work, env });

  // The same project with a breakwater.config.ts importing @breakwater/runtime: installed (a
  // node_modules folder, so the config loads from its compiled copy), and not (through tsx).
  const config = 'import { defineConfig } from "@breakwater/runtime";\nexport default defineConfig({ reportDir: "reports", lock: { timeoutMs: 2000 } });\n';
  const withConfig = path.join(work, "with-config");
  await cp(migrations, path.join(withConfig, "prisma", "migrations"), { recursive: true });
  await writeFile(path.join(withConfig, "breakwater.config.ts"), config);
  await symlink(path.join(import.meta.dirname, "..", "node_modules"), path.join(withConfig, "node_modules"));
  const notInstalled = path.join(work, "not-installed");
  await cp(migrations, path.join(notInstalled, "prisma", "migrations"), { recursive: true });
  await writeFile(
    path.join(notInstalled, "breakwater.config.ts"),
    config.replace("@breakwater/runtime", pathToFileURL(path.join(import.meta.dirname, "..", "packages", "runtime", "dist", "index.js")).href),
  );

  const psql = process.env.PSQL ?? "psql";
  log(`Timing ${runs} runs of each (median)…`);
  const baseline = await median(psql, [url, "-X", "-q", "-c", "select 1"], { cwd: work, env });
  const rows: [string, number][] = [
    ["psql -c 'select 1' (baseline)", baseline],
    ["breakwater --version", await median(process.execPath, [bin, "--version"], { cwd: work, env })],
    ["breakwater deploy, nothing pending", await median(process.execPath, [bin, "deploy"], { cwd: work, env })],
    ["breakwater deploy, nothing pending, breakwater.config.ts", await median(process.execPath, [bin, "deploy"], { cwd: withConfig, env })],
    ["  the same, config outside an installed project (tsx)", await median(process.execPath, [bin, "deploy"], { cwd: notInstalled, env })],
  ];
  console.log(`\nStart-up, median of ${runs} runs (${values.migrations} applied migrations):`);
  for (const [what, ms] of rows) {
    const verdict =
      what.startsWith("psql") || what.startsWith(" ") ? ""
      : ms < 300 ? "  under 300 ms"
      : "  OVER 300 ms";
    console.log(`  ${what.padEnd(58)} ${ms.toFixed(0).padStart(5)} ms  ${(ms / baseline).toFixed(1).padStart(5)} × psql${verdict}`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
  await database.drop();
}
