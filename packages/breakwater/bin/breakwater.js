#!/usr/bin/env node
// The breakwater command: the compiled CLI in dist/ (`npm run build`; `npm ci` and `npm pack`
// build it). TypeScript plan and config files are loaded through tsx, only when one is loaded.
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("breakwater is not built: run `npm run build` in its repository.\n");
  process.exit(70);
}
await import(main.href);
