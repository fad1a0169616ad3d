import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileStore, isBreakwaterError, type MaintenanceMode, type MaintenanceStore, postgresStore } from "@breakwater/runtime/internal";
import { maintenanceProxy } from "@breakwater/runtime/next";
import { createTestDatabase, tempProject, waitFor, type TestDatabase } from "../harness.ts";
import { adapterApps, request, type AdapterApp } from "./adapter-apps.ts";

const secret = "staff-only-secret-123";

async function exercise(adapter: AdapterApp, store: MaintenanceStore, mode: MaintenanceMode): Promise<void> {
  await store.disable();
  const app = await adapter({ store, bypass: { secret }, log: () => undefined });
  try {
    assert.equal((await request(`${app.url}/`)).status, 200);
    assert.equal((await request(`${app.url}/users`, { method: "POST" })).status, 200);
    await store.enable({ mode, reason: "Role migration", retryAfter: 30 });
    // The flip reaches the app through the store's own change signal (watch / NOTIFY).
    await waitFor(async () => (await request(`${app.url}/users`, { method: "POST" })).status === 503, 3000, 20);
    const post = await request(`${app.url}/users`, { method: "POST", headers: { accept: "application/json" } });
    assert.equal(post.status, 503);
    assert.equal(post.headers.get("retry-after"), "30");
    assert.equal(post.headers.get("cache-control"), "no-store");
    assert.equal(JSON.parse(post.body).reason, "Role migration");
    const page = await request(`${app.url}/users`);
    if (mode === "full") {
      assert.equal(page.status, 503);
      assert.match(page.body, /Maintenance in progress/);
      assert.match(page.body, /Role migration/);
    } else {
      assert.equal(page.status, 200, "reads go on in read-only mode");
    }
    assert.equal((await request(`${app.url}/health`)).status, 200, "health checks stay open");
    const link = await request(`${app.url}/__maintenance/bypass/${secret}`);
    assert.equal(link.status, 302);
    const cookie = link.headers.get("set-cookie")!.split(";")[0]!;
    assert.equal((await request(`${app.url}/users`, { method: "POST", headers: { cookie } })).status, 200, "staff bypass");
    const forged = cookie.replace(/\.[^.]+$/, `.${"x".repeat(43)}`);
    assert.equal((await request(`${app.url}/users`, { method: "POST", headers: { cookie: forged } })).status, 503, "forged cookie refused");
    await store.disable();
    await waitFor(async () => (await request(`${app.url}/users`, { method: "POST" })).status === 200, 3000, 20);
  } finally {
    await app.close();
  }
}

describe("maintenance adapters over real HTTP", () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => t.drop());

  for (const storeKind of ["file", "postgres"] as const) {
    for (const mode of ["full", "read-only"] as const) {
      for (const [name, app] of Object.entries(adapterApps)) {
        it(`${name} adapter, ${storeKind} store, ${mode} mode`, async () => {
          const store = storeKind === "file" ? fileStore({ path: path.join(await tempProject(), "maintenance", "enabled.lock"), pollMs: 200 }) : postgresStore({ url: t.url });
          await exercise(app, store, mode);
        });
      }
    }
  }
});

describe("the bypass option", () => {
  for (const [name, app] of Object.entries(adapterApps)) {
    it(`${name} adapter refuses to start when bypass.secret is undefined or empty, naming the option`, async () => {
      assert.equal(process.env.BREAKWATER_SECRET_NEVER_SET, undefined);
      // What `bypass: { secret: process.env.X! }` gives when X is not set, and an empty X.
      for (const given of [process.env.BREAKWATER_SECRET_NEVER_SET!, ""]) {
        const store = fileStore({ path: path.join(await tempProject(), "maintenance", "enabled.lock") });
        const started = await app({ store, bypass: { secret: given }, log: () => undefined }).then(
          (running) => running,
          (error: unknown) => error as Error,
        );
        if (!(started instanceof Error)) {
          await started.close();
          assert.fail(`the ${name} adapter started with bypass.secret ${JSON.stringify(given)}`);
        }
        assert.ok(isBreakwaterError(started, "BW_CONFIG_INVALID"), `expected BW_CONFIG_INVALID, got ${started}`);
        assert.match(started.message, /bypass\.secret/);
      }
    });

    it(`${name} adapter refuses to start with a failMode other than "open" or "closed"`, async () => {
      const store = fileStore({ path: path.join(await tempProject(), "maintenance", "enabled.lock") });
      const started = await app({ store, failMode: "close" as "closed", log: () => undefined }).then(
        (running) => running,
        (error: unknown) => error as Error,
      );
      if (!(started instanceof Error)) {
        await started.close();
        assert.fail(`the ${name} adapter started with failMode "close"`);
      }
      assert.ok(isBreakwaterError(started, "BW_CONFIG_INVALID"), `expected BW_CONFIG_INVALID, got ${started}`);
      assert.match(started.message, /failMode is "close"; it must be "open" or "closed"/);
    });
  }
});

describe("breakwater/next", () => {
  it("refuses to load in the Edge runtime with a message saying what to do", () => {
    const global = globalThis as { EdgeRuntime?: string };
    global.EdgeRuntime = "edge-runtime";
    try {
      assert.throws(() => maintenanceProxy({ store: fileStore({ path: "/nonexistent/enabled.lock" }) }), /needs the Node\.js runtime[\s\S]*proxy\.ts on Next 16[\s\S]*runtime: "nodejs"/);
    } finally {
      delete global.EdgeRuntime;
    }
  });
});
