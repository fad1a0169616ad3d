// What the command line prints: colour and symbols only on a terminal (NO_COLOR and FORCE_COLOR
// honoured), plain text in CI and pipes, progress events for backup, restore and deploy with
// --json, -v, --config on every command that reads the config, help that names what things are,
// and start-up that loads only the command run.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { EventRenderer } from "../../packages/breakwater/src/cli/render.ts";
import { demoPlan } from "../../packages/breakwater/src/demo/users.ts";
import { createTestDatabase, planSource, root, runCli, tempProject, type CliResult, type TestDatabase } from "../harness.ts";

const escape = "\x1b[";
const pictograph = /\p{Extended_Pictographic}/u;
const bin = path.join(root, "packages", "breakwater", "bin", "breakwater.js");

/** JSON lines of stdout. */
const jsonLines = (result: CliResult) =>
  result.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown> & { type: string });

/** Runs the CLI on a pseudo-terminal (util-linux `script`), so that stdout and stderr are TTYs. */
function runOnTerminal(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<string> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CI;
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  Object.assign(env, options.env);
  return new Promise((resolve, reject) =>
    execFile("script", ["-qec", [process.execPath, bin, ...args].map(quote).join(" "), "/dev/null"], { cwd: options.cwd, env }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    ),
  );
}

const hasScript = existsSync("/usr/bin/script");

async function usersTable(t: TestDatabase): Promise<void> {
  await t.db.query(`CREATE TABLE "User" (id int PRIMARY KEY, email text NOT NULL); INSERT INTO "User" SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 3000) g`);
  await t.db.query(`CREATE TABLE "Post" (id int PRIMARY KEY, title text); INSERT INTO "Post" SELECT g, 't' || g FROM generate_series(1, 500) g`);
}

async function newestBackup(dir: string): Promise<string> {
  const names = (await readdir(path.join(dir, "backups"))).filter((n) => n.endsWith(".dump") && !n.includes("bad-state")).sort();
  return path.join(dir, "backups", names.at(-1)!);
}

async function migrationsProject(): Promise<string> {
  const dir = await tempProject();
  const files: [string, string][] = [
    ["20250101000000_init", `CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');\nCREATE TABLE "Member" (id int PRIMARY KEY, role "Role" NOT NULL DEFAULT 'USER');\n`],
    ["20250102000000_manager", `ALTER TYPE "Role" ADD VALUE 'MANAGER';\nUPDATE "Member" SET role = 'MANAGER' WHERE id = 1;\n`],
  ];
  for (const [name, sql] of files) {
    await mkdir(path.join(dir, "prisma", "migrations", name), { recursive: true });
    await writeFile(path.join(dir, "prisma", "migrations", name, "migration.sql"), sql);
  }
  return dir;
}

describe("output off a terminal (CI, pipes, files)", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await usersTable(t);
  });
  after(async () => t.drop());

  it("holds no escape code and no emoji, in any command's progress and results", async () => {
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "plain_output", steps: [backfill({ table: "Post", set: { title: "title || '!'" } })] }`) });
    const outputs: [string, CliResult][] = [];
    const cli = async (args: string[]) => {
      const result = await runCli(args, { cwd: dir, databaseUrl: t.url });
      assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
      outputs.push([args.join(" "), result]);
      return result;
    };
    await cli(["backup"]);
    const file = await newestBackup(dir);
    await cli(["backup", "verify", file]);
    await cli(["backups"]);
    await cli(["maintenance", "on", "--reason", "upgrade"]);
    await cli(["maintenance", "status"]);
    await cli(["maintenance", "off"]);
    const run = await cli(["run", "plan.ts"]);
    await cli(["status"]);
    await cli(["restore", file, "--yes"]);
    for (const [command, result] of outputs) {
      assert.ok(!result.stderr.includes(escape) && !result.stdout.includes(escape), `no escape code from ${command}`);
      assert.doesNotMatch(result.stderr, pictograph, `no emoji in the progress of ${command}`);
      assert.doesNotMatch(result.stdout, pictograph, `no emoji in the result of ${command}`);
    }
    assert.match(run.stderr, /^ {2}done \[transform\] /m, "plain lines say in words what a terminal shows with a symbol");
    assert.match(run.stdout, /\*\*Status\*\*: Successful/, "the migration log on stdout says it in words");
    const reports = path.join(dir, "breakwater-reports");
    const markdown = (await readdir(reports)).find((f) => f.endsWith(".md"))!;
    assert.match(await readFile(path.join(reports, markdown), "utf8"), /\*\*Status\*\*: ✅ Successful/, "the migration log file keeps its symbols");
  });

  it("FORCE_COLOR gives colour off a terminal; NO_COLOR (any value) and FORCE_COLOR=0 take it away", async () => {
    const dir = await tempProject();
    const forced = await runCli(["maintenance", "on"], { cwd: dir, env: { FORCE_COLOR: "1" } });
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(forced.stdout.includes(escape), "FORCE_COLOR=1 colours the result");
    const help = await runCli(["status", "--help"], { cwd: dir, env: { FORCE_COLOR: "1" } });
    assert.ok(help.stdout.includes(`${escape}1mUsage:`), "and the help");
    const error = await runCli(["status"], { cwd: dir, env: { FORCE_COLOR: "1", DATABASE_URL: "" } });
    assert.equal(error.code, 2);
    assert.ok(error.stderr.includes(escape), "and the error");
    const environments: Record<string, string>[] = [{ NO_COLOR: "1", FORCE_COLOR: "1" }, { NO_COLOR: "yes" }, { FORCE_COLOR: "0" }, { FORCE_COLOR: "false" }];
    for (const env of environments) {
      for (const args of [["maintenance", "status"], ["status", "--help"], ["status"]]) {
        const result = await runCli(args, { cwd: dir, env: { ...env, DATABASE_URL: "" } });
        assert.ok(!result.stdout.includes(escape) && !result.stderr.includes(escape), `${JSON.stringify(env)} ${args.join(" ")}: no escape code`);
      }
    }
  });
});

describe("output on a terminal", { skip: hasScript ? false : "needs util-linux `script` for a pseudo-terminal" }, () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await usersTable(t);
  });
  after(async () => t.drop());

  it("has colour, symbols and a live line; NO_COLOR keeps the symbols and drops every escape code", async () => {
    const dir = await tempProject();
    const coloured = await runOnTerminal(["backup", "--label", "coloured"], { cwd: dir, env: { DATABASE_URL: t.url } });
    assert.ok(coloured.includes(escape), "colour on a terminal");
    assert.match(coloured, /✔.* wrote backup_\d{8}_\d{6}_coloured\.dump: [\d.]+ MB, 2 tables/);
    const plain = await runOnTerminal(["backup", "--label", "plain"], { cwd: dir, env: { DATABASE_URL: t.url, NO_COLOR: "1" } });
    assert.ok(!plain.includes(escape), "NO_COLOR: no escape code at all, the live line included");
    assert.match(plain, /\r {2}› dumping .*\r {4}pg_dump: [\d.]+ MB, 2\/2 tables/, "the step under way is a live line, rewritten in place");
    assert.match(plain, /\r {2}✔ wrote backup_/, "then the line that stays");
  });

  it("draws the same events in-process: a live line replaced by the line that stays", () => {
    let written = "";
    const stream = { isTTY: true, columns: 80, write: (text: string) => void (written += text) };
    const renderer = new EventRenderer("tty", { out: stream, err: stream, env: { NO_COLOR: "1" } });
    renderer.handle({ type: "migration-start", name: "20250101000000_init" });
    renderer.handle({ type: "migration-done", name: "20250101000000_init", durationMs: 12 });
    renderer.end();
    assert.equal(written, `\r  › applying 20250101000000_init\r${" ".repeat(32)}\r  ✔ applied 20250101000000_init (12 ms)\n`);
  });
});

describe("progress events with --json", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await usersTable(t);
  });
  after(async () => t.drop());

  it("backup: the dump step, pg_dump's bytes and tables, then the result", async () => {
    const dir = await tempProject();
    const result = await runCli(["backup", "--json"], { cwd: dir, databaseUrl: t.url });
    assert.equal(result.code, 0, result.stderr);
    const lines = jsonLines(result);
    assert.deepEqual(
      lines.map((l) => l.type).filter((type, i, all) => all.indexOf(type) === i),
      ["backup-step", "backup-progress", "backup-step-done", "result"],
    );
    assert.equal(lines.at(-1)!.type, "result");
    const progress = lines.filter((l) => l.type === "backup-progress").at(-1)!;
    assert.equal(progress.phase, "dump");
    assert.ok(Number(progress.bytes) > 0);
    assert.deepEqual([progress.tablesDone, progress.tablesTotal], [2, 2]);
    const done = lines.find((l) => l.type === "backup-step-done")!;
    assert.equal(done.step, "dump");
    assert.equal(done.ok, true);
    assert.ok(Number(done.durationMs) >= 0);
    assert.equal(result.stderr, "", "nothing on stderr with --json");
  });

  it("restore: the fence, the bad-state dump, the restore, the row counts and writes allowed again, each timed", async () => {
    const own = await createTestDatabase();
    try {
      await usersTable(own);
      const dir = await tempProject();
      assert.equal((await runCli(["backup"], { cwd: dir, databaseUrl: own.url })).code, 0);
      const result = await runCli(["restore", await newestBackup(dir), "--yes", "--json"], { cwd: dir, databaseUrl: own.url });
      assert.equal(result.code, 0, result.stderr);
      const lines = jsonLines(result);
      const steps = lines.filter((l) => l.type === "backup-step-done").map((l) => `${l.operation}:${l.step}`);
      assert.deepEqual(steps, ["restore:checksum", "restore:fence", "restore:bad-state", "restore:restore", "restore:count", "restore:unfence"]);
      assert.ok(
        lines.some((l) => l.type === "backup-progress" && l.phase === "restore" && l.tablesTotal === 2 && l.tablesDone === 2),
        "pg_restore's tables",
      );
      assert.match(String(lines.find((l) => l.step === "count" && l.type === "backup-step-done")!.message), /every table's row count matches the manifest \(2 tables\)/);
      assert.equal(lines.at(-1)!.type, "result");
    } finally {
      own.db = await own.connect();
      await own.drop();
    }
  });

  it("deploy: each migration applying and applied with its duration, and the notice when a file is split at an enum value it adds", async () => {
    const own = await createTestDatabase();
    try {
      const dir = await migrationsProject();
      const result = await runCli(["deploy", "--json"], { cwd: dir, databaseUrl: own.url });
      assert.equal(result.code, 0, result.stderr);
      const lines = jsonLines(result);
      assert.deepEqual(
        lines.filter((l) => l.type.startsWith("migration-")).map((l) => `${l.type} ${l.name}`),
        [
          // deploy's lint first: the new enum value's warning (enum-value-added-unreadable)
          "migration-note 20250102000000_manager",
          "migration-start 20250101000000_init",
          "migration-done 20250101000000_init",
          "migration-start 20250102000000_manager",
          "migration-note 20250102000000_manager",
          "migration-note 20250102000000_manager",
          "migration-done 20250102000000_manager",
        ],
      );
      assert.ok(lines.filter((l) => l.type === "migration-done").every((l) => typeof l.durationMs === "number"));
      const notes = lines.filter((l) => l.type === "migration-note").map((l) => String(l.message));
      assert.match(notes[0]!, /^lint: .*warning /);
      assert.match(notes[1]!, /55P04/);
      assert.equal(lines.at(-1)!.type, "result");

      // Off a terminal, the same as plain lines on stderr.
      await own.db.query(`DROP TABLE "Member"; DROP TYPE "Role"; DELETE FROM _prisma_migrations`);
      const plain = await runCli(["deploy"], { cwd: dir, databaseUrl: own.url });
      assert.equal(plain.code, 0, plain.stderr);
      assert.match(plain.stderr, /^ {2}applying 20250101000000_init\n {2}applied 20250101000000_init \(\d+ ms\)\n/m);
      assert.match(plain.stderr, /^ {2}20250102000000_manager: PostgreSQL refused it as one transaction \(55P04/m);
    } finally {
      await own.drop();
    }
  });
});

describe("options every command shares", () => {
  it("-v and -V print the version, like --version; breakwater alone prints the help and exits 0", async () => {
    const cwd = await tempProject();
    const { version } = JSON.parse(await readFile(path.join(root, "packages", "breakwater", "package.json"), "utf8")) as { version: string };
    for (const flag of ["-v", "-V", "--version"]) {
      const result = await runCli([flag], { cwd });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${version}\n`);
    }
    // Through commander too (the bin answers a lone flag before loading it).
    const main = path.join(root, "packages", "breakwater", "dist", "cli", "main.js");
    for (const flag of ["-v", "-V"]) {
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [main, flag, "--config", "x.ts"], { cwd }, (error, out) => (error ? reject(error) : resolve(out))),
      );
      assert.equal(stdout, `${version}\n`);
    }
    const bare = await runCli([], { cwd });
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stdout, /^Usage: breakwater \[options\] \[command\]/);
    assert.match(bare.stdout, /-v, --version/);
  });

  it("--config <file> is read by every command that reads the config, before or after the command", async () => {
    const dir = await tempProject({ "plan.ts": planSource(`{ id: "x", steps: [sql("SELECT 1")] }`) });
    await mkdir(path.join(dir, "conf"));
    await writeFile(path.join(dir, "conf", "other.config.ts"), "export default { nope: 1 };\n");
    const commands = [
      ["run", "plan.ts"],
      ["resume"],
      ["rollback", "20990101000000-zzzz"],
      ["status"],
      ["maintenance", "on"],
      ["maintenance", "off"],
      ["maintenance", "status"],
      ["backup"],
      ["backup", "verify", "x.dump"],
      ["backup", "prune", "--keep", "1"],
      ["backups"],
      ["restore", "x.dump", "--yes"],
      ["deploy"],
      ["boot"],
      ["migrate", "status"],
      ["migrate", "resolve", "--applied", "x"],
    ];
    for (const command of commands) {
      for (const args of [
        [...command, "--config", "conf/other.config.ts"],
        ["--config", "conf/other.config.ts", ...command],
      ]) {
        const result = await runCli(args, { cwd: dir, env: { DATABASE_URL: "" } });
        assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
        assert.match(result.stderr, /Invalid configuration in other\.config\.ts: \(config\): Unrecognized key/, args.join(" "));
      }
    }
  });

  it("--config points a command at the database its config names", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await writeFile(path.join(dir, "db.config.ts"), `export default { databaseUrl: ${JSON.stringify(t.url)}, maintenance: { file: "elsewhere/lock" } };\n`);
      const status = await runCli(["status", "--config", "db.config.ts"], { cwd: dir, env: { DATABASE_URL: "" } });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /No breakwater runs in this database yet/);
      const on = await runCli(["--config", "db.config.ts", "maintenance", "on", "--json"], { cwd: dir, env: { DATABASE_URL: "" } });
      assert.equal(on.code, 0, on.stderr);
      assert.equal(JSON.parse(on.stdout).location, path.join(dir, "elsewhere", "lock"));
      await rm(path.join(dir, "elsewhere"), { recursive: true });
    } finally {
      await t.drop();
    }
  });
});

describe("words", () => {
  it("no help text speaks of seeds: it says what things are", async () => {
    const cwd = await tempProject();
    const commands = [
      [],
      ["init"],
      ["run"],
      ["resume"],
      ["rollback"],
      ["status"],
      ["maintenance"],
      ["maintenance", "on"],
      ["maintenance", "off"],
      ["maintenance", "status"],
      ["maintenance", "secret"],
      ["backup"],
      ["backup", "verify"],
      ["backup", "prune"],
      ["backups"],
      ["restore"],
      ["deploy"],
      ["boot"],
      ["migrate"],
      ["migrate", "status"],
      ["migrate", "resolve"],
      ["plan"],
      ["demo"],
    ];
    for (const command of commands) {
      const result = await runCli([...command, "--help"], { cwd });
      assert.equal(result.code, 0, `${command.join(" ")} --help: ${result.stderr}`);
      assert.match(result.stdout, /^Usage: breakwater/);
      assert.doesNotMatch(result.stdout, /seed/i, `${command.join(" ")} --help`);
    }
    const demo = await runCli(["demo", "--help"], { cwd });
    assert.match(demo.stdout, /a User table with a Role enum/);
  });

  it("the demo's plan describes itself without seeds", () => {
    assert.doesNotMatch(JSON.stringify(demoPlan({ rows: 10 })), /seed/i);
  });
});

describe("start-up", () => {
  /** The modules (file URLs) a command line loads, from a resolve hook. */
  async function modulesLoaded(args: string[]): Promise<string[]> {
    const dir = await tempProject();
    const trace = path.join(dir, "imports.txt");
    const hooks = `import { appendFileSync } from "node:fs"; export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(trace)}, r.url + "\\n"); return r; }`;
    const register = `import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        ["--import", `data:text/javascript,${encodeURIComponent(register)}`, bin, ...args],
        { cwd: dir, env: { ...process.env, DATABASE_URL: "" } },
        (error, _out, stderr) => (error && !/DATABASE_URL/.test(stderr) ? reject(error) : resolve()),
      ),
    );
    return existsSync(trace) ? (await readFile(trace, "utf8")).trim().split("\n") : [];
  }

  it("--version loads neither the commands nor their dependencies", async () => {
    for (const args of [["--version"], ["-v", "--config", "x.ts"]]) {
      const loaded = await modulesLoaded(args);
      assert.deepEqual(
        loaded.filter((url) => /\/dist\/(?!cli\/(main|style)\.js)|\/node_modules\/(?!commander\/)/.test(url)),
        [],
        args.join(" "),
      );
    }
  });

  it("a command loads its own module, not the other commands' (deploy: no runner, no operations, no plan scaffolding)", async () => {
    const deploy = await modulesLoaded(["deploy"]);
    assert.ok(deploy.some((url) => url.endsWith("/dist/cli/deploy.js")));
    assert.deepEqual(
      deploy.filter((url) => /\/dist\/(runner|operations|report|prisma\/scaffold)\/|\/dist\/cli\/(run|plan|demo|backup|maintenance)\.js/.test(url)),
      [],
    );
    const maintenance = await modulesLoaded(["maintenance", "status"]);
    assert.deepEqual(
      maintenance.filter((url) => /\/dist\/(runner|prisma|backup)\/|\/dist\/cli\/(run|deploy|plan|demo)\.js/.test(url)),
      [],
    );
  });
});
