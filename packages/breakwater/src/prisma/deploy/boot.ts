// `breakwater boot`: what a container's start script runs — wait (bounded) for the database,
// deploy pending migrations, re-apply prisma/constraints.sql. Running it twice changes nothing.
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BreakwaterError, Database, describeUrl, errorMessage } from "@breakwater/runtime/internal";
import type { LockPolicy } from "../../db/locks.ts";
import { applyConstraints, type ConstraintResult } from "./constraints.ts";
import { deploy, type DeployOptions, type DeployResult, type MigrateEvent } from "./deploy.ts";
import { connectForPrisma } from "./migrations.ts";

export async function waitForDatabase(url: string, waitSeconds: number, onRetry: (message: string) => void = () => undefined): Promise<void> {
  const deadline = Date.now() + waitSeconds * 1000;
  let last = "";
  for (;;) {
    try {
      const db = await Database.connect(url, { applicationName: "breakwater boot" });
      await db.close();
      return;
    } catch (error) {
      last = errorMessage(error);
      if (Date.now() >= deadline) {
        throw new BreakwaterError("BW_CONNECTION_FAILED", `The database at ${describeUrl(url)} was still unreachable after ${waitSeconds} s: ${last}`, {
          hint: "Check that the database is up and DATABASE_URL points at it; raise --wait for slow starts.",
        });
      }
      onRetry(`waiting for the database (${last})`);
      await sleep(1000);
    }
  }
}

export interface BootResult {
  deploy: DeployResult;
  constraints: ConstraintResult[] | null;
}

export async function boot(
  url: string,
  options: {
    migrationsDir: string;
    constraintsFile: string;
    constraintsRequired: boolean;
    waitSeconds: number;
    lock: LockPolicy;
    backup?: DeployOptions["backup"];
    lint?: DeployOptions["lint"];
    emit?: (e: MigrateEvent | { type: "boot-note"; message: string }) => void;
  },
): Promise<BootResult> {
  const emit = options.emit ?? (() => undefined);
  await waitForDatabase(url, options.waitSeconds, (message) => emit({ type: "boot-note", message }));
  const deployed = await deploy(url, {
    migrationsDir: options.migrationsDir,
    lock: options.lock,
    emit,
    ...(options.backup ? { backup: options.backup } : {}),
    ...(options.lint ? { lint: options.lint } : {}),
  });
  if (!existsSync(options.constraintsFile)) {
    if (options.constraintsRequired) throw new BreakwaterError("BW_CONFIG_INVALID", `Constraints file not found: ${options.constraintsFile}`);
    return { deploy: deployed, constraints: null };
  }
  const { db } = await connectForPrisma(url);
  try {
    return { deploy: deployed, constraints: await applyConstraints(db, options.constraintsFile) };
  } finally {
    await db.close();
  }
}
