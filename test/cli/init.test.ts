// `breakwater init` in throwaway projects on disk (a package.json and folders, no npm install),
// run through the compiled command line.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { root, runCli } from "../harness.ts";

/** A project folder: path → contents; a path ending in "/" is an empty folder. */
async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "breakwater-init-"));
  for (const [name, contents] of Object.entries(files)) {
    const full = path.join(dir, name);
    if (name.endsWith("/")) {
      await mkdir(full, { recursive: true });
      continue;
    }
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, contents);
  }
  return dir;
}

const manifest = (value: Record<string, unknown>) => `${JSON.stringify({ name: "app", private: true, ...value }, null, 2)}\n`;
const read = (dir: string, file: string) => readFile(path.join(dir, file), "utf8");
const init = (dir: string, ...args: string[]) => runCli(["init", ...args], { cwd: dir, env: { DATABASE_URL: "" } });

/** Every file under dir (node_modules aside) with its contents and modification time. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (sub: string) => {
    for (const entry of await readdir(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.name === "node_modules") continue;
      if (entry.isDirectory()) await walk(rel);
      else out[rel] = `${(await stat(path.join(dir, rel))).mtimeMs} ${await read(dir, rel)}`;
    }
  };
  await walk("");
  return out;
}

/** Makes the written config loadable: @breakwater/runtime as this checkout's built package. */
async function linkRuntime(dir: string): Promise<void> {
  await mkdir(path.join(dir, "node_modules", "@breakwater"), { recursive: true });
  await symlink(path.join(root, "packages", "runtime"), path.join(dir, "node_modules", "@breakwater", "runtime"), "dir");
}

const next16 = { dependencies: { next: "16.4.6", react: "^19.2.0", "react-dom": "^19.2.0" } };

describe("breakwater init", () => {
  it("sets up a Next.js 16 app: config, proxy.ts, .gitignore, scripts, and says what to install", async () => {
    const dir = await project({ "package.json": manifest(next16), "tsconfig.json": "{}\n", "app/": "" });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);

    const proxy = await read(dir, "proxy.ts");
    assert.match(proxy, /^import \{ fileStore, maintenanceProxy, postgresStore \} from "@breakwater\/runtime\/next";$/m);
    assert.match(proxy, /^export const proxy = maintenanceProxy\(/m);
    assert.match(proxy, /process\.env\.BREAKWATER_MAINTENANCE_STORE === "postgres"/);
    assert.ok(proxy.includes('matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"]'));
    assert.doesNotMatch(proxy, /runtime: "nodejs"/, "proxy.ts always runs on Node.js");
    assert.equal(existsSync(path.join(dir, "middleware.ts")), false);

    // create-next-app writes no "type": the config's extension makes it an ES module anyway.
    const config = await read(dir, "breakwater.config.ts");
    assert.match(config, /^import \{ defineConfig \} from "@breakwater\/runtime";$/m);
    assert.match(config, /dir: "backups"/);
    assert.match(config, /reportDir: "breakwater-reports"/);
    assert.match(config, /"maintenance\/enabled\.lock"/);

    assert.deepEqual(
      (await read(dir, ".gitignore")).split("\n").filter((l) => l && !l.startsWith("#")),
      ["maintenance/", "backups/", "breakwater-reports/"],
    );
    const pkg = JSON.parse(await read(dir, "package.json")) as { scripts: Record<string, string>; dependencies: Record<string, string> };
    assert.deepEqual(pkg.scripts, {
      "maintenance:on": "breakwater maintenance on",
      "maintenance:off": "breakwater maintenance off",
      "maintenance:status": "breakwater maintenance status",
    });
    assert.deepEqual(pkg.dependencies, next16.dependencies, "dependencies untouched");

    assert.match(result.stdout, /Project: Next\.js 16\.4\.6, TypeScript, npm/);
    assert.match(result.stdout, /created\s+breakwater\.config\.ts/);
    assert.match(result.stdout, /created\s+proxy\.ts/);
    assert.match(result.stdout, /created\s+\.gitignore/);
    assert.match(result.stdout, /updated\s+package\.json\s+added scripts maintenance:on, maintenance:off, maintenance:status/);
    assert.match(result.stdout, /^ {2}npm install @breakwater\/runtime$/m);
    assert.match(result.stdout, /^ {2}npm install --save-dev breakwater$/m);
    assert.match(result.stdout, /npm run build && npm start/);
    assert.match(result.stdout, /npx breakwater maintenance on/);
    assert.doesNotMatch(result.stdout, /[^\x20-\x7e\n]/, "plain ASCII text");
    assert.equal(result.stderr, "");
  });

  it('writes breakwater.config.ts in a "type": "module" TypeScript project, and the CLI loads it', async () => {
    const dir = await project({ "package.json": manifest({ type: "module", ...next16 }), "tsconfig.json": "{}\n", "app/": "" });
    assert.equal((await init(dir)).code, 0);
    assert.ok(existsSync(path.join(dir, "breakwater.config.ts")));
    await linkRuntime(dir);
    const on = await runCli(["maintenance", "on", "--json"], { cwd: dir, env: { DATABASE_URL: "" } });
    assert.equal(on.code, 0, on.stderr);
    assert.equal((JSON.parse(on.stdout) as { location: string }).location, path.join(dir, "maintenance", "enabled.lock"));
    assert.ok(existsSync(path.join(dir, "maintenance", "enabled.lock")));
  });

  it('writes a config the CLI loads in a TypeScript project without "type": "module"', async () => {
    const dir = await project({ "package.json": manifest(next16), "tsconfig.json": "{}\n", "app/": "" });
    assert.equal((await init(dir)).code, 0);
    await linkRuntime(dir);
    const on = await runCli(["maintenance", "on"], { cwd: dir, env: { DATABASE_URL: "", BREAKWATER_MAINTENANCE_FILE: "state/lock" } });
    assert.equal(on.code, 0, on.stderr);
    assert.ok(existsSync(path.join(dir, "state", "lock")), "the config reads BREAKWATER_MAINTENANCE_FILE like proxy.ts");
  });

  it("puts proxy.ts in src/ when the app lives in src/app", async () => {
    const dir = await project({ "package.json": manifest(next16), "tsconfig.json": "{}\n", "src/app/": "" });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(await read(dir, "src/proxy.ts"), /export const proxy = maintenanceProxy/);
    assert.equal(existsSync(path.join(dir, "proxy.ts")), false);
    assert.match(result.stdout, /created\s+src\/proxy\.ts/);
    assert.match(result.stdout, /Next\.js 16\.4\.6 \(src\/\)/);
  });

  it("puts the proxy in src/ for the pages router in src/pages too", async () => {
    const dir = await project({ "package.json": manifest(next16), "src/pages/": "" });
    assert.equal((await init(dir)).code, 0);
    assert.match(await read(dir, "src/proxy.js"), /export const proxy = maintenanceProxy/);
    assert.doesNotMatch(await read(dir, "src/proxy.js"), /DATABASE_URL!/, "no TypeScript in a .js file");
  });

  it("writes middleware.ts on the Node.js runtime for Next.js 15", async () => {
    const dir = await project({ "package.json": manifest({ dependencies: { next: "^15.5.2" } }), "tsconfig.json": "{}\n", "app/": "" });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    const middleware = await read(dir, "middleware.ts");
    assert.match(middleware, /^export const middleware = maintenanceProxy\(/m);
    assert.match(middleware, /export const config = \{\n[^}]*runtime: "nodejs",\n\s+matcher: \["\/\(\(\?!_next\/static\|_next\/image\|favicon\.ico\)\.\*\)"\],\n\};/);
    assert.equal(existsSync(path.join(dir, "proxy.ts")), false);
    assert.match(result.stdout, /created\s+middleware\.ts/);
    assert.doesNotMatch(result.stdout, /Warning/);
  });

  it("warns that Next.js 15 before 15.5 cannot run middleware on Node.js, and writes no middleware for Next.js 14", async () => {
    const early = await project({ "package.json": manifest({ dependencies: { next: "~15.3.0" } }), "app/": "" });
    const warned = await init(early);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stdout, /Warning: middleware\.ts with runtime "nodejs" needs Next\.js 15\.5 or later \(found ~15\.3\.0\)/);

    const old = await project({ "package.json": manifest({ dependencies: { next: "14.2.3" } }), "app/": "" });
    const refused = await init(old);
    assert.equal(refused.code, 0, refused.stderr);
    assert.equal(existsSync(path.join(old, "middleware.js")), false);
    assert.match(refused.stdout, /add by hand\s+middleware\.js\s+needs Next\.js 15\.5 or later \(found 14\.2\.3\)/);
  });

  it("prints the Express lines instead of guessing the entry file", async () => {
    const dir = await project({ "package.json": manifest({ type: "module", dependencies: { express: "^5.1.0" } }), "server.js": "// the app\n" });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.includes('import { fileStore } from "@breakwater/runtime";'));
    assert.ok(result.stdout.includes('import { maintenanceExpress } from "@breakwater/runtime/express";'));
    assert.ok(result.stdout.includes("app.use(maintenanceExpress({ store: fileStore() }));"));
    assert.equal(await read(dir, "server.js"), "// the app\n");
    assert.ok(existsSync(path.join(dir, "breakwater.config.mjs")), "JavaScript project: .mjs");
    assert.equal(existsSync(path.join(dir, "proxy.js")), false);
  });

  it("prints require() lines for a CommonJS Fastify app", async () => {
    const dir = await project({ "package.json": manifest({ dependencies: { fastify: "^5.0.0" } }) });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.includes('const { fileStore } = require("@breakwater/runtime");'));
    assert.ok(result.stdout.includes('const { maintenanceFastify } = require("@breakwater/runtime/fastify");'));
    assert.ok(result.stdout.includes("await app.register(maintenanceFastify, { store: fileStore() });"));
    assert.match(result.stdout, /Project: Fastify, JavaScript, npm/);
  });

  it("gives a plain project the config and the fetch-handler lines", async () => {
    const dir = await project({ "package.json": manifest({ type: "module" }) });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(existsSync(path.join(dir, "breakwater.config.mjs")));
    assert.match(result.stdout, /Project: no web framework, JavaScript, npm/);
    assert.ok(result.stdout.includes('import { maintenanceFetch } from "@breakwater/runtime/fetch";'));
    assert.deepEqual((await readdir(dir)).sort(), [".gitignore", "breakwater.config.mjs", "package.json"]);
  });

  it("adds db:deploy for a Prisma project and uses the project's package manager", async () => {
    const dir = await project({
      "package.json": manifest({ dependencies: { next: "16.4.6", "@prisma/client": "7.0.0", "@breakwater/runtime": "0.1.0" }, devDependencies: { prisma: "7.0.0" } }),
      "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
      "prisma/schema.prisma": "// schema\n",
    });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(await read(dir, "package.json")) as { scripts: Record<string, string> }).scripts["db:deploy"], "breakwater deploy");
    assert.match(result.stdout, /Project: Next\.js 16\.4\.6, JavaScript, Prisma, pnpm/);
    assert.doesNotMatch(result.stdout, /pnpm add @breakwater\/runtime/, "already a dependency");
    assert.match(result.stdout, /^ {2}pnpm add -D breakwater$/m);
    assert.match(result.stdout, /npx breakwater deploy/);
  });

  it("never touches an existing proxy.ts and prints the lines to add", async () => {
    const existing = 'import { NextResponse } from "next/server";\n\nexport function proxy() {\n  return NextResponse.next();\n}\n';
    const dir = await project({ "package.json": manifest(next16), "tsconfig.json": "{}\n", "proxy.ts": existing, "app/": "" });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await read(dir, "proxy.ts"), existing);
    assert.match(result.stdout, /add by hand\s+proxy\.ts\s+exists, left as it is; add these lines/);
    assert.match(result.stdout, /^ {6}import \{ fileStore, maintenanceProxy, postgresStore \} from "@breakwater\/runtime\/next";$/m);
    assert.match(result.stdout, /^ {6}const maintenance = maintenanceProxy\(\{ store \}\);$/m);
    assert.match(result.stdout, /^ {8}const response = await maintenance\(request\);$/m);
    assert.match(result.stdout, /^ {8}if \(response\) return response;$/m);
  });

  it("on Next.js 16 leaves an existing middleware.ts alone and creates no proxy.ts beside it", async () => {
    const existing = "export function middleware() {}\n";
    const dir = await project({ "package.json": manifest(next16), "tsconfig.json": "{}\n", "middleware.ts": existing, "app/": "" });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await read(dir, "middleware.ts"), existing);
    assert.equal(existsSync(path.join(dir, "proxy.ts")), false, "Next.js refuses both files");
    assert.match(result.stdout, /add by hand\s+middleware\.ts\s+exists; Next\.js 16 runs breakwater in proxy\.ts: rename middleware\.ts to proxy\.ts/);
  });

  it("appends only the missing .gitignore entries, keeping the file as it was", async () => {
    const before = "node_modules\n/maintenance";
    const dir = await project({ "package.json": manifest({}), ".gitignore": before });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    const after = await read(dir, ".gitignore");
    assert.ok(after.startsWith(`${before}\n`), after);
    assert.deepEqual(
      after.split("\n").filter((l) => /maintenance|backups|breakwater-reports/.test(l) && !l.startsWith("#")),
      ["/maintenance", "backups/", "breakwater-reports/"],
    );
    assert.match(result.stdout, /updated\s+\.gitignore\s+added backups\/, breakwater-reports\//);
  });

  it("keeps an existing script of the same name, the indentation and the missing final newline", async () => {
    const before = JSON.stringify({ name: "app", scripts: { "maintenance:on": "my-own-script" } }, null, "\t");
    const dir = await project({ "package.json": before });
    const result = await init(dir);
    assert.equal(result.code, 0, result.stderr);
    const after = await read(dir, "package.json");
    assert.equal(
      after,
      JSON.stringify(
        { name: "app", scripts: { "maintenance:on": "my-own-script", "maintenance:off": "breakwater maintenance off", "maintenance:status": "breakwater maintenance status" } },
        null,
        "\t",
      ),
    );
    assert.match(result.stdout, /added scripts maintenance:off, maintenance:status; kept your own maintenance:on/);
  });

  it("changes nothing when run a second time", async () => {
    const dir = await project({ "package.json": manifest(next16), "tsconfig.json": "{}\n", "src/app/": "" });
    assert.equal((await init(dir)).code, 0);
    const first = await snapshot(dir);
    const second = await init(dir);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(await snapshot(dir), first);
    assert.doesNotMatch(second.stdout, /created|updated/);
    assert.match(second.stdout, /skipped\s+breakwater\.config\.ts\s+exists/);
    assert.match(second.stdout, /add by hand\s+src\/proxy\.ts/);
    assert.match(second.stdout, /skipped\s+\.gitignore/);
    assert.match(second.stdout, /skipped\s+package\.json/);
  });

  it("writes nothing with --dry-run and says what it would do", async () => {
    const dir = await project({ "package.json": manifest(next16), "tsconfig.json": "{}\n", "app/": "", ".gitignore": "node_modules\n" });
    const before = await snapshot(dir);
    const result = await init(dir, "--dry-run");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await snapshot(dir), before);
    assert.match(result.stdout, /--dry-run: nothing is written/);
    assert.match(result.stdout, /would create\s+breakwater\.config\.ts/);
    assert.match(result.stdout, /would create\s+proxy\.ts/);
    assert.match(result.stdout, /would update\s+\.gitignore/);
    assert.match(result.stdout, /would update\s+package\.json/);
  });

  it("prints a JSON summary with --json", async () => {
    const dir = await project({
      "package.json": manifest({ dependencies: { next: "16.4.6", express: "^5.0.0" } }),
      "tsconfig.json": "{}\n",
      "app/": "",
      "proxy.ts": "export {};\n",
    });
    const result = await init(dir, "--json");
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(summary), ["type", "dryRun", "project", "files", "install", "nextSteps", "warnings"]);
    assert.equal(summary.type, "result");
    assert.equal(summary.dryRun, false);
    assert.deepEqual(summary.project, {
      name: "app",
      typescript: true,
      moduleStyle: "esm",
      packageManager: "npm",
      frameworks: ["next", "express"],
      next: { version: "16.4.6", major: 16, minor: 4, dir: "." },
      prisma: false,
      runtimeInstalled: false,
      cliInstalled: false,
    });
    const files = summary.files as Array<{ path: string; action: string; written: boolean; lines?: string }>;
    assert.deepEqual(
      files.map((f) => [f.path, f.action, f.written]),
      [
        ["breakwater.config.ts", "create", true],
        ["proxy.ts", "manual", false],
        [".gitignore", "create", true],
        ["package.json", "update", true],
      ],
    );
    assert.match(files[1]!.lines!, /const response = await maintenance\(request\);/);
    assert.deepEqual(summary.install, ["npm install @breakwater/runtime", "npm install --save-dev breakwater"]);
    assert.ok((summary.nextSteps as string[]).some((s) => s.startsWith("npx breakwater maintenance on")));

    const dry = JSON.parse((await init(await project({ "package.json": manifest({}) }), "--json", "--dry-run")).stdout) as { dryRun: boolean; files: Array<{ written: boolean }> };
    assert.equal(dry.dryRun, true);
    assert.ok(dry.files.every((f) => !f.written));
  });

  it("exits 2 with a clear message when there is no package.json, and writes nothing", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "breakwater-init-empty-"));
    const result = await init(dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /No package\.json in .*: breakwater init sets up a Node\.js project\. \[BW_CONFIG_INVALID\]/);
    assert.match(result.stderr, /hint: Run it in the folder of your app's package\.json/);
    assert.deepEqual(await readdir(dir), []);

    const json = await init(dir, "--json");
    assert.equal(json.code, 2);
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, "BW_CONFIG_INVALID");
  });

  it("exits 2 when package.json is not JSON", async () => {
    const dir = await project({ "package.json": "{ nope" });
    const result = await init(dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /package\.json cannot be read/);
    assert.deepEqual(await readdir(dir), ["package.json"]);
  });
});
