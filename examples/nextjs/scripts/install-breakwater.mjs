// Installs this example's dependencies with breakwater as a user gets it: both workspaces are
// built and packed with `npm pack` into packed/ (runtime.tgz and cli.tgz, the paths package.json
// names), then `npm ci` installs everything from package-lock.json.
//
// package-lock.json records no integrity for the two tarballs: a new pack changes their sha512,
// and a recorded one makes `npm ci` fail with EINTEGRITY on a clean cache, or silently install
// the older tarball that npm's cache holds under that hash. This script removes any integrity a
// later `npm install` wrote, and updates the lockfile first (`npm install --package-lock-only`)
// when the packed manifests list dependencies that it lacks (npm ci would leave them out).
//
//   node scripts/install-breakwater.mjs [--no-build] [--force]
//   --no-build  pack packages/*/dist as they are (bin/test.js has just built them)
//   --force     reinstall even when node_modules already holds these exact tarballs
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const example = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const root = path.resolve(example, "..", "..");
const packed = path.join(example, "packed");
const lockfile = path.join(example, "package-lock.json");
const stamp = path.join(example, "node_modules", ".breakwater-packed.json");
/** package name → the tarball package.json points at */
const tarballs = { "@breakwater/runtime": "runtime.tgz", breakwater: "cli.tgz" };
const args = new Set(process.argv.slice(2));
const say = (line) => process.stderr.write(`${line}\n`);
const npm = (cwd, ...npmArgs) => {
  say(`$ (cd ${path.relative(process.cwd(), cwd) || "."} && npm ${npmArgs.join(" ")})`);
  execFileSync("npm", npmArgs, { cwd, stdio: ["ignore", "inherit", "inherit"] });
};

if (args.has("--no-build")) {
  for (const dir of ["runtime", "breakwater"]) {
    if (!existsSync(path.join(root, "packages", dir, "dist", "index.js"))) {
      say(`packages/${dir}/dist is missing: run \`npm run build\` at the repository root (or drop --no-build).`);
      process.exit(1);
    }
  }
} else {
  npm(root, "run", "--silent", "build");
}

// npm pack writes <scope>-<name>-<version>.tgz; copied to names that do not change with the version.
const scratch = mkdtempSync(path.join(tmpdir(), "breakwater-pack-"));
const packOutput = execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--workspace", "@breakwater/runtime", "--workspace", "breakwater", "--pack-destination", scratch], {
  cwd: root,
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
});
mkdirSync(packed, { recursive: true });
const hashes = {};
for (const entry of JSON.parse(packOutput)) {
  const target = tarballs[entry.name];
  if (!target) continue;
  copyFileSync(path.join(scratch, entry.filename), path.join(packed, target));
  hashes[entry.name] = createHash("sha256")
    .update(readFileSync(path.join(packed, target)))
    .digest("hex");
  say(`packed ${entry.name}@${entry.version} → packed/${target} (${entry.size} bytes, sha256 ${hashes[entry.name].slice(0, 12)}…)`);
}
rmSync(scratch, { recursive: true, force: true });
for (const name of Object.keys(tarballs)) if (!hashes[name]) throw new Error(`npm pack did not pack ${name}`);

/** Drops the integrity npm records for the packed tarballs; true when the lockfile changed. */
function forgetTarballIntegrity() {
  const lock = JSON.parse(readFileSync(lockfile, "utf8"));
  let changed = false;
  for (const name of Object.keys(tarballs)) {
    const entry = lock.packages?.[`node_modules/${name}`];
    if (entry?.integrity) {
      delete entry.integrity;
      changed = true;
    }
  }
  if (changed) writeFileSync(lockfile, `${JSON.stringify(lock, null, 2)}\n`);
  return changed;
}

/** Dependencies a packed manifest lists that its lockfile entry does not (npm ci would skip them). */
function lockfileDrift() {
  const lock = existsSync(lockfile) ? JSON.parse(readFileSync(lockfile, "utf8")) : { packages: {} };
  const drift = [];
  for (const [name, file] of Object.entries(tarballs)) {
    const manifest = JSON.parse(execFileSync("tar", ["-xzOf", path.join(packed, file), "package/package.json"], { encoding: "utf8" }));
    const entry = lock.packages?.[`node_modules/${name}`];
    if (!entry) {
      drift.push(`${name} is not in package-lock.json`);
      continue;
    }
    for (const field of ["dependencies", "optionalDependencies"]) {
      const want = JSON.stringify(Object.entries(manifest[field] ?? {}).sort());
      const have = JSON.stringify(Object.entries(entry[field] ?? {}).sort());
      if (want !== have) drift.push(`${name}'s ${field} changed`);
    }
  }
  return drift;
}

const state = JSON.stringify({ hashes, lock: existsSync(lockfile) ? createHash("sha256").update(readFileSync(lockfile)).digest("hex") : null });
if (!args.has("--force") && existsSync(path.join(example, "node_modules", "next")) && existsSync(stamp) && readFileSync(stamp, "utf8") === state) {
  say("node_modules already holds these tarballs (--force reinstalls)");
  process.exit(0);
}
const drift = lockfileDrift();
if (drift.length > 0) {
  say(`package-lock.json is behind the packed packages (${drift.join("; ")}): updating it`);
  npm(example, "install", "--package-lock-only", "--no-audit", "--no-fund");
  forgetTarballIntegrity();
  say("package-lock.json changed: commit it with the change to the packages' dependencies");
} else if (forgetTarballIntegrity()) {
  say("removed the packed tarballs' integrity from package-lock.json (it changes with every pack)");
}
npm(example, "ci", "--no-audit", "--no-fund");
const installed = JSON.stringify({ hashes, lock: createHash("sha256").update(readFileSync(lockfile)).digest("hex") });
writeFileSync(stamp, installed);
say("examples/nextjs installed with the packed @breakwater/runtime and breakwater");
