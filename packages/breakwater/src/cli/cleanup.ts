// `breakwater cleanup`: drops the snapshots completed runs kept for a rollback, once old enough.
import type { Command } from "commander";
import { cleanup } from "../runner/cleanup.ts";
import { parseAge } from "./backup.ts";
import { defineCommand } from "./command.ts";
import type { CommandOptions } from "./context.ts";

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function registerCleanup(program: Command): void {
  defineCommand<CommandOptions & { olderThan: string; dryRun?: boolean }>(program, {
    name: "cleanup",
    description:
      "Drop what completed runs older than --older-than kept for a rollback (snapshot tables; old columns and types contracts set aside); such a run can then no longer be rolled back (unfinished runs keep theirs)",
    options: [
      ["--older-than <age>", "runs finished longer ago than this (7d, 12h, 30m)", "7d"],
      ["--dry-run", "only list what would be dropped"],
    ],
    examples: ["npx breakwater cleanup --dry-run", "npx breakwater cleanup --older-than 30d"],
    run: async (ctx, options) => {
      const result = await cleanup(await ctx.sessionUrl(), {
        olderThanSeconds: parseAge(options.olderThan),
        dryRun: options.dryRun ?? false,
        reconnectTimeoutMs: ctx.config.reconnectTimeoutMs,
        lock: ctx.config.lock,
      });
      const verb = result.dryRun ? "would drop" : "dropped";
      const lines =
        result.runs.length === 0 ?
          [`No completed run older than ${options.olderThan} keeps a snapshot or anything set aside.`]
        : [
            ...result.runs.map(
              (run) =>
                `${run.id}  ${run.planId}  finished ${run.finishedAt}: ${verb} ${[...run.tables.map((t) => `breakwater.${t.name} (${megabytes(t.bytes)})`), ...run.setAside.map((s) => `${s} (${verb === "dropped" ? "done" : "to do"})`)].join(", ")}`,
            ),
            `${result.dryRun ? "Would free" : "Freed"} ${megabytes(result.bytes)}${result.dryRun ? "" : "; those runs can no longer be rolled back"}.`,
          ];
      ctx.output.result({ type: "result", ...result }, lines.join("\n"));
    },
  });
}
