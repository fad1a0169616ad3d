import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import express from "express";
import Fastify from "fastify";
import { maintenanceExpress } from "../../src/maintenance/adapters/express.ts";
import { maintenanceFastify } from "../../src/maintenance/adapters/fastify.ts";
import { maintenanceFetch } from "../../src/maintenance/adapters/fetch.ts";
import { maintenanceProxy } from "../../src/maintenance/adapters/next.ts";
import type { MaintenanceOptions } from "../../src/maintenance/maintenance.ts";
import type { MaintenanceMode, MaintenanceStore } from "../../src/maintenance/state.ts";
import { fileStore } from "../../src/maintenance/stores/file.ts";
import { postgresStore } from "../../src/maintenance/stores/postgres.ts";
import { createTestDatabase, tempProject, waitFor, type TestDatabase } from "../harness.ts";

const secret = "staff-only-secret-123";

interface Running {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A plain Node server driving a fetch-style handler, as Hono, Bun or Deno would. */
async function fetchServer(handler: (request: Request) => Promise<Response | undefined>): Promise<Running> {
  const server = createServer(async (req: IncomingMessage, res) => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    const response = await handler(new Request(`http://localhost${req.url}`, { method: req.method, headers }));
    if (!response) {
      res.end("ok");
      return;
    }
    res.statusCode = response.status;
    response.headers.forEach((v, k) => res.setHeader(k, v));
    res.end(await response.text());
  });
  const url = await listen(server);
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}

type Adapter = (options: MaintenanceOptions) => Promise<Running>;

const adapters: Record<string, Adapter> = {
  fetch: async (options) => {
    const handler = maintenanceFetch(options);
    const running = await fetchServer(handler);
    return { url: running.url, close: async () => (await running.close(), await handler.close()) };
  },
  next: async (options) => fetchServer(maintenanceProxy(options)),
  express: async (options) => {
    const app = express();
    const middleware = maintenanceExpress(options);
    app.use(middleware);
    app.use((_req, res) => void res.send("ok"));
    const server = createServer(app);
    const url = await listen(server);
    return { url, close: async () => (await new Promise<void>((r) => server.close(() => r())), await middleware.close()) };
  },
  fastify: async (options) => {
    const app = Fastify();
    await app.register(maintenanceFastify as never, options);
    app.all("/*", async () => "ok");
    app.all("/", async () => "ok");
    await app.listen({ port: 0, host: "127.0.0.1" });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
};

async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, { redirect: "manual", ...init });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

async function exercise(adapter: Adapter, store: MaintenanceStore, mode: MaintenanceMode): Promise<void> {
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
      for (const name of Object.keys(adapters)) {
        it(`${name} adapter, ${storeKind} store, ${mode} mode`, async () => {
          const store = storeKind === "file" ? fileStore({ path: path.join(await tempProject(), "maintenance", "enabled.lock"), pollMs: 200 }) : postgresStore({ url: t.url });
          await exercise(adapters[name]!, store, mode);
        });
      }
    }
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
