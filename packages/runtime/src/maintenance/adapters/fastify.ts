// Fastify adapter: `await app.register(maintenanceFastify, { store })` — an onRequest hook on the
// whole instance (not encapsulated, like fastify-plugin), closed with the server.
import { createMaintenanceCheck, type MaintenanceOptions } from "../maintenance.ts";

interface FastifyRequestLike {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}
interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(body?: string): FastifyReplyLike;
}
interface FastifyLike {
  addHook(name: "onRequest", hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  addHook(name: "onClose", hook: () => Promise<void>): unknown;
}

async function plugin(fastify: FastifyLike, options: MaintenanceOptions): Promise<void> {
  const check = createMaintenanceCheck(options);
  await check.ready;
  fastify.addHook("onRequest", async (request, reply) => {
    if (check.passes(request.url)) return;
    const header = (name: string) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value.join("; ") : (value ?? null);
    };
    const decision = check.check({ method: request.method, path: request.url.split("?")[0]!, cookie: header("cookie"), accept: header("accept") });
    if (decision.kind === "pass") return;
    return reply.code(decision.status).headers(decision.headers).send(decision.body);
  });
  fastify.addHook("onClose", () => check.close());
}

// Registered at the root context (what fastify-plugin marks with this symbol).
export const maintenanceFastify = Object.assign(plugin, { [Symbol.for("skip-override")]: true, [Symbol.for("fastify.display-name")]: "breakwater-maintenance" });
