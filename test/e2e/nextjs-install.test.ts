// examples/nextjs gets breakwater as a user's app does: @breakwater/runtime as a dependency and
// breakwater as a devDependency, both installed from `npm pack` tarballs (no link into this
// repository), and no breakwater-specific build configuration. The build itself is checked by
// nextjs.test.ts (plain `next build`, Turbopack).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { packPackages, run, succeeded } from "../fixtures/packages.ts";
import { root } from "../harness.ts";

const example = path.join(root, "examples", "nextjs");
const read = (file: string) => readFileSync(path.join(example, file), "utf8");
const json = (file: string) => JSON.parse(read(file));
/** package name → the tarball examples/nextjs/package.json points at */
const packed = { "@breakwater/runtime": "packed/runtime.tgz", breakwater: "packed/cli.tgz" } as const;

/** Relative path → sha256 of every file under dir. */
function contents(dir: string, prefix = ""): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) for (const [file, hash] of contents(dir, relative)) files.set(file, hash);
    else
      files.set(
        relative,
        createHash("sha256")
          .update(readFileSync(path.join(dir, relative)))
          .digest("hex"),
      );
  }
  return files;
}

describe("examples/nextjs installs breakwater from the packed tarballs", () => {
  const scratch: string[] = [];
  after(async () => {
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });
  const unpack = async (tarball: string) => {
    const dir = await mkdtemp(path.join(tmpdir(), "breakwater-unpacked-"));
    scratch.push(dir);
    succeeded(await run("tar", ["-xzf", tarball, "-C", dir], { cwd: dir }));
    return path.join(dir, "package");
  };

  it("depends on the runtime and, for development, the CLI, both through file: tarballs", () => {
    const manifest = json("package.json");
    assert.equal(manifest.dependencies["@breakwater/runtime"], `file:${packed["@breakwater/runtime"]}`);
    assert.equal(manifest.devDependencies.breakwater, `file:${packed.breakwater}`);
    assert.equal(manifest.dependencies.breakwater, undefined, "the CLI is a devDependency only");
    assert.equal(manifest.scripts.build, "next build", "plain next build (Turbopack), no --webpack");
    assert.match(read("proxy.ts"), /from "@breakwater\/runtime\/next"/);
  });

  it("has no breakwater-specific build configuration", () => {
    const config = read("next.config.ts");
    for (const option of ["transpilePackages", "outputFileTracingRoot", "serverExternalPackages", "breakwater", "webpack", "turbopack"]) {
      assert.ok(!config.includes(option), `next.config.ts mentions ${option}:\n${config}`);
    }
    const tsconfig = read("tsconfig.json");
    assert.ok(!tsconfig.includes("allowImportingTsExtensions"), "tsconfig.json has no allowImportingTsExtensions");
    assert.ok(!tsconfig.includes("breakwater"), "tsconfig.json has no path or condition for breakwater");
  });

  it("records the tarballs in package-lock.json without an integrity, so a new pack still installs with npm ci", () => {
    const lock = json("package-lock.json");
    for (const [name, tarball] of Object.entries(packed)) {
      const entry = lock.packages[`node_modules/${name}`];
      assert.ok(entry, `package-lock.json has node_modules/${name}`);
      assert.equal(entry.resolved, `file:${tarball}`);
      assert.equal(entry.link, undefined, `${name} is not a link`);
      assert.equal(entry.integrity, undefined, `${name}'s integrity would change with every pack`);
    }
    const links = Object.entries(lock.packages as Record<string, { link?: boolean }>).filter(([, entry]) => entry.link);
    assert.deepEqual(links, [], "no package of the example is linked");
  });

  it("installed each package as a copy of today's npm pack, not a symlink into the repository", async () => {
    const today = await packPackages();
    const fresh = { "@breakwater/runtime": today.runtime, breakwater: today.cli };
    for (const [name, tarball] of Object.entries(packed)) {
      const installed = path.join(example, "node_modules", name);
      assert.ok(!lstatSync(installed).isSymbolicLink(), `node_modules/${name} is not a symlink`);
      assert.equal(realpathSync(installed), installed, `node_modules/${name} lives in the example`);
      const fromTarball = contents(await unpack(path.join(example, tarball)));
      assert.deepEqual(contents(installed), fromTarball, `node_modules/${name} holds exactly ${tarball}`);
      assert.deepEqual(
        fromTarball,
        contents(await unpack(fresh[name as keyof typeof fresh])),
        `${tarball} is what npm pack makes of packages/*/dist now (run scripts/install-breakwater.mjs)`,
      );
    }
  });

  it("runs the installed CLI as `npx breakwater` does in the app", async () => {
    const version = succeeded(await run(path.join(example, "node_modules", ".bin", "breakwater"), ["--version"], { cwd: example }));
    assert.equal(version.stdout.trim(), json("node_modules/breakwater/package.json").version);
  });
});
