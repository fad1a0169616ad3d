import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { root, runCli, spawnCli, tempProject } from "../harness.ts";

describe("command line usage", () => {
  const usageErrors: [string, string[], RegExp][] = [
    ["an unknown option", ["run", "plan.ts", "--nope"], /error: unknown option '--nope'/],
    ["an unknown option before any command", ["--nope"], /error: unknown option '--nope'/],
    ["a missing argument", ["rollback"], /error: missing required argument 'id'/],
    ["too many arguments", ["run", "a.ts", "b.ts"], /error: too many arguments for 'run'/],
    ["an unknown command", ["frobnicate"], /error: unknown command 'frobnicate'/],
    ["an unknown subcommand", ["maintenance", "sideways"], /error: unknown command 'sideways'/],
    ["an option missing its value", ["status", "--config"], /error: option '--config <file>' argument missing/],
  ];
  for (const [name, args, message] of usageErrors) {
    it(`exits 2 with commander's message for ${name}`, async () => {
      const result = await runCli(args, { cwd: await tempProject(), env: { DATABASE_URL: "" } });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /--help/, "says where to look");
      assert.equal(result.stdout, "");
    });
  }

  // `breakwater lint | head -1`, `breakwater --help | less` quit early: the pipe closes under the writer.
  for (const args of [["--help"], ["lint", "--help"], ["lint", "--no-catalog", "--format", "json", "index.sql"]]) {
    it(`stops quietly when the reader of stdout goes away (${args.join(" ")})`, async () => {
      const dir = await tempProject({ "index.sql": 'CREATE INDEX "a_b_idx" ON "a" ("b");\n'.repeat(200) });
      const child = spawnCli(args, { cwd: dir, databaseUrl: "" });
      child.stdout.destroy();
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      assert.doesNotMatch(stderr, /EPIPE|Unhandled|at /);
      assert.ok(code === 0 || code === 1, `exit ${code}: ${stderr}`);
    });
  }

  it("prints the help and exits 0 when no command is given", async () => {
    const result = await runCli([], { cwd: await tempProject(), env: { DATABASE_URL: "" } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Usage: breakwater \[options\] \[command\]/);
    assert.match(result.stdout, /\brun \[options\] <plan>/);
  });

  it("exits 0 for --help, help <command> and --version", async () => {
    const cwd = await tempProject();
    const help = await runCli(["--help"], { cwd });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: breakwater/);
    const commandHelp = await runCli(["status", "--help"], { cwd });
    assert.equal(commandHelp.code, 0, commandHelp.stderr);
    assert.match(commandHelp.stdout, /^Usage: breakwater status \[options\] \[id\]/);
    const helpCommand = await runCli(["help", "run"], { cwd });
    assert.equal(helpCommand.code, 0, helpCommand.stderr);
    assert.match(helpCommand.stdout, /^Usage: breakwater run/);
    const version = await runCli(["--version"], { cwd });
    assert.equal(version.code, 0, version.stderr);
    const { version: expected } = JSON.parse(await readFile(path.join(root, "packages", "breakwater", "package.json"), "utf8")) as { version: string };
    assert.equal(version.stdout.trim(), expected);
  });

  it("shows the subcommands of a group given without one, as a usage error (exit 2)", async () => {
    const result = await runCli(["maintenance"], { cwd: await tempProject() });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /Usage: breakwater maintenance/);
    assert.match(result.stderr, /\bon \[options\]/);
  });
});
