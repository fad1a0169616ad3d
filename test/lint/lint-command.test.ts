// `breakwater lint`: suppression, exit codes (0 / 1 / 2), the config's lint.rules and each reporter.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { lint } from "../../packages/breakwater/src/lint/engine.ts";
import { escapeData, escapeProperty } from "../../packages/breakwater/src/lint/report/github.ts";
import { allRules } from "../../packages/breakwater/src/lint/rules/index.ts";
import { readLintFile } from "../../packages/breakwater/src/lint/source.ts";
import { runCli, tempProject } from "../harness.ts";

const rules = async (sql: string) => (await lint([await readLintFile("m.sql", sql, "sql")], { rules: allRules })).map((f) => `${f.rule}@${f.line}`);

describe("suppression", () => {
  it("an ignore with a reason suppresses the finding on the next statement only", async () => {
    assert.deepEqual(await rules(`SET lock_timeout = '1s';\n-- breakwater-ignore truncate: a scratch table\nTRUNCATE "t";\nTRUNCATE "u";\n`), ["truncate@4"]);
  });

  it("an ignore without a reason still suppresses, and is itself an error", async () => {
    assert.deepEqual(await rules(`SET lock_timeout = '1s';\n-- breakwater-ignore truncate\nTRUNCATE "t";\n`), ["ignore-without-reason@2"]);
  });

  it("an ignore that suppresses nothing, or names no rule, is a finding", async () => {
    assert.deepEqual(await rules(`-- breakwater-ignore truncate: not needed\nSELECT 1;\n-- breakwater-ignore no-such-rule: typo\nSELECT 2;\n`), [
      "unused-ignore@1",
      "unknown-rule@3",
    ]);
  });

  it("an ignore-file comment suppresses the rule anywhere in the file", async () => {
    assert.deepEqual(await rules(`SET lock_timeout = '1s';\nTRUNCATE "t";\nTRUNCATE "u";\n-- breakwater-ignore-file truncate: test fixtures only\n`), []);
  });

  it("a file that does not parse is a parse-error at PostgreSQL's position", async () => {
    const [finding] = await lint([await readLintFile("m.sql", "SELECT 1;\nSELEC 2;\n", "sql")], { rules: allRules });
    assert.deepEqual([finding?.rule, finding?.severity, finding?.line, finding?.column], ["parse-error", "error", 2, 1]);
  });

  it("a statement nested too deeply to walk is a finding that says so, never a crash", async () => {
    const deep = (terms: number) => `ALTER TYPE "K" ADD VALUE 'X';\nUPDATE "t" SET "a" = ${Array.from({ length: terms }, () => "1").join(" + ")} WHERE "id" = 1;\n`;
    // Deep enough for the rules' walks to run out of stack (the parse tree itself still reads).
    const walked = await lint([await readLintFile("deep.sql", deep(3_000), "prisma")], { rules: allRules });
    assert.deepEqual(
      walked.filter((f) => f.severity === "error").map((f) => [f.rule, f.line]),
      [["statement-too-deep", 2]],
    );
    // Deeper: the parse tree itself cannot be read; the file is a parse-error that says why.
    const unread = await lint([await readLintFile("deeper.sql", deep(20_000), "sql")], { rules: allRules });
    assert.deepEqual(
      unread.map((f) => f.rule),
      ["parse-error"],
    );
    assert.match(unread[0]!.message, /nested too deeply/);
  });
});

async function project(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await tempProject();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}

const bad = `-- CreateIndex\nCREATE INDEX "User_email_idx" ON "User"("email");\n`;
const clean = `-- AlterTable\nALTER TABLE "User" ADD COLUMN "bio" TEXT;\n`;

describe("breakwater lint", () => {
  it("lints a file named twice once, and follows a symlink to a file inside a folder (not one to a folder)", async () => {
    const dir = await project({ "db/001_bad.sql": bad, "elsewhere/002_bad.sql": bad, "elsewhere/deeper/003_bad.sql": bad });
    await symlink(path.join(dir, "elsewhere", "002_bad.sql"), path.join(dir, "db", "002_linked.sql"));
    await symlink(path.join(dir, "elsewhere"), path.join(dir, "db", "loop"));
    await symlink(path.join(dir, "db"), path.join(dir, "elsewhere", "deeper", "back"));
    const result = await runCli(["lint", "--no-catalog", "--format", "json", "db", "db/001_bad.sql", "./db/001_bad.sql"], { cwd: dir, env: { DATABASE_URL: "" } });
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as { files: number; findings: { rule: string; file: string }[] };
    assert.equal(report.files, 2);
    assert.deepEqual(
      report.findings.filter((f) => f.rule === "index-not-concurrent").map((f) => f.file),
      ["db/001_bad.sql", "db/002_linked.sql"],
    );
  });

  it("exits 0 on a clean folder, 1 with an error finding, 2 for a missing path or a file not in UTF-8", async () => {
    const dir = await project({
      "prisma/migrations/20240101000000_a/migration.sql": clean,
      "bad.sql": bad,
      "latin1.sql": Buffer.from([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xe9, 0x27, 0x3b]),
    });
    assert.equal((await runCli(["lint"], { cwd: dir })).code, 0);
    const failing = await runCli(["lint", "bad.sql"], { cwd: dir });
    assert.equal(failing.code, 1, failing.stderr);
    assert.match(failing.stdout, /bad\.sql:2:1 error index-not-concurrent/);
    assert.match(failing.stdout, /> 2 \| CREATE INDEX "User_email_idx"/);
    assert.ok(!failing.stdout.includes("\u001b["), "no colour off a terminal");
    assert.equal((await runCli(["lint", "missing.sql"], { cwd: dir })).code, 2);
    const latin1 = await runCli(["lint", "latin1.sql"], { cwd: dir });
    assert.equal(latin1.code, 2);
    assert.match(latin1.stderr, /invalid byte sequence/);
  });

  it("--fail-on warning fails on a warning; --rule and lint.rules change a rule's severity", async () => {
    const dir = await project({
      "w.sql": `SET lock_timeout = '1s';\nDROP INDEX "x";\n`,
      "bad.sql": bad,
      "breakwater.config.mjs": `export default { lint: { rules: { "index-not-concurrent": "warning" } } };\n`,
    });
    assert.equal((await runCli(["lint", "w.sql"], { cwd: dir })).code, 0);
    assert.equal((await runCli(["lint", "w.sql", "--fail-on", "warning"], { cwd: dir })).code, 1);
    assert.equal((await runCli(["lint", "bad.sql"], { cwd: dir })).code, 0, "lint.rules made it a warning");
    assert.equal((await runCli(["lint", "bad.sql", "--rule", "index-not-concurrent=error"], { cwd: dir })).code, 1);
    assert.equal((await runCli(["lint", "bad.sql", "--rule", "nope=off"], { cwd: dir })).code, 2);
  });

  it("reads stdin with -, and lists its rules", async () => {
    const dir = await project({});
    const bin = path.resolve(import.meta.dirname, "../../packages/breakwater/bin/breakwater.js");
    const child = spawn(process.execPath, [bin, "lint", "-", "--format", "json"], { cwd: dir, stdio: ["pipe", "pipe", "inherit"] });
    child.stdin.end(bad);
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const [code] = (await once(child, "close")) as [number];
    assert.equal(code, 1);
    const report = JSON.parse(stdout) as { version: number; files: number; findings: { file: string; rule: string }[]; summary: { errors: number } };
    assert.equal(report.version, 1);
    assert.equal(report.findings[0]?.file, "<stdin>");
    const list = await runCli(["lint", "--list-rules"], { cwd: dir });
    for (const id of ["index-not-concurrent", "set-not-null", "unused-ignore"]) assert.match(list.stdout, new RegExp(`^${id} `, "m"));
  });

  it("--format json follows the documented schema", async () => {
    const dir = await project({ "bad.sql": bad });
    const { stdout } = await runCli(["lint", "bad.sql", "--format", "json"], { cwd: dir });
    const report = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(report), ["version", "files", "findings", "summary"]);
    assert.deepEqual(report.summary, { errors: 1, warnings: 1 });
    const finding = (report.findings as Record<string, unknown>[]).find((f) => f.rule === "index-not-concurrent")!;
    assert.deepEqual(Object.keys(finding).sort(), ["blocks", "column", "endColumn", "endLine", "file", "fix", "line", "lock", "message", "rule", "severity", "statement", "why"]);
    assert.equal(finding.lock, "SHARE");
  });

  it("--format github writes one workflow command per finding, 1-based, escaped", async () => {
    const dir = await project({ "a,b:c.sql": `\n\n${bad}` });
    const { stdout, code } = await runCli(["lint", "a,b:c.sql", "--format", "github"], { cwd: dir });
    assert.equal(code, 1);
    const line = stdout.split("\n").find((l) => l.startsWith("::error"))!;
    assert.match(line, /^::error file=a%2Cb%3Ac\.sql,line=4,col=1,endLine=4,endColumn=\d+,title=breakwater index-not-concurrent::CREATE INDEX on User/);
    assert.ok(!line.slice(2).includes("\n"));
    assert.equal(escapeData("50%\r\n"), "50%25%0D%0A");
    assert.equal(escapeProperty("a:b,c"), "a%3Ab%2Cc");
  });

  it("--format gitlab writes a code quality array with stable fingerprints", async () => {
    const dir = await project({ "bad.sql": bad, "moved.sql": `\n\n\n${bad}` });
    const first = JSON.parse((await runCli(["lint", "bad.sql", "--format", "gitlab"], { cwd: dir })).stdout) as Record<string, unknown>[];
    const again = JSON.parse((await runCli(["lint", "bad.sql", "--format", "gitlab"], { cwd: dir })).stdout) as Record<string, unknown>[];
    assert.deepEqual(first, again);
    const issue = first.find((i) => i.check_name === "index-not-concurrent")!;
    assert.equal(issue.severity, "major");
    assert.deepEqual(issue.location, { path: "bad.sql", lines: { begin: 2, end: 2 } });
    assert.match(String(issue.fingerprint), /^[0-9a-f]{64}$/);
  });
});

describe("--format sarif", () => {
  it("writes SARIF 2.1.0 with the rules and 1-based regions (endColumn exclusive)", async () => {
    const dir = await project({ "bad.sql": bad });
    const log = JSON.parse((await runCli(["lint", "bad.sql", "--format", "sarif"], { cwd: dir })).stdout) as {
      version: string;
      runs: { tool: { driver: { rules: { id: string; defaultConfiguration: { level: string } }[] } }; results: Record<string, unknown>[] }[];
    };
    assert.equal(log.version, "2.1.0");
    const run = log.runs[0]!;
    assert.ok(run.tool.driver.rules.some((r) => r.id === "index-not-concurrent" && r.defaultConfiguration.level === "error"));
    const result = run.results.find((r) => r.ruleId === "index-not-concurrent") as {
      level: string;
      locations: { physicalLocation: { artifactLocation: { uri: string }; region: Record<string, number> } }[];
    };
    assert.equal(result.level, "error");
    const { artifactLocation, region } = result.locations[0]!.physicalLocation;
    assert.equal(artifactLocation.uri, "bad.sql");
    assert.deepEqual([region.startLine, region.startColumn, region.endLine], [2, 1, 2]);
    assert.equal(region.endColumn, `CREATE INDEX "User_email_idx" ON "User"("email")`.length + 1);
  });
});
