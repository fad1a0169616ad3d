// TypeScript config and plan files in an installed project load from a compiled copy in
// node_modules/.cache/breakwater (no tsx loader at start-up); what the copy cannot stand for
// (relative imports, import.meta, an error) loads through tsx, with the error's place in the file.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { root, runCli, tempProject } from "../harness.ts";

/** A project with node_modules holding @breakwater/runtime, as after `npm install`. */
async function installedProject(files: Record<string, string>): Promise<string> {
  const dir = await tempProject(files);
  await mkdir(path.join(dir, "node_modules", "@breakwater"), { recursive: true });
  await symlink(path.join(root, "packages", "runtime"), path.join(dir, "node_modules", "@breakwater", "runtime"));
  return dir;
}

const cacheOf = (dir: string) => path.join(dir, "node_modules", ".cache", "breakwater");
const compiledFiles = async (dir: string) => (existsSync(cacheOf(dir)) ? (await readdir(cacheOf(dir))).filter((f) => f.endsWith(".mjs")) : []);
const config = (retryAfter: number) => `import { defineConfig } from "@breakwater/runtime";\nexport default defineConfig({ maintenance: { retryAfter: ${retryAfter} } });\n`;

async function retryAfterSet(dir: string): Promise<unknown> {
  const on = await runCli(["maintenance", "on", "--json"], { cwd: dir, env: { DATABASE_URL: "" } });
  assert.equal(on.code, 0, on.stderr);
  const status = await runCli(["maintenance", "status", "--json"], { cwd: dir, env: { DATABASE_URL: "" } });
  return (JSON.parse(status.stdout) as { retryAfter: unknown }).retryAfter;
}

describe("TypeScript config in an installed project", () => {
  it("is compiled once into node_modules/.cache/breakwater, and again when it changes", async () => {
    const dir = await installedProject({ "breakwater.config.ts": config(17) });
    assert.equal(await retryAfterSet(dir), 17);
    assert.equal((await compiledFiles(dir)).length, 1);
    assert.equal(await retryAfterSet(dir), 17);
    assert.equal((await compiledFiles(dir)).length, 1, "the second start used the compiled copy");
    await writeFile(path.join(dir, "breakwater.config.ts"), config(23));
    assert.equal(await retryAfterSet(dir), 23, "an edited config is compiled again, never served stale");
    assert.equal((await compiledFiles(dir)).length, 2);
  });

  it("loads in place when it imports a file of its own", async () => {
    const dir = await installedProject({
      "settings.ts": "export const retryAfter: number = 31;\n",
      "breakwater.config.ts":
        'import { defineConfig } from "@breakwater/runtime";\nimport { retryAfter } from "./settings.ts";\nexport default defineConfig({ maintenance: { retryAfter } });\n',
    });
    assert.equal(await retryAfterSet(dir), 31);
    assert.deepEqual(await compiledFiles(dir), []);
  });

  it("says where an error thrown while it loads is, in the user's file", async () => {
    const dir = await installedProject({
      "breakwater.config.ts": 'import { defineConfig } from "@breakwater/runtime";\n\nthrow new Error("no config for you");\nexport default defineConfig({});\n',
    });
    const result = await runCli(["maintenance", "status"], { cwd: dir, env: { DATABASE_URL: "" } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /breakwater\.config\.ts:3:\d+: Error: no config for you/);
  });
});
