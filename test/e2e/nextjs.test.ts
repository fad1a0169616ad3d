// End to end: the examples/nextjs app (Next.js 16, Prisma Client 7 with @prisma/adapter-pg,
// @breakwater/runtime in proxy.ts, both packages installed from `npm pack`) built with plain
// `next build` and started for real, driven by headless Chromium while the example's own
// `breakwater maintenance` flips it. Screenshots go to test-output/e2e/.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { execFile } from "node:child_process";
import { chromium, type Browser } from "playwright-core";
import { freePort } from "../../packages/breakwater/src/db/embedded.ts";
import { createTestDatabase, root, tempProject, waitFor, type TestDatabase } from "../harness.ts";

const run = promisify(execFile);
const example = path.join(root, "examples", "nextjs");
const shots = path.join(root, "test-output", "e2e");
const nextBin = path.join(example, "node_modules", "next", "dist", "bin", "next");
/** the CLI the example installed from its tarball, as `npx breakwater` runs it there */
const exampleCli = path.join(example, "node_modules", "breakwater", "bin", "breakwater.js");
const chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

describe("examples/nextjs under maintenance, in Chromium", { timeout: 300_000 }, () => {
  let t: TestDatabase;
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let base = "";
  let dir = "";
  const lockFile = () => path.join(dir, "maintenance", "enabled.lock");
  const maintenance = async (...args: string[]) => {
    await run(process.execPath, [exampleCli, "maintenance", ...args], { cwd: dir, env: { ...process.env, CI: "true" } });
  };

  before(async () => {
    assert.ok(chromiumPath, "Chromium is needed: apt-get install chromium (bin/test.js installs it when it can)");
    for (const installed of ["next", "@breakwater/runtime", "breakwater"]) {
      assert.ok(
        existsSync(path.join(example, "node_modules", installed)),
        `examples/nextjs has no node_modules/${installed}: run \`node scripts/install-breakwater.mjs\` in examples/nextjs (bin/test.js does it)`,
      );
    }
    t = await createTestDatabase();
    dir = await tempProject({ "breakwater.config.ts": "" });
    await writeFile(path.join(dir, "breakwater.config.ts"), `export default { maintenance: { file: ${JSON.stringify(path.join(dir, "maintenance", "enabled.lock"))} } };\n`);
    const env = { ...process.env, DATABASE_URL: t.url, NEXT_TELEMETRY_DISABLED: "1", PRISMA_SCHEMA_ENGINE_BINARY: "/bin/true" };
    await run(process.execPath, ["scripts/setup-db.mjs"], { cwd: example, env });
    await run(process.execPath, [path.join(example, "node_modules", "prisma", "build", "index.js"), "generate"], { cwd: example, env });
    // Plain `next build`: Next 16's default bundler (Turbopack), no breakwater-specific config.
    const started = performance.now();
    const build = await run(process.execPath, [nextBin, "build"], { cwd: example, env, maxBuffer: 64 * 1024 * 1024 });
    console.log(`examples/nextjs: \`next build\` exited 0 in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.match(build.stdout, /Next\.js 16\.\S+ \(Turbopack\)/, "next build used Turbopack");
    assert.match(build.stdout, /Proxy \(Middleware\)/, "proxy.ts is in the build");
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [nextBin, "start", "-p", String(port), "-H", "127.0.0.1"], {
      cwd: example,
      env: { ...env, BREAKWATER_MAINTENANCE_FILE: lockFile() },
      stdio: "ignore",
    });
    await waitFor(async () => (await fetch(`${base}/api/health`).catch(() => null))?.ok, 60_000, 200);
    browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--disable-background-networking"] });
    await mkdir(shots, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    server?.kill();
    await t?.drop();
  });

  it("bundles proxy.ts with @breakwater/runtime from the example's node_modules, nothing from packages/", async () => {
    const server = path.join(example, ".next", "server");
    const traced: string[] = JSON.parse(await readFile(path.join(server, "middleware.js.nft.json"), "utf8")).files.map((f: string) => path.resolve(server, f));
    const runtime = traced.filter((f) => f.includes(`${path.sep}@breakwater${path.sep}runtime${path.sep}`));
    assert.ok(runtime.length > 0, "the proxy's trace lists @breakwater/runtime");
    assert.deepEqual(
      runtime.filter((f) => !f.startsWith(path.join(example, "node_modules", "@breakwater", "runtime", "dist") + path.sep)),
      [],
    );
    assert.deepEqual(
      traced.filter((f) => f.startsWith(path.join(root, "packages") + path.sep)),
      [],
      "nothing from the repository's packages/",
    );
  });

  it("serves the app, shows the 503 page in full mode, refuses only the form's POST in read-only mode, and recovers", async () => {
    const page = await browser!.newPage();
    const first = await page.goto(`${base}/`);
    assert.equal(first?.status(), 200);
    assert.deepEqual(await page.locator("#users li").allTextContents(), ["ada@example.com — ADMIN", "grace@example.com — MANAGER", "linus@example.com — EMPLOYEE"]);
    await page.fill('input[name="email"]', "new@example.com");
    await page.click("button[type=submit]");
    await page.locator("#users li", { hasText: "new@example.com" }).waitFor();
    await page.screenshot({ path: path.join(shots, "1-normal.png") });

    await maintenance("on", "--reason", "Role migration in progress");
    const blocked = await waitFor(
      async () => {
        const response = await page.goto(`${base}/`);
        return response?.status() === 503 ? response : undefined;
      },
      5000,
      100,
    );
    assert.equal(blocked.headers()["retry-after"], "60");
    assert.match((await page.textContent("body")) ?? "", /Maintenance in progress[\s\S]*Role migration in progress/);
    await page.screenshot({ path: path.join(shots, "2-maintenance-full.png") });
    assert.equal((await fetch(`${base}/api/health`)).status, 200, "health check open");

    await maintenance("on", "--read-only", "--reason", "Read-only while we migrate");
    const readable = await waitFor(
      async () => {
        const response = await page.goto(`${base}/`);
        return response?.status() === 200 ? response : undefined;
      },
      5000,
      100,
    );
    assert.ok(readable);
    assert.equal(await page.locator("#users li").count(), 4, "GET still works");
    await page.screenshot({ path: path.join(shots, "3-maintenance-read-only.png") });
    await page.fill('input[name="email"]', "refused@example.com");
    const [post] = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"), page.click("button[type=submit]")]);
    assert.equal(post.status(), 503, "the form's POST is refused");
    await page.screenshot({ path: path.join(shots, "3b-read-only-post-refused.png") });
    const refused = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE email = 'refused@example.com'`);
    assert.equal(refused.n, 0);

    await maintenance("off");
    await waitFor(async () => (await page.goto(`${base}/`))?.status() === 200, 5000, 100);
    await page.fill('input[name="email"]', "after@example.com");
    await page.click("button[type=submit]");
    await page.locator("#users li", { hasText: "after@example.com" }).waitFor();
    await page.screenshot({ path: path.join(shots, "4-after.png") });
    assert.equal(existsSync(lockFile()), false);
  });
});
