// After tsc: `dist/cli/lint.js` and the modules it imports statically (the rules, the engine, the
// parser's loader, the command wiring) become one file, so `breakwater lint` loads one module
// instead of about forty: it runs in CI on every push, where start-up is most of its time.
// Packages stay imports, and so does every dynamic import (the database client, --trace's server,
// the config's validator, the CI reporters): they load only when used, as without the bundle.
import { build } from "esbuild";
import path from "node:path";

const dist = path.join(import.meta.dirname, "..", "dist");
const entry = path.join(dist, "cli", "lint.js");

/** Leaves `import()` of our own modules as it is: resolved at run time from dist/, next to the bundle. */
const keepDynamicImports = {
  name: "keep-dynamic-imports",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (args.kind === "dynamic-import" ? { path: args.path, external: true } : undefined));
  },
};

await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  plugins: [keepDynamicImports],
  logLevel: "warning",
  legalComments: "none",
});
