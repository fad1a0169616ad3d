#!/usr/bin/env node
// The breakwater command: the compiled CLI in dist/ (built by `npm run build`, which `npm ci`
// runs in the repository). `--version` answers before anything else is loaded.
import { existsSync, readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";

// A reader that quits early (`breakwater lint | head`, `--help | less`) closes the pipe under us.
// The command goes on and ends as it would — a deploy is not cut short by its reader — and what
// it would still print goes nowhere.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (error) => {
    if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
  });

const args = process.argv.slice(2);
if (args.length === 1 && ["--version", "-V", "-v"].includes(args[0])) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version}\n`);
} else {
  // PostgreSQL's parser (WASM) runs on V8's baseline code only: the optimizing tier compiles in
  // the background, and a short command (lint, deploy) would wait for it at exit, about 100 ms,
  // for code it no longer runs.
  setFlagsFromString("--liftoff-only");
  // lint parses every file: its parser's WASM starts compiling while the command line loads.
  if (args.includes("lint")) import("libpg-query").catch(() => undefined);
  const main = new URL("../dist/cli/main.js", import.meta.url);
  if (!existsSync(main)) {
    process.stderr.write("breakwater is not built: run `npm run build` in its repository.\n");
    process.exit(70);
  }
  await import(main.href);
}
