// The packages as users get them: both tarballs from `npm pack`, installed into a throwaway
// project with nothing else from this repository, then used the ways users use them — plain
// node (import and require), an Express 5 app, a Fastify 5 app, `tsc --strict` under
// `module: nodenext` without skipLibCheck, and the command line reading a TypeScript config.
// Each step prints its exact command and result.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createProject, fromTarball, packPackages, repositoryRoot, run, type CommandResult } from "../fixtures/packages.ts";

const rootManifest = JSON.parse(await readFile(path.join(repositoryRoot, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
const versionOf = (name: string) => rootManifest.devDependencies[name] ?? "latest";

/** Prints a step as the user would see it: the command and how it ended. */
function report(result: CommandResult): CommandResult {
  process.stdout.write(`# $ ${result.command}\n#   exit ${result.code}${result.stdout.trim() ? `; ${result.stdout.trim().split("\n").slice(-3).join(" | ")}` : ""}\n`);
  return result;
}

const lockFile = "maintenance/enabled.lock";

const files: Record<string, string> = {
  "db/add-index.sql": `-- an index on a table the application writes to\nCREATE INDEX "User_email_idx" ON "User"("email");\n`,
  "breakwater.config.ts": `import { defineConfig } from "@breakwater/runtime";\n\nexport default defineConfig({\n  maintenance: { file: ${JSON.stringify(lockFile)}, retryAfter: 30 },\n  backup: { dir: "backups" },\n});\n`,
  // Plain node, ESM: every entry point, then the maintenance check against the file store.
  "esm.mjs": `
import * as runtime from "@breakwater/runtime";
import { maintenanceProxy } from "@breakwater/runtime/next";
import { maintenanceExpress } from "@breakwater/runtime/express";
import { maintenanceFastify } from "@breakwater/runtime/fastify";
import { maintenanceFetch } from "@breakwater/runtime/fetch";
import * as cli from "breakwater";
const store = runtime.fileStore({ path: "esm-state/enabled.lock" });
await store.enable({ reason: "esm check", retryAfter: 5 });
const check = runtime.createMaintenanceCheck({ store, log: () => {} });
await check.ready;
const decision = check.check({ method: "GET", path: "/", cookie: null, accept: "text/html" });
await check.close();
await store.disable();
console.log(JSON.stringify({
  adapters: [typeof maintenanceProxy, typeof maintenanceExpress, typeof maintenanceFastify, typeof maintenanceFetch],
  plan: runtime.defineMigration({ id: "x", steps: [runtime.sql("SELECT 1")] }).steps[0].op,
  status: decision.status,
  cli: [typeof cli.runPlan, typeof cli.loadPlan, typeof cli.defineMigration],
}));
`,
  // Plain node, CommonJS: require() of the ESM packages (Node 20.19+).
  "cjs.cjs": `
const runtime = require("@breakwater/runtime");
const { maintenanceProxy } = require("@breakwater/runtime/next");
const { maintenanceExpress } = require("@breakwater/runtime/express");
const { maintenanceFastify } = require("@breakwater/runtime/fastify");
const { maintenanceFetch } = require("@breakwater/runtime/fetch");
(async () => {
  const store = runtime.fileStore({ path: "cjs-state/enabled.lock" });
  await store.enable({ reason: "cjs check" });
  const state = await store.read();
  await store.disable();
  console.log(JSON.stringify({
    adapters: [typeof maintenanceProxy, typeof maintenanceExpress, typeof maintenanceFastify, typeof maintenanceFetch],
    enabled: state.enabled,
    reason: state.reason,
  }));
})();
`,
  "express.mjs": `
import express from "express";
import { fileStore } from "@breakwater/runtime";
import { maintenanceExpress } from "@breakwater/runtime/express";
const app = express();
app.use(maintenanceExpress({ store: fileStore({ path: ${JSON.stringify(lockFile)} }) }));
app.get("/", (_req, res) => { res.send("express ok"); });
const server = app.listen(0, "127.0.0.1", () => console.log("listening " + server.address().port));
`,
  "fastify.mjs": `
import Fastify from "fastify";
import { fileStore } from "@breakwater/runtime";
import { maintenanceFastify } from "@breakwater/runtime/fastify";
const app = Fastify();
await app.register(maintenanceFastify, { store: fileStore({ path: ${JSON.stringify(lockFile)} }) });
app.get("/", async () => "fastify ok");
await app.listen({ port: 0, host: "127.0.0.1" });
console.log("listening " + app.server.address().port);
`,
  // tsc --strict, nodenext, no skipLibCheck: an app, a config, a plan and a script using the CLI's API.
  "tsconfig.json": `${JSON.stringify({ compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", noEmit: true, types: ["node"], lib: ["es2023", "dom"] }, include: ["src", "migrations", "breakwater.config.ts"] }, null, 2)}\n`,
  // An older project: module commonjs, so moduleResolution node10, which ignores package exports.
  "tsconfig.node10.json": `${JSON.stringify({ compilerOptions: { strict: true, module: "commonjs", moduleResolution: "node10", esModuleInterop: true, target: "es2022", noEmit: true, types: ["node"], lib: ["es2023", "dom"] }, include: ["src/app.ts"] }, null, 2)}\n`,
  "src/app.ts": `
import express from "express";
import { fileStore, postgresStore, createMaintenanceCheck, type MaintenanceState, type MaintenanceStore } from "@breakwater/runtime";
import { maintenanceProxy } from "@breakwater/runtime/next";
import { maintenanceExpress } from "@breakwater/runtime/express";
import { maintenanceFastify } from "@breakwater/runtime/fastify";
import { maintenanceFetch } from "@breakwater/runtime/fetch";

const store: MaintenanceStore = process.env.DATABASE_URL ? postgresStore({ url: process.env.DATABASE_URL, timeoutMs: 2000 }) : fileStore({ path: "maintenance/enabled.lock" });
export const proxy = maintenanceProxy({ store, bypass: { secret: "s3cret-value" }, failMode: "open" });
export const handler = maintenanceFetch({ store });
const app = express();
app.use(maintenanceExpress({ store, allowPaths: ["/health"] }));
export const plugin = maintenanceFastify;
export async function state(): Promise<MaintenanceState> {
  const check = createMaintenanceCheck({ store });
  await check.ready;
  await check.close();
  return store.read();
}
export { app };
`,
  "src/legacy.cts": `
import { fileStore } from "@breakwater/runtime";
import { maintenanceExpress } from "@breakwater/runtime/express";
export const middleware = maintenanceExpress({ store: fileStore() });
`,
  "src/deploy.ts": `
import { loadPlan, runPlan, type RunOutcome, type RunnerEvent } from "breakwater";
export async function check(file: string): Promise<string> {
  const loaded = await loadPlan(file);
  const events: RunnerEvent[] = [];
  const outcome: RunOutcome | undefined = undefined;
  return \`\${loaded.plan.id} \${events.length} \${String(outcome)} \${typeof runPlan}\`;
}
`,
  "migrations/2025-11-25_role.ts": `
import { addEnumValue, backfill, defineMigration, renameEnumValue, sql } from "@breakwater/runtime";

export default defineMigration({
  id: "2025-11-25_role",
  steps: [
    addEnumValue({ enum: "Role", value: "GUEST" }),
    renameEnumValue({ enum: "Role", from: "USER", to: "EMPLOYEE", add: ["MANAGER"], contract: "auto" }),
    backfill({ table: { schema: "public", name: "User" }, set: { note: "'moved'" }, where: '"note" IS NULL' }),
    sql("CREATE INDEX IF NOT EXISTS user_note ON \\"User\\" (note)", { down: "DROP INDEX IF EXISTS user_note", phase: "expand" }),
  ],
  checks: [{ name: "no USER left", sql: "SELECT count(*) FROM \\"User\\" WHERE role::text = 'USER'", expect: 0 }],
  batch: { size: 1000 },
});
`,
};

/** Starts a server script, resolving with its base URL once it prints "listening <port>". */
function startServer(dir: string, script: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [script], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const port = /listening (\d+)/.exec(output)?.[1];
      if (port) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${port}/`, child });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${script} exited ${code}: ${output}`)));
  });
}

describe("the packed packages in a fresh project", { timeout: 900_000 }, () => {
  let dir = "";
  const servers: ChildProcess[] = [];
  const npx = (...args: string[]) => run("npx", ["--no-install", ...args], { cwd: dir });

  before(async () => {
    const packed = await packPackages();
    const project = await createProject("consumer", {
      manifest: { type: "module" },
      dependencies: { "@breakwater/runtime": fromTarball(packed.runtime), express: versionOf("express"), fastify: versionOf("fastify") },
      devDependencies: {
        breakwater: fromTarball(packed.cli),
        typescript: versionOf("typescript"),
        "@types/node": versionOf("@types/node"),
        "@types/express": versionOf("@types/express"),
      },
      files,
    });
    dir = project.dir;
    report(project.install);
  });

  after(async () => {
    for (const child of servers) child.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("installs both packages from their tarballs, every entry point resolving to compiled files", async () => {
    const lock = JSON.parse(await readFile(path.join(dir, "package-lock.json"), "utf8")) as { packages: Record<string, { resolved?: string; link?: boolean }> };
    assert.match(lock.packages["node_modules/@breakwater/runtime"]?.resolved ?? "", /\.tgz$/);
    assert.match(lock.packages["node_modules/breakwater"]?.resolved ?? "", /\.tgz$/);
    const entries = ["@breakwater/runtime", "@breakwater/runtime/next", "@breakwater/runtime/express", "@breakwater/runtime/fastify", "@breakwater/runtime/fetch", "breakwater"];
    const resolved = report(
      await run(process.execPath, ["--input-type=module", "-e", `console.log(JSON.stringify(${JSON.stringify(entries)}.map((e) => import.meta.resolve(e))))`], { cwd: dir }),
    );
    for (const url of JSON.parse(resolved.stdout) as string[]) {
      assert.match(url, /\/node_modules\/(@breakwater\/runtime|breakwater)\/dist\/.+\.js$/);
      await readFile(new URL(url));
      await readFile(new URL(url.replace(/\.js$/, ".d.ts")));
    }
  });

  it("works with plain node: import of every entry point", async () => {
    const result = report(await run(process.execPath, ["esm.mjs"], { cwd: dir }));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      adapters: ["function", "function", "function", "function"],
      plan: "sql",
      status: 503,
      cli: ["function", "function", "function"],
    });
    assert.equal(result.stderr, "");
  });

  it("works with plain node: require() of every entry point", async () => {
    const result = report(await run(process.execPath, ["cjs.cjs"], { cwd: dir }));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { adapters: ["function", "function", "function", "function"], enabled: true, reason: "cjs check" });
    assert.equal(result.stderr, "", "no warning on require()");
  });

  it("type-checks under tsc --strict, module nodenext, without skipLibCheck", async () => {
    const result = report(await npx("tsc", "-p", "tsconfig.json"));
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
    assert.equal(result.stdout, "");
  });

  it("type-checks in an older project (module commonjs, moduleResolution node10: the subpaths through typesVersions)", async () => {
    const result = report(await npx("tsc", "-p", "tsconfig.node10.json"));
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
    assert.equal(result.stdout, "");
  });

  for (const framework of ["express", "fastify"]) {
    it(`answers 503 in a ${framework} 5 app while \`breakwater maintenance on\`, 200 after off`, async () => {
      const { url, child } = await startServer(dir, `${framework}.mjs`);
      servers.push(child);
      assert.equal((await fetch(url)).status, 200);
      const on = report(await npx("breakwater", "maintenance", "on", "--reason", "Upgrading the database"));
      assert.equal(on.code, 0, on.stderr);
      let response = await fetch(url);
      for (let i = 0; i < 50 && response.status !== 503; i++) {
        await new Promise((r) => setTimeout(r, 100));
        response = await fetch(url);
      }
      assert.equal(response.status, 503);
      assert.match(await response.text(), /Upgrading the database/);
      assert.equal(response.headers.get("retry-after"), "30", "retryAfter from breakwater.config.ts");
      const off = report(await npx("breakwater", "maintenance", "off"));
      assert.equal(off.code, 0, off.stderr);
      for (let i = 0; i < 50 && response.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        response = await fetch(url);
      }
      assert.equal(response.status, 200);
      child.kill();
    });
  }

  it("runs the command line from the tarball: --version and --help", async () => {
    const version = report(await npx("breakwater", "--version"));
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
    const help = report(await npx("breakwater", "--help"));
    assert.equal(help.code, 0);
    assert.match(help.stdout, /maintenance/);
  });

  it("lints migrations from the tarball (the bundled lint command, PostgreSQL's parser, the project's TypeScript config)", async () => {
    const found = report(await npx("breakwater", "lint", "--format", "json", "--no-catalog", "db/add-index.sql"));
    assert.equal(found.code, 1, found.stderr);
    const findings = (JSON.parse(found.stdout) as { findings: { rule: string; line: number }[] }).findings;
    assert.deepEqual(
      findings.filter((f) => f.rule === "index-not-concurrent").map((f) => f.line),
      [2],
    );
    const clean = report(await npx("breakwater", "lint", "--no-catalog", "--rule", "index-not-concurrent=off", "--rule", "missing-lock-timeout=off", "db/add-index.sql"));
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    const unreadable = report(await npx("breakwater", "lint", "--no-catalog", "db/missing.sql"));
    assert.equal(unreadable.code, 2);
  });
});

/** Bytes of every file under `dir` (apparent size, as npm reports unpacked sizes). */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await bytesUnder(full);
    else if (entry.isFile()) total += (await stat(full)).size;
  }
  return total;
}

/** The production packages installed in a project: node_modules/<name> → bytes. */
async function installedPackages(dir: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  const modules = path.join(dir, "node_modules");
  for (const entry of await readdir(modules)) {
    if (entry.startsWith(".")) continue;
    const names = entry.startsWith("@") ? (await readdir(path.join(modules, entry))).map((n) => `${entry}/${n}`) : [entry];
    for (const name of names) sizes.set(name, await bytesUnder(path.join(modules, name)));
  }
  return sizes;
}

const megabytes = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`;
const isPg = (name: string) => /^(pg|pg-.*|pgpass|postgres-.*|split2|xtend)$/.test(name);

describe("install size", { timeout: 600_000 }, () => {
  it("an app using only the middleware installs at most 5 MB beside pg; the command line's size is printed", async () => {
    const packed = await packPackages();
    const app = await createProject("middleware-only", { dependencies: { "@breakwater/runtime": fromTarball(packed.runtime) } });
    const appPackages = await installedPackages(app.dir);
    const beside = [...appPackages].filter(([name]) => !isPg(name));
    const besideBytes = beside.reduce((sum, [, bytes]) => sum + bytes, 0);
    const pgBytes = [...appPackages].filter(([name]) => isPg(name)).reduce((sum, [, bytes]) => sum + bytes, 0);
    // Until @breakwater/runtime is on the registry, the command line's dependency on it comes from its tarball too.
    const cli = await createProject("cli-only", { devDependencies: { breakwater: fromTarball(packed.cli), "@breakwater/runtime": fromTarball(packed.runtime) } });
    const cliPackages = await installedPackages(cli.dir);
    const cliBytes = [...cliPackages.values()].reduce((sum, bytes) => sum + bytes, 0);
    const largest = [...cliPackages]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([name, bytes]) => `${name} ${megabytes(bytes)}`);
    process.stdout.write(
      `# npm install @breakwater/runtime: ${megabytes(besideBytes)} (${beside.map(([name]) => name).join(", ")}) + pg ${megabytes(pgBytes)}\n` +
        `# npm install -D breakwater: ${megabytes(cliBytes)} in ${cliPackages.size} packages; largest: ${largest.join(", ")}\n`,
    );
    await Promise.all([rm(app.dir, { recursive: true, force: true }), rm(cli.dir, { recursive: true, force: true })]);
    assert.ok(besideBytes <= 5_000_000, `the runtime installs ${megabytes(besideBytes)} beside pg`);
    assert.deepEqual(
      beside.map(([name]) => name),
      ["@breakwater/runtime"],
      "the runtime's only dependency is pg",
    );
  });
});
