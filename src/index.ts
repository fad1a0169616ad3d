// The public API: `import { defineConfig, defineMigration, renameEnumValue, … } from "breakwater"`.
export { defineConfig, loadConfig, type BreakwaterConfigInput, type ResolvedConfig } from "./config/config.ts";
export { defineMigration, loadPlan, validatePlan, type MigrationInput, type Plan, type UserCheck } from "./plan/plan.ts";
export { renameEnumValue, type RenameEnumValueInput } from "./operations/rename-enum-value.ts";
export { addEnumValue, type AddEnumValueInput } from "./operations/add-enum-value.ts";
export { backfill, type BackfillInput } from "./operations/backfill.ts";
export { sql, type SqlInput } from "./operations/sql.ts";
export { runPlan, resumeRun, rollbackRunById, runStatus, RunFailure, type RunOutcome, type RunStatus } from "./runner/runner.ts";
export type { RunnerEvent, CheckResult } from "./runner/events.ts";
export { renderMarkdown, type MigrationLog } from "./report/migration-log.ts";
export { BreakwaterError, type ErrorCode } from "./errors.ts";
export { startEmbeddedCluster, type EmbeddedCluster } from "./db/embedded.ts";
