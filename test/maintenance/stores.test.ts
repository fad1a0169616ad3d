import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { createMaintenanceCheck, fileStore, postgresStore, withDatabase } from "@breakwater/runtime/internal";
import { startEmbeddedCluster } from "../../packages/breakwater/src/db/embedded.ts";
import { createTestDatabase, root, tempProject, waitFor, type TestDatabase } from "../harness.ts";

const run = promisify(execFile);
const get = { method: "GET", path: "/", cookie: null, accept: "text/html" };

describe("file store", () => {
  it("flips on a plain `touch` and `rm` of the lock file from a shell, as in the seeds", async () => {
    const dir = await tempProject();
    const file = path.join(dir, "maintenance", "enabled.lock");
    const check = createMaintenanceCheck({ store: fileStore({ path: file, pollMs: 200 }), log: () => undefined });
    try {
      await check.ready;
      assert.equal(check.check(get).kind, "pass");
      await run("sh", ["-c", `mkdir -p '${path.dirname(file)}' && touch '${file}'`]);
      await waitFor(async () => check.check(get).kind === "respond", 2000, 10);
      await run("rm", [file]);
      await waitFor(async () => check.check(get).kind === "pass", 2000, 10);
      // JSON content written by hand is read: read-only lets GET through.
      await run("sh", ["-c", `echo '{"mode":"read-only","reason":"hand-made"}' > '${file}'`]);
      await waitFor(async () => check.check({ ...get, method: "POST" }).kind === "respond", 2000, 10);
      assert.equal(check.check(get).kind, "pass");
    } finally {
      await check.close();
    }
  });
});

describe("postgres store", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.drop());

  it("reaches 4 separate processes within 1 s of `on` and `off`", async () => {
    const store = postgresStore({ url: t.url });
    await store.disable();
    const children: ChildProcessWithoutNullStreams[] = [];
    const lines: { at: number; enabled: boolean | null }[][] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "test", "fixtures", "watch-maintenance.ts"), t.url], { cwd: root });
        children.push(child);
        const seen: { at: number; enabled: boolean | null }[] = [];
        lines.push(seen);
        let buffer = "";
        child.stdout.on("data", (chunk: Buffer) => {
          buffer += chunk.toString();
          for (let n = buffer.indexOf("\n"); n >= 0; n = buffer.indexOf("\n")) {
            seen.push(JSON.parse(buffer.slice(0, n)));
            buffer = buffer.slice(n + 1);
          }
        });
      }
      await waitFor(async () => lines.every((l) => l.length > 0 && l[0]!.enabled === false), 20_000);
      const onAt = Date.now();
      await store.enable({ mode: "read-only", reason: "flip" });
      await waitFor(async () => lines.every((l) => l.some((x) => x.enabled === true)), 5000, 5);
      const onLatencies = lines.map((l) => l.find((x) => x.enabled === true)!.at - onAt);
      const offAt = Date.now();
      await store.disable();
      await waitFor(async () => lines.every((l) => l.at(-1)!.enabled === false), 5000, 5);
      const offLatencies = lines.map((l) => l.at(-1)!.at - offAt);
      for (const ms of [...onLatencies, ...offLatencies]) assert.ok(ms <= 1000, `flip reached a process after ${ms} ms`);
    } finally {
      for (const c of children) c.stdin.end();
    }
  });

  it("a new replica reads the current state at start", async () => {
    const store = postgresStore({ url: t.url });
    await store.enable({ mode: "full", reason: "already on" });
    const check = createMaintenanceCheck({ store: postgresStore({ url: t.url }), log: () => undefined });
    try {
      await check.ready;
      assert.equal(check.check(get).kind, "respond");
    } finally {
      await check.close();
      await store.disable();
    }
  });
});

describe("when the database holding the state stops", () => {
  it("fails open or closed as configured, says so once, and recovers", async () => {
    const cluster = await startEmbeddedCluster({ persistent: true, auth: "password" });
    const password = new URL(cluster.url).password;
    assert.ok(password.length > 0);
    try {
      await cluster.createDatabase("app");
      const url = withDatabase(cluster.url, "app");
      await postgresStore({ url }).enable({ mode: "full" });
      const logs: string[] = [];
      const open = createMaintenanceCheck({ store: postgresStore({ url, reconnectMs: 100 }), failMode: "open", log: (m) => logs.push(m) });
      const closed = createMaintenanceCheck({ store: postgresStore({ url, reconnectMs: 100 }), failMode: "closed", log: (m) => logs.push(m) });
      await Promise.all([open.ready, closed.ready]);
      assert.equal(open.check(get).kind, "respond");
      assert.equal(closed.check(get).kind, "respond");
      await postgresStore({ url }).disable();
      await waitFor(async () => open.check(get).kind === "pass" && closed.check(get).kind === "pass", 3000, 10);
      await cluster.pause();
      await waitFor(async () => closed.check(get).kind === "respond", 5000, 20);
      assert.equal(open.check(get).kind, "pass", "fail-open serves requests");
      for (let i = 0; i < 50; i++) open.check(get);
      assert.equal(logs.filter((l) => l.includes("cannot read maintenance state")).length, 2, "logged once per process, not per request");
      assert.ok(!logs.join("\n").includes(password), "no password in the messages");
      await cluster.resume();
      await waitFor(async () => closed.check(get).kind === "pass", 15_000, 50);
      assert.ok(logs.some((l) => l.includes("readable again")));
      await open.close();
      await closed.close();
    } finally {
      await cluster.stop();
    }
  });
});
