// The programmatic API of the command line: `import { runPlan, loadPlan, … } from "breakwater"`.
// Plan and config files import their types from @breakwater/runtime, as the application does.
export { loadConfig, type ResolvedConfig } from "./config/resolved.ts";
export { loadPlan, validatePlan, type Plan } from "./plan/plan.ts";
export { runPlan, resumeRun, rollbackRunById, runStatus, RunFailure, type RunOutcome, type RunStatus } from "./runner/runner.ts";
export type { BreakwaterEvent, RunnerEvent, BackupEvent, MigrationEvent, EventSink, CheckResult } from "./runner/events.ts";
export { renderMarkdown, type MigrationLog } from "./report/migration-log.ts";
export { startEmbeddedCluster, type EmbeddedCluster } from "./db/embedded.ts";
export { FENCE_SQLSTATE } from "./maintenance/write-fence.ts";
export * from "@breakwater/runtime";
