// breakwater.config.ts: found in the working directory (or given with --config), loaded like
// prisma.config.ts, validated; DATABASE_URL is the default connection. The validator is here;
// the resolved config, its defaults and the loader are in resolved.ts (re-exported).
import path from "node:path";
import type { BreakwaterConfig } from "@breakwater/runtime";
import { z } from "zod";
import type { Proof, Same } from "../operations/types.ts";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { resolveParsed, type ResolvedConfig } from "./resolved.ts";

const configSchema = z
  .object({
    databaseUrl: z.string().optional(),
    directUrl: z.string().optional(),
    maintenance: z
      .object({
        store: z.enum(["file", "postgres"]).optional(),
        file: z.string().min(1).optional(),
        /** during a run: read-only (default, only writes refused) or full */
        mode: z.enum(["read-only", "full"]).optional(),
        /** refuse writes to the transformed tables in the database itself during a run (default true) */
        fence: z.boolean().optional(),
        retryAfter: z.number().int().min(0).optional(),
      })
      .strict()
      .default({}),
    lock: z
      .object({
        timeoutMs: z.number().int().min(1).max(600_000).optional(),
        retries: z.number().int().min(0).max(1000).optional(),
        backoffMs: z.number().int().min(0).optional(),
        maxBackoffMs: z.number().int().min(0).optional(),
      })
      .strict()
      .default({}),
    batch: z
      .object({ size: z.number().int().min(1).max(1_000_000).optional(), maxMs: z.number().int().min(10).max(60_000).optional(), pauseMs: z.number().int().min(0).optional() })
      .strict()
      .default({}),
    backup: z
      .object({
        dir: z.string().min(1).optional(),
        format: z.enum(["custom", "directory"]).optional(),
        jobs: z.number().int().min(1).max(64).optional(),
        pgDump: z.string().min(1).optional(),
        pgRestore: z.string().min(1).optional(),
        /** run pg_dump / pg_restore through this, e.g. ["docker", "exec", "-i", "postgres-production"] */
        commandPrefix: z.array(z.string().min(1)).optional(),
        /** what a run takes before its transform when the plan does not say: snapshot (default), full or both */
        beforeRun: z.enum(["snapshot", "full", "both"]).optional(),
        /** a full backup before `breakwater deploy` applies a file: never (default), destructive (drops or rewrites data), always */
        beforeDeploy: z.enum(["never", "destructive", "always"]).optional(),
      })
      .strict()
      .default({}),
    /** tables with at least this many rows get the shadow-column contract under contract: "auto" */
    shadowThresholdRows: z.number().int().min(0).optional(),
    throttle: z
      .object({
        maxBatchRate: z.number().positive().max(10_000).optional(),
        maxReplicaLagMs: z.number().int().min(1).max(3_600_000).optional(),
        /** while this file exists, transforms and verifications hold between two batches */
        pauseFile: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    /** how long a run retries a lost connection before it stops, resumable */
    reconnect: z
      .object({ timeoutMs: z.number().int().min(0).max(3_600_000).optional() })
      .strict()
      .default({}),
    reportDir: z.string().min(1).optional(),
    lint: z
      .object({ rules: z.record(z.string(), z.enum(["off", "warning", "error"])).optional(), deploy: z.boolean().optional() })
      .strict()
      .default({}),
  })
  .strict();

/** The config file's type is @breakwater/runtime's BreakwaterConfig; the schema accepts exactly it. */
export type BreakwaterConfigInput = BreakwaterConfig;
type _Accepts = Proof<Same<z.input<typeof configSchema>, BreakwaterConfig>>;

export type ParsedConfig = z.output<typeof configSchema>;

export function resolveConfig(value: unknown, cwd: string, configPath: string | null, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const parsed = configSchema.safeParse(value ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(config)"}: ${i.message}`).join("; ");
    throw new BreakwaterError("BW_CONFIG_INVALID", `Invalid configuration${configPath ? ` in ${path.basename(configPath)}` : ""}: ${issues}`, {
      hint: "See the README section “Configuration”.",
    });
  }
  return resolveParsed(parsed.data, cwd, configPath, env);
}

export * from "./resolved.ts";
