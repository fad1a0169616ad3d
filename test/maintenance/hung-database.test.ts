// The postgres store when PostgreSQL hangs rather than goes down: connections are accepted and
// kept open, but nothing is answered. A TCP relay in front of the test server simulates it.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { createMaintenanceCheck, isBreakwaterError, postgresStore } from "@breakwater/runtime/internal";
import { createTestDatabase, waitFor, type TestDatabase } from "../harness.ts";
import { adapterApps, request, type RunningApp } from "./adapter-apps.ts";
import { startRelay as startProxy, type TcpRelay } from "../fixtures/tcp-relay.ts";

/** What the README promises with the default options: the fail mode applies within 5 s. */
const bound = 5000;
const get = { method: "GET", path: "/", cookie: null, accept: "text/html" };
const post = { ...get, method: "POST" };

// pg prints this (once per process) when a query is issued on a client still running another.
const busyWarnings: string[] = [];
process.on("warning", (warning) => {
  if (/already executing a query/.test(warning.message)) busyWarnings.push(warning.message);
});

/** Rejects instead of hanging when `promise` takes longer than `ms`. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds from `since` until `condition` holds; fails after `timeoutMs`. */
async function msUntil(condition: () => boolean, since: number, timeoutMs: number, what: string): Promise<number> {
  await waitFor(async () => condition(), timeoutMs, 10).catch(() => assert.fail(`${what}: not within ${timeoutMs} ms`));
  return Date.now() - since;
}

const failures = (logs: string[]) => logs.filter((l) => l.includes("cannot read maintenance state")).length;
const recoveries = (logs: string[]) => logs.filter((l) => l.includes("readable again")).length;

describe("postgres store when the database hangs (connections accepted, nothing answered)", () => {
  let t: TestDatabase;
  let proxy: TcpRelay;
  before(async () => {
    t = await createTestDatabase();
    proxy = await startProxy(t.url);
  });
  after(async () => {
    await proxy.close();
    await t.drop();
  });

  it("a replica started during the hang answers its first request within 5 s, as its failMode says, with every adapter", { timeout: 60_000 }, async () => {
    const direct = postgresStore({ url: t.url });
    // Maintenance off makes a 503 the work of fail-closed; maintenance on makes a 200 the work of fail-open.
    for (const [failMode, maintenanceOn, expected] of [["closed", false, 503], ["open", true, 200]] as const) {
      if (maintenanceOn) await direct.enable({ mode: "full" });
      else await direct.disable();
      proxy.silence();
      const settled = await Promise.allSettled(
        Object.entries(adapterApps).map(async ([name, start]) => {
          const logs: string[] = [];
          const began = Date.now();
          let app: RunningApp | undefined;
          try {
            const answer = async () => {
              app = await start({ store: postgresStore({ url: proxy.url }), failMode, log: (m) => logs.push(m) });
              return (await request(`${app.url}/`, { signal: AbortSignal.timeout(bound + 5000) })).status;
            };
            const status = await within(bound + 5000, answer(), `${name} adapter started during the hang, failMode ${failMode}`);
            return { name, status, ms: Date.now() - began, logs };
          } finally {
            await app?.close();
          }
        }),
      ).finally(() => proxy.resume());
      const unanswered = settled.flatMap((s) => (s.status === "rejected" ? [String(s.reason)] : []));
      assert.deepEqual(unanswered, [], "every adapter answers");
      const results = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
      for (const r of results) {
        assert.equal(r.status, expected, `${r.name}, failMode ${failMode}`);
        assert.ok(r.ms <= bound, `${r.name}, failMode ${failMode}: first request answered after ${r.ms} ms`);
        assert.equal(failures(r.logs), 1, `${r.name} says once that it cannot read the state: ${r.logs.join(" | ")}`);
      }
      console.log(`started during the hang, failMode ${failMode}: ${results.map((r) => `${r.name} ${r.ms} ms`).join(", ")}`);
    }
  });

  it("a running replica whose database goes silent applies its failMode within 5 s, says so once, and recovers with one message", { timeout: 60_000 }, async () => {
    await postgresStore({ url: t.url }).enable({ mode: "read-only", reason: "silence test" });
    const logs = { open: [] as string[], closed: [] as string[] };
    const open = createMaintenanceCheck({ store: postgresStore({ url: proxy.url }), failMode: "open", log: (m) => logs.open.push(m) });
    const closed = createMaintenanceCheck({ store: postgresStore({ url: proxy.url }), failMode: "closed", log: (m) => logs.closed.push(m) });
    try {
      await Promise.all([open.ready, closed.ready]);
      // Read-only maintenance: writes refused, reads served, while the state is readable.
      assert.equal(open.check(post).kind, "respond");
      assert.equal(closed.check(get).kind, "pass");

      const silentAt = Date.now();
      proxy.silence();
      const [openMs, closedMs] = await Promise.all([
        msUntil(() => open.check(post).kind === "pass", silentAt, bound + 5000, "fail-open serves writes once the database is silent"),
        msUntil(() => closed.check(get).kind === "respond", silentAt, bound + 5000, "fail-closed refuses reads once the database is silent"),
      ]);
      console.log(`running replica, database silent: fail-open after ${openMs} ms, fail-closed after ${closedMs} ms`);
      assert.ok(openMs <= bound, `fail-open applied after ${openMs} ms`);
      assert.ok(closedMs <= bound, `fail-closed applied after ${closedMs} ms`);
      // Reconnect attempts keep failing meanwhile; requests keep coming; still one message each.
      for (let i = 0; i < 40; i++) {
        assert.equal(open.check(post).kind, "pass");
        assert.equal(closed.check(get).kind, "respond");
        await sleep(100);
      }
      assert.equal(failures(logs.open), 1, logs.open.join(" | "));
      assert.equal(failures(logs.closed), 1, logs.closed.join(" | "));
      assert.match(logs.closed[0]!, /failing closed/);

      const resumedAt = Date.now();
      proxy.resume();
      const [openBack, closedBack] = await Promise.all([
        msUntil(() => open.check(post).kind === "respond", resumedAt, 15_000, "fail-open replica reads the state again"),
        msUntil(() => closed.check(get).kind === "pass", resumedAt, 15_000, "fail-closed replica reads the state again"),
      ]);
      console.log(`running replica, database answering again: recovered after ${openBack} ms (open), ${closedBack} ms (closed)`);
      assert.equal(recoveries(logs.open), 1, logs.open.join(" | "));
      assert.equal(recoveries(logs.closed), 1, logs.closed.join(" | "));
    } finally {
      proxy.resume();
      await open.close();
      await closed.close();
      await postgresStore({ url: t.url }).disable();
    }
  });

  it("reads and writes give up with BW_CONNECTION_FAILED within the timeout instead of hanging", { timeout: 60_000 }, async () => {
    const store = postgresStore({ url: proxy.url });
    proxy.silence();
    try {
      const outcomes = await Promise.all(
        (["read", "enable", "disable"] as const).map(async (operation) => {
          const began = Date.now();
          const run = operation === "enable" ? store.enable({ mode: "full" }) : store[operation]();
          const error = await within(bound + 5000, run.then(() => null, (e: unknown) => e), `store.${operation}() during the hang`);
          return { operation, error, ms: Date.now() - began };
        }),
      );
      console.log(`one-shot operations during the hang: ${outcomes.map((o) => `${o.operation} ${o.ms} ms`).join(", ")}`);
      for (const o of outcomes) {
        assert.ok(isBreakwaterError(o.error, "BW_CONNECTION_FAILED"), `${o.operation}: ${String(o.error)}`);
        assert.ok(o.ms <= bound, `${o.operation} gave up after ${o.ms} ms`);
      }
    } finally {
      proxy.resume();
    }
  });

  it("never issues a query on a connection still running one (pg's `client.query() while busy` warning)", { timeout: 60_000 }, async () => {
    // Frequent re-reads on a connection that stopped answering are what made pg warn.
    const check = createMaintenanceCheck({ store: postgresStore({ url: proxy.url, pollMs: 50 }), log: () => undefined });
    try {
      await check.ready;
      proxy.silence();
      await sleep(1500);
    } finally {
      proxy.resume();
      await check.close();
    }
    await sleep(100); // warnings are emitted on the next tick
    assert.deepEqual(busyWarnings, []);
  });
});
