// The pieces the breakwater command line shares with the runtime (one copy of each): the
// database connection, the error type and the maintenance state. Not a public API.
export * from "./database.ts";
export * from "./errors.ts";
export * from "./maintenance/state.ts";
export * from "./maintenance/response.ts";
export * from "./maintenance/maintenance.ts";
export { fileStore, type FileStoreOptions } from "./maintenance/stores/file.ts";
export { postgresStore, MAINTENANCE_CHANNEL, type PostgresStoreOptions } from "./maintenance/stores/postgres.ts";
