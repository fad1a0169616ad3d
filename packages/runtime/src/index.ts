// @breakwater/runtime: what an application and its plan and config files import. Maintenance
// mode (the check, the file and PostgreSQL stores, the adapters) and the plain-data types.
export * from "./define.ts";
export { BreakwaterError, isBreakwaterError, type ErrorCode } from "./errors.ts";
export { fileStore, type FileStoreOptions } from "./maintenance/stores/file.ts";
export { postgresStore, type PostgresStoreOptions } from "./maintenance/stores/postgres.ts";
export { createMaintenanceCheck, type MaintenanceCheck, type MaintenanceOptions } from "./maintenance/maintenance.ts";
export { decide, defaultPage, type Decision, type MaintenancePolicy, type RequestFacts } from "./maintenance/response.ts";
export type { MaintenanceState, MaintenanceStore, MaintenanceMode, MaintenanceChange, MaintenanceWatcher, Observed } from "./maintenance/state.ts";
export { maintenanceFetch, type FetchMaintenance } from "./maintenance/adapters/fetch.ts";
export { maintenanceExpress, type ExpressMaintenance } from "./maintenance/adapters/express.ts";
export { maintenanceFastify } from "./maintenance/adapters/fastify.ts";
