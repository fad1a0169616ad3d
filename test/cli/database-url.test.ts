import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { quoteIdent, quoteLiteral } from "../../packages/breakwater/src/db/quote.ts";
import { createTestDatabase, planSource, runCli, tempProject, type TestDatabase } from "../harness.ts";

describe("a database URL breakwater cannot use", () => {
  let t: TestDatabase;
  let dir: string;
  let role: string;
  /** The test database's URL with another user name and password, written as given (not encoded). */
  let urlWith: (password: string, hostAndPort?: string) => string;
  before(async () => {
    t = await createTestDatabase();
    dir = await tempProject({ "plan.ts": planSource(`{ id: "x", steps: [sql("SELECT 1")] }`) });
    role = `bw_url_${randomBytes(4).toString("hex")}`;
    const base = new URL(t.url);
    urlWith = (password, hostAndPort = base.host) => `postgres://${role}:${password}@${hostAndPort}${base.pathname}`;
  });
  after(async () => {
    await t.db.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
    await t.drop();
  });

  const commands: [string, string[]][] = [
    ["run", ["run", "plan.ts"]],
    ["status", ["status"]],
    ["maintenance on --store postgres", ["maintenance", "on", "--store", "postgres"]],
    ["status --json", ["status", "--json"]],
  ];

  // Each password holds "hunter" and "2pass" so the test can tell no part of it was printed.
  const cases: [string, (url: (password: string, hostAndPort?: string) => string) => string, RegExp][] = [
    [
      "an unencoded # in the password",
      (url) => url("hunter#2pass"),
      /DATABASE_URL is not a valid URL: a `#` in the password must be written %23 \(percent-encode special characters in the user name and password\)/,
    ],
    ["an unencoded # after digits (which would read as a port)", (url) => url("1234#hunter2pass"), /DATABASE_URL is not a valid URL: a `#` in the password must be written %23/],
    ["an unencoded ? in the password", (url) => url("hunter?2pass"), /DATABASE_URL is not a valid URL: a `\?` in the password must be written %3F/],
    ["an unencoded ? after digits", (url) => url("1234?hunter2pass"), /DATABASE_URL is not a valid URL: a `\?` in the password must be written %3F/],
    ["an unencoded / in the password", (url) => url("hunter/2pass"), /DATABASE_URL is not a valid URL: a `\/` in the password must be written %2F/],
    ["an unencoded / after digits", (url) => url("1234/hunter2pass"), /DATABASE_URL is not a valid URL: a `\/` in the password must be written %2F/],
    ["a port that is not a number", (url) => url("hunter2pass", "127.0.0.1:abc"), /DATABASE_URL is not a valid URL: the port must be a number from 1 to 65535/],
    ["a port out of range", (url) => url("hunter2pass", "127.0.0.1:99999"), /DATABASE_URL is not a valid URL: the port must be a number from 1 to 65535/],
    [
      "a host that cannot be one",
      (url) => url("hunter2pass", "db host:5432"),
      /DATABASE_URL is not a valid URL: expected postgres:\/\/ followed by user:password@host:5432\/database/,
    ],
  ];

  for (const [name, makeUrl, message] of cases) {
    for (const [label, args] of commands) {
      it(`explains ${name} (${label}), exits 2 and never prints the password`, async () => {
        const result = await runCli(args, { cwd: dir, databaseUrl: makeUrl(urlWith) });
        assert.equal(result.code, 2, result.stderr);
        const output = result.stdout + result.stderr;
        if (args.includes("--json")) {
          const error = (JSON.parse(result.stdout) as { error: { code: string; message: string } }).error;
          assert.equal(error.code, "BW_CONFIG_INVALID");
          assert.match(error.message, message);
        } else {
          assert.match(result.stderr, message);
          assert.match(result.stderr, /\[BW_CONFIG_INVALID\]/);
        }
        assert.doesNotMatch(output, /hunter|2pass/, "no part of the password is printed");
        assert.doesNotMatch(output, /BW_INTERNAL/);
      });
    }
  }

  it("names databaseUrl in breakwater.config.ts when the URL comes from there", async () => {
    const configured = await tempProject({ "breakwater.config.ts": `export default { databaseUrl: ${JSON.stringify(urlWith("hunter#2pass"))} };\n` });
    const result = await runCli(["status"], { cwd: configured, env: { DATABASE_URL: "" } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /databaseUrl in breakwater\.config\.ts is not a valid URL: a `#` in the password must be written %23/);
    assert.doesNotMatch(result.stderr, /hunter|2pass/);
  });

  it("connects with the same passwords percent-encoded, and with : and @ left as they are", async () => {
    const password = "p@ss:w#rd?/1";
    // CREATE ROLE takes no bound parameter: the password goes in as a quoted literal.
    await t.db.query(`CREATE ROLE ${quoteIdent(role)} LOGIN PASSWORD ${quoteLiteral(password)}`);
    const encoded = await runCli(["status"], { cwd: dir, databaseUrl: urlWith(encodeURIComponent(password)) });
    assert.equal(encoded.code, 0, encoded.stderr);
    assert.match(encoded.stdout, /No breakwater runs in this database yet/);
    // pg, like the URL standard, ends the password at the last @ before the host.
    await t.db.query(`ALTER ROLE ${quoteIdent(role)} PASSWORD ${quoteLiteral("p@ss:word")}`);
    const plain = await runCli(["status"], { cwd: dir, databaseUrl: urlWith("p@ss:word") });
    assert.equal(plain.code, 0, plain.stderr);
  });
});
