// From an empty Next.js 16 app to a working 503, as a new user does it: install both packages
// from their `npm pack` tarballs, `npx breakwater init`, `next build` (Turbopack, no special
// config), `next start`, `npx breakwater maintenance on` seen in headless Chromium, then off.
// Each step prints its exact command and result; the 503 page is saved to test-output/.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { freePort } from "../../packages/breakwater/src/db/embedded.ts";
import { createProject, fromTarball, packPackages, repositoryRoot, run, type CommandResult } from "../fixtures/packages.ts";
import { waitFor } from "../harness.ts";

const chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const screenshot = path.join(repositoryRoot, "test-output", "init-nextjs-503.png");
const nextVersion = (JSON.parse(await readFile(path.join(repositoryRoot, "examples", "nextjs", "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies
  .next!;

const files: Record<string, string> = {
  "app/layout.tsx": `export const metadata = { title: "Fresh app" };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
`,
  "app/page.tsx": `export default function Home() {
  return <h1>Hello from a fresh Next.js app</h1>;
}
`,
  // What create-next-app writes.
  "tsconfig.json": `${JSON.stringify(
    {
      compilerOptions: {
        target: "ES2017",
        lib: ["dom", "dom.iterable", "esnext"],
        allowJs: true,
        skipLibCheck: true,
        strict: true,
        noEmit: true,
        esModuleInterop: true,
        module: "esnext",
        moduleResolution: "bundler",
        resolveJsonModule: true,
        isolatedModules: true,
        jsx: "react-jsx",
        incremental: true,
        plugins: [{ name: "next" }],
        paths: { "@/*": ["./*"] },
      },
      include: ["next-env.d.ts", "**/*.ts", "**/*.tsx", ".next/types/**/*.ts"],
      exclude: ["node_modules"],
    },
    null,
    2,
  )}\n`,
};

/** The environment of a user's shell: no npm script variables, no database. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", CI: "true" };
  for (const name of Object.keys(env)) if (name.startsWith("npm_") || name === "DATABASE_URL" || name.startsWith("BREAKWATER_")) delete env[name];
  return env;
}

/** Prints a step as the user sees it: the command, its output (the last lines of long ones) and how it ended. */
function report(result: CommandResult, startedAt: number, options: { lines?: number } = {}): CommandResult {
  const output = `${result.stdout}${result.stderr}`.trimEnd().split("\n");
  const shown = options.lines === undefined || output.length <= options.lines ? output : ["...", ...output.slice(-options.lines)];
  process.stdout.write(
    `# $ ${result.command}\n${shown.map((line) => `#   ${line}`).join("\n")}\n#   -> exit ${result.code} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`,
  );
  return result;
}

async function step(command: string, args: string[], cwd: string, options: { lines?: number; timeoutMs?: number } = {}): Promise<CommandResult> {
  const startedAt = Date.now();
  const result = report(await run(command, args, { cwd, env: userEnv(), timeoutMs: options.timeoutMs ?? 300_000 }), startedAt, options);
  assert.equal(result.code, 0, `\`${result.command}\` failed:\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`);
  return result;
}

describe("breakwater init in a fresh Next.js 16 app, seen in Chromium", { timeout: 900_000 }, () => {
  let dir = "";
  let server: ChildProcess | undefined;
  let serverOutput = "";
  let browser: Browser | undefined;
  let passed = false;

  before(async () => {
    assert.ok(chromiumPath, "Chromium is needed: apt-get install chromium (bin/test.js installs it when it can)");
    const startedAt = Date.now();
    const packed = await packPackages();
    const created = await createProject("init-nextjs", {
      dependencies: { next: nextVersion, react: "^19.2.0", "react-dom": "^19.2.0", "@breakwater/runtime": fromTarball(packed.runtime) },
      devDependencies: { breakwater: fromTarball(packed.cli), typescript: "5.9", "@types/react": "^19.2.0", "@types/node": "^20.19.0" },
      files,
    });
    dir = created.dir;
    report(created.install, startedAt);
  });

  after(async () => {
    await browser?.close();
    if (server?.pid !== undefined && server.exitCode === null) {
      // next start runs in its own process group (detached): end the group, which is this test's.
      const exited = new Promise((resolve) => server!.once("exit", resolve));
      process.kill(-server.pid, "SIGTERM");
      const timer = setTimeout(() => server?.pid !== undefined && server.exitCode === null && process.kill(-server.pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    // The project weighs about 500 MB: kept only when the test failed, to look into.
    if (passed) await rm(dir, { recursive: true, force: true });
    else if (dir) process.stdout.write(`# the project is kept in ${dir}\n`);
  });

  it("answers 503 with the maintenance page after init, build, start and maintenance on; 200 after maintenance off", async () => {
    const init = await step("npx", ["breakwater", "init"], dir);
    assert.match(init.stdout, /created\s+proxy\.ts/);
    assert.match(await readFile(path.join(dir, "proxy.ts"), "utf8"), /export const proxy = maintenanceProxy/);

    const build = await step("npx", ["next", "build"], dir, { lines: 25, timeoutMs: 600_000 });
    assert.match(build.stdout, /Turbopack/, "the default bundler");
    assert.match(build.stdout, /Proxy/, "next build found proxy.ts");

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    process.stdout.write(`# $ npx next start -p ${port} -H 127.0.0.1\n`);
    const startedAt = Date.now();
    server = spawn("npx", ["next", "start", "-p", String(port), "-H", "127.0.0.1"], { cwd: dir, env: userEnv(), detached: true, stdio: ["ignore", "pipe", "pipe"] });
    server.stdout!.on("data", (chunk: Buffer) => (serverOutput += chunk.toString()));
    server.stderr!.on("data", (chunk: Buffer) => (serverOutput += chunk.toString()));
    await waitFor(async () => server!.exitCode === null && (await fetch(base).catch(() => null))?.status === 200, 60_000, 200).catch((error: unknown) => {
      throw new Error(`next start did not serve ${base}: ${String(error)}\n${serverOutput}`);
    });
    process.stdout.write(`#   -> serving ${base} (200) after ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);

    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = await browser.newPage();
    const first = await page.goto(base);
    assert.equal(first?.status(), 200);
    assert.equal(await page.textContent("h1"), "Hello from a fresh Next.js app");

    await step("npx", ["breakwater", "maintenance", "on"], dir);
    const blocked = await waitFor(
      async () => {
        const response = await page.goto(base);
        return response?.status() === 503 ? response : undefined;
      },
      10_000,
      100,
    );
    assert.equal(blocked.status(), 503);
    assert.equal(blocked.headers()["retry-after"], "60");
    assert.match(blocked.headers()["cache-control"] ?? "", /no-store/);
    assert.equal(await page.textContent("h1"), "Maintenance in progress");
    await mkdir(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
    process.stdout.write(`#   -> Chromium: GET / answered 503 "Maintenance in progress"; screenshot ${path.relative(repositoryRoot, screenshot)}\n`);

    await step("npx", ["breakwater", "maintenance", "off"], dir);
    const back = await waitFor(
      async () => {
        const response = await page.goto(base);
        return response?.status() === 200 ? response : undefined;
      },
      10_000,
      100,
    );
    assert.equal(back.status(), 200);
    assert.equal(await page.textContent("h1"), "Hello from a fresh Next.js app");
    process.stdout.write("#   -> Chromium: GET / answered 200 again\n");
    passed = true;
  });
});
