// `breakwater maintenance on|off|status|secret`: maintenance mode on or off (the lock file an
// app's middleware checks, or the PostgreSQL store shared by every replica), shown, or bypassed.
import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { BreakwaterError, Database, isActive, type MaintenanceMode } from "@breakwater/runtime/internal";
import { listFences, type FenceInfo } from "../maintenance/write-fence.ts";
import { defineCommand, type OptionSpec } from "./command.ts";
import type { CommandContext, CommandOptions } from "./context.ts";

interface StoreOptions extends CommandOptions {
  store?: "file" | "postgres";
}

const storeOption: OptionSpec = ["--store <kind>", "file or postgres (default: maintenance.store in the config, else file)"];

/** The store the config names, or the one --store names. */
function storeOf(ctx: CommandContext, options: StoreOptions) {
  if (options.store) {
    if (options.store !== "file" && options.store !== "postgres") throw new BreakwaterError("BW_CONFIG_INVALID", `--store must be file or postgres, got ${String(options.store)}`);
    ctx.config.maintenance.store = options.store;
  }
  return ctx.maintenanceStore();
}

/** "2026-01-01T10:00:00Z", or a duration from now: "90s", "30m", "2h", "1d". */
export function parseUntil(value: string, now = Date.now()): string {
  const duration = /^(\d+)\s*(s|m|h|d)$/.exec(value.trim());
  if (duration) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[duration[2] as "s" | "m" | "h" | "d"];
    return new Date(now + Number(duration[1]) * unit * 1000).toISOString();
  }
  const at = Date.parse(value);
  if (!Number.isFinite(at)) throw new BreakwaterError("BW_CONFIG_INVALID", `--until must be an ISO date-time or a duration like 30m, got ${JSON.stringify(value)}`);
  return new Date(at).toISOString();
}

/** Fences of unfinished runs, which maintenance off leaves in place; none when there is no database to ask. */
async function fencesStillUp(databaseUrl: string | undefined): Promise<FenceInfo[]> {
  if (!databaseUrl) return [];
  let db: Database | undefined;
  try {
    db = await Database.connect(databaseUrl, { applicationName: "breakwater maintenance", connectTimeoutMs: 3000, queryTimeoutMs: 3000 });
    return await listFences(db);
  } catch {
    return [];
  } finally {
    await db?.close();
  }
}

export function registerMaintenance(program: Command): void {
  const maintenance = program
    .command("maintenance")
    .description("Turn maintenance mode on or off, show it, or print the staff bypass link (file store: maintenance/enabled.lock; postgres store: shared by every replica)");

  defineCommand<StoreOptions & { readOnly?: boolean; reason?: string; retryAfter?: string; until?: string }>(maintenance, {
    name: "on",
    description: "Turn maintenance mode on (or update it)",
    options: [
      ["--read-only", "refuse only POST/PUT/PATCH/DELETE; reads go on"],
      ["--reason <text>", "shown on the maintenance page"],
      ["--retry-after <seconds>", "Retry-After sent to clients (default: maintenance.retryAfter in the config, else 60)"],
      ["--until <time>", "end automatically at an ISO time or after a duration (90s, 30m, 2h)"],
      storeOption,
    ],
    examples: ['npx breakwater maintenance on --reason "Database upgrade" --retry-after 120', "npx breakwater maintenance on --read-only --until 30m --store postgres"],
    run: async (ctx, options) => {
      const retryAfter = options.retryAfter === undefined ? null : Number(options.retryAfter);
      if (retryAfter !== null && (!Number.isInteger(retryAfter) || retryAfter < 0))
        throw new BreakwaterError("BW_CONFIG_INVALID", `--retry-after must be a whole number of seconds, got ${options.retryAfter}`);
      const until = options.until === undefined ? null : parseUntil(options.until);
      const store = storeOf(ctx, options);
      const mode: MaintenanceMode = options.readOnly ? "read-only" : "full";
      const wasOff = await store.enable({ mode, reason: options.reason ?? null, retryAfter: retryAfter ?? ctx.config.maintenance.retryAfter ?? null, until });
      const { yellow } = ctx.output.palette;
      ctx.output.result(
        { enabled: true, mode, store: store.kind, location: store.location, wasOff, until },
        `${yellow(`Maintenance ${wasOff ? "on" : "updated"}`)} (${mode}${until ? `, until ${until}` : ""}) — ${store.location}`,
      );
    },
  });

  defineCommand<StoreOptions>(maintenance, {
    name: "off",
    description: "Turn maintenance mode off",
    options: [storeOption],
    examples: ["npx breakwater maintenance off"],
    run: async (ctx, options) => {
      const store = storeOf(ctx, options);
      await store.disable();
      const fences = await fencesStillUp(ctx.config.databaseUrl);
      const note = fences
        .map(
          (f) =>
            `\nThe write fence of run ${f.runId} still refuses writes to ${f.tables.join(", ")} (since ${f.since.toISOString()}): the run is unfinished. \`breakwater resume ${f.runId}\` completes it and \`breakwater rollback ${f.runId}\` undoes it; either lowers the fence.`,
        )
        .join("");
      ctx.output.result({ enabled: false, store: store.kind, location: store.location, fences }, `${ctx.output.palette.green("Maintenance off")} — ${store.location}${note}`);
    },
  });

  defineCommand<StoreOptions>(maintenance, {
    name: "status",
    description: "Show whether maintenance mode is on, its mode, reason and expiry",
    options: [storeOption],
    examples: ["npx breakwater maintenance status --json"],
    run: async (ctx, options) => {
      const store = storeOf(ctx, options);
      const state = await store.read();
      const active = isActive(state);
      const expired = state.enabled && !active;
      const { green, yellow } = ctx.output.palette;
      ctx.output.result(
        { active, ...state, expired, store: store.kind, location: store.location },
        active ?
          `${yellow(`Maintenance ON (${state.mode})`)}${state.reason ? ` — ${state.reason}` : ""}${state.since ? `, since ${state.since}` : ""}${state.until ? `, until ${state.until}` : ""} — ${store.location}`
        : `${green("Maintenance off")}${expired ? ` (expired at ${state.until})` : ""} — ${store.location}`,
      );
    },
  });

  defineCommand<CommandOptions & { baseUrl: string; path: string }>(maintenance, {
    name: "secret",
    description: "Print the staff bypass link: opening it sets a signed cookie that lets staff through maintenance",
    options: [
      ["--base-url <url>", "the application's address", "http://localhost:3000"],
      ["--path <path>", "bypass path configured in the adapter", "/__maintenance/bypass"],
    ],
    preface: "The secret comes from BREAKWATER_MAINTENANCE_SECRET (give the same value to the adapter's bypass.secret);\nwithout it a new secret is generated and printed.",
    examples: ["BREAKWATER_MAINTENANCE_SECRET=… npx breakwater maintenance secret --base-url https://app.example.com"],
    loadConfig: false,
    run: async ({ output }, options) => {
      const configured = process.env.BREAKWATER_MAINTENANCE_SECRET;
      const secret = configured || randomBytes(24).toString("base64url");
      if (!configured) output.note(`No BREAKWATER_MAINTENANCE_SECRET set; generated one. Set BREAKWATER_MAINTENANCE_SECRET=${secret} in the application's environment.`);
      const url = `${options.baseUrl.replace(/\/$/, "")}${options.path}/${secret}`;
      output.result({ type: "result", url, generated: !configured }, url);
    },
  });
}
