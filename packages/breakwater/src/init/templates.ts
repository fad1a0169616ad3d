// The text `breakwater init` writes or asks the user to add: breakwater.config.*, the Next.js
// proxy.ts / middleware.ts, and the lines for Express, Fastify and fetch-style servers.

/** The maintenance switch the config, the proxy and the CLI all read: file by default, postgres on request. */
const storeVariable = "BREAKWATER_MAINTENANCE_STORE";
const fileVariable = "BREAKWATER_MAINTENANCE_FILE";
export const maintenanceFile = "maintenance/enabled.lock";
/** Every page and API route, but not Next's static files. */
export const nextMatcher = "/((?!_next/static|_next/image|favicon.ico).*)";

export function configFile(): string {
  return `// breakwater's settings, read by \`npx breakwater\` (run, deploy, maintenance, backup).
// Every key is optional: these are the defaults, written out to be easy to change.
import { defineConfig } from "@breakwater/runtime";

export default defineConfig({
  // The database is DATABASE_URL unless set here. Behind a pooler in transaction mode
  // (PgBouncer, Neon's pooled URL), give the direct URL: databaseUrl: process.env.DIRECT_URL,
  maintenance: {
    // "file": a lock file on this machine, for one app server. "postgres": a row in the
    // database that every replica watches. The app's proxy reads the same variables.
    store: process.env.${storeVariable} === "postgres" ? "postgres" : "file",
    file: process.env.${fileVariable} ?? "${maintenanceFile}",
    // During \`breakwater run\`: "read-only" refuses only writes (POST, PUT, PATCH, DELETE),
    // "full" answers every request with the 503 page.
    mode: "read-only",
  },
  backup: {
    // pg_dump files (mode 0600) and their manifests.
    dir: "backups",
  },
  // The migration log of every run, in Markdown and JSON.
  reportDir: "breakwater-reports",
});
`;
}

export interface NextTarget {
  /** proxy (Next 16+) or middleware (Next 15.5+) */
  kind: "proxy" | "middleware";
  typescript: boolean;
}

function nextStore(typescript: boolean): string {
  const url = typescript ? "process.env.DATABASE_URL!" : "process.env.DATABASE_URL";
  return `const store =
  process.env.${storeVariable} === "postgres"
    ? postgresStore({ url: ${url} })
    : fileStore({ path: process.env.${fileVariable} ?? "${maintenanceFile}" });`;
}

function nextConfig(kind: NextTarget["kind"]): string {
  return kind === "proxy" ?
      `export const config = {\n  matcher: ["${nextMatcher}"],\n};`
    : `export const config = {\n  // breakwater reads a file or PostgreSQL: the Edge runtime cannot.\n  runtime: "nodejs",\n  matcher: ["${nextMatcher}"],\n};`;
}

/** The whole proxy.ts / middleware.ts written when the project has none. */
export function nextFile(target: NextTarget): string {
  const { kind, typescript } = target;
  return `// Maintenance mode for the whole app (breakwater): every page answers 503 while
// \`npx breakwater maintenance on\` (or a \`breakwater run\`) holds it on.
// Several app servers: set ${storeVariable}=postgres here and for the CLI (it uses DATABASE_URL).
import { fileStore, maintenanceProxy, postgresStore } from "@breakwater/runtime/next";

${nextStore(typescript)}

// Staff get through with the link \`npx breakwater maintenance secret\` prints.
const secret = process.env.BREAKWATER_MAINTENANCE_SECRET;

export const ${kind} = maintenanceProxy(secret ? { store, bypass: { secret } } : { store });

${nextConfig(kind)}
`;
}

/** What to add to an existing proxy.ts / middleware.ts, which init never changes. */
export function nextLines(target: NextTarget): string {
  const { kind, typescript } = target;
  const request = typescript ? "request: NextRequest" : "request";
  return `${typescript ? 'import type { NextRequest } from "next/server";\n' : ""}import { fileStore, maintenanceProxy, postgresStore } from "@breakwater/runtime/next";

${nextStore(typescript)}
const maintenance = maintenanceProxy({ store });

// At the start of your ${kind} function:
export async function ${kind}(${request}) {
  const response = await maintenance(request);
  if (response) return response;
  // your ${kind} code goes on here
}

// Its matcher must reach every page${kind === "middleware" ? ", and it must run on Node.js" : ""}:
${nextConfig(kind)}
`;
}

export type ModuleStyle = "esm" | "commonjs";

function imports(style: ModuleStyle, names: Array<[string[], string]>): string {
  return names
    .map(([bindings, from]) => (style === "esm" ? `import { ${bindings.join(", ")} } from "${from}";` : `const { ${bindings.join(", ")} } = require("${from}");`))
    .join("\n");
}

export function expressLines(style: ModuleStyle): string {
  return `${imports(style, [
    [["fileStore"], "@breakwater/runtime"],
    [["maintenanceExpress"], "@breakwater/runtime/express"],
  ])}

// Before your routes:
app.use(maintenanceExpress({ store: fileStore() }));
`;
}

export function fastifyLines(style: ModuleStyle): string {
  return `${imports(style, [
    [["fileStore"], "@breakwater/runtime"],
    [["maintenanceFastify"], "@breakwater/runtime/fastify"],
  ])}

// Before your routes:
await app.register(maintenanceFastify, { store: fileStore() });
`;
}

/** Hono, Bun, Deno and any server whose handler takes a Request. */
export function fetchLines(style: ModuleStyle): string {
  return `${imports(style, [
    [["fileStore"], "@breakwater/runtime"],
    [["maintenanceFetch"], "@breakwater/runtime/fetch"],
  ])}

const maintenance = maintenanceFetch({ store: fileStore() });

// First thing in your request handler:
const response = await maintenance(request);
if (response) return response;
`;
}
