// The four adapters, each mounted in a real app listening on a free port, so tests send real
// HTTP requests to them.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { maintenanceExpress } from "@breakwater/runtime/express";
import { maintenanceFastify } from "@breakwater/runtime/fastify";
import { maintenanceFetch } from "@breakwater/runtime/fetch";
import { maintenanceProxy } from "@breakwater/runtime/next";
import type { MaintenanceOptions } from "@breakwater/runtime/internal";

export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

export type AdapterApp = (options: MaintenanceOptions) => Promise<RunningApp>;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A plain Node server driving a fetch-style handler, as Hono, Bun or Deno would. */
async function fetchServer(handler: (request: Request) => Promise<Response | undefined>): Promise<RunningApp> {
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

export const adapterApps: Record<"fetch" | "next" | "express" | "fastify", AdapterApp> = {
  fetch: async (options) => {
    const handler = maintenanceFetch(options);
    const running = await fetchServer(handler);
    return { url: running.url, close: async () => (await running.close(), await handler.close()) };
  },
  next: async (options) => {
    const proxy = maintenanceProxy(options);
    const running = await fetchServer(proxy);
    return { url: running.url, close: async () => (await running.close(), await proxy.close()) };
  },
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

export async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, { redirect: "manual", ...init });
  return { status: response.status, body: await response.text(), headers: response.headers };
}
