// End to end: the examples/nextjs app (Next.js 16, Prisma Client 7 with @prisma/adapter-pg,
// breakwater in proxy.ts) built and started for real, driven by headless Chromium while
// `breakwater maintenance` flips it. Screenshots go to test-output/e2e/.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { execFile } from "node:child_process";
import { chromium, type Browser } from "playwright-core";
import { freePort } from "../../packages/breakwater/src/db/embedded.ts";
import { createTestDatabase, root, runCli, tempProject, waitFor, type TestDatabase } from "../harness.ts";

const run = promisify(execFile);
const example = path.join(root, "examples", "nextjs");
const shots = path.join(root, "test-output", "e2e");
const chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

describe("examples/nextjs under maintenance, in Chromium", { timeout: 300_000 }, () => {
  let t: TestDatabase;
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let base = "";
  let dir = "";
  const lockFile = () => path.join(dir, "maintenance", "enabled.lock");
  const maintenance = async (...args: string[]) => {
    const result = await runCli(["maintenance", ...args], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
  };

  before(async () => {
    assert.ok(chromiumPath, "Chromium is needed: apt-get install chromium (bin/test.js installs it when it can)");
    assert.ok(existsSync(path.join(example, "node_modules", "next")), "examples/nextjs dependencies are missing: run `npm ci` in examples/nextjs (bin/test.js does it)");
    t = await createTestDatabase();
    dir = await tempProject({ "breakwater.config.ts": "" });
    await writeFile(path.join(dir, "breakwater.config.ts"), `export default { maintenance: { file: ${JSON.stringify(path.join(dir, "maintenance", "enabled.lock"))} } };\n`);
    const env = { ...process.env, DATABASE_URL: t.url, NEXT_TELEMETRY_DISABLED: "1", PRISMA_SCHEMA_ENGINE_BINARY: "/bin/true" };
    await run(process.execPath, ["scripts/setup-db.mjs"], { cwd: example, env });
    await run(process.execPath, [path.join(example, "node_modules", "prisma", "build", "index.js"), "generate"], { cwd: example, env });
    await run(process.execPath, [path.join(example, "node_modules", "next", "dist", "bin", "next"), "build", "--webpack"], { cwd: example, env, maxBuffer: 64 * 1024 * 1024 });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [path.join(example, "node_modules", "next", "dist", "bin", "next"), "start", "-p", String(port), "-H", "127.0.0.1"], {
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
    const blocked = await waitFor(async () => {
      const response = await page.goto(`${base}/`);
      return response?.status() === 503 ? response : undefined;
    }, 5000, 100);
    assert.equal(blocked.headers()["retry-after"], "60");
    assert.match(await page.textContent("body") ?? "", /Maintenance in progress[\s\S]*Role migration in progress/);
    await page.screenshot({ path: path.join(shots, "2-maintenance-full.png") });
    assert.equal((await fetch(`${base}/api/health`)).status, 200, "health check open");

    await maintenance("on", "--read-only", "--reason", "Read-only while we migrate");
    const readable = await waitFor(async () => {
      const response = await page.goto(`${base}/`);
      return response?.status() === 200 ? response : undefined;
    }, 5000, 100);
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
