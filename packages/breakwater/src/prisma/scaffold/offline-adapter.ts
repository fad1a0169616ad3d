// A driver adapter for Prisma's schema engine that works without a database: the engine runs one
// bootstrap query when it starts, and a datamodel → datamodel diff runs no SQL, so answering that
// query (and refusing anything else) is enough. It has no runtime import, so that the Prisma
// config file breakwater writes for a project's own `prisma migrate diff` can load it as it is.
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory, SqlQuery, SqlResultSet } from "@prisma/driver-adapter-utils";

// ColumnTypeEnum's Boolean, Text and Int32, as numbers: a runtime import would tie this file to one version.
const BOOLEAN = 5;
const TEXT = 7;
const INT32 = 0;

export function offlineAdapterFactory(): SqlMigrationAwareDriverAdapterFactory {
  const refuse = (what: string): Promise<never> => Promise.reject(new Error(`breakwater plan works offline and cannot run ${what}`));
  const connection: SqlDriverAdapter = {
    provider: "postgres",
    adapterName: "breakwater-offline",
    queryRaw(query: SqlQuery): Promise<SqlResultSet> {
      if (!query.sql.includes("server_version_num")) return refuse(query.sql);
      // The bootstrap query: the schema exists, and the server is PostgreSQL 15.
      return Promise.resolve({
        columnNames: ["exists", "version", "numeric_version"],
        columnTypes: [BOOLEAN, TEXT, INT32],
        rows: [[true, "PostgreSQL 15.0", 150000]],
      } as SqlResultSet);
    },
    executeRaw: (query: SqlQuery) => refuse(query.sql),
    executeScript: () => refuse("a script"),
    startTransaction: () => refuse("a transaction"),
    getConnectionInfo: () => ({ schemaName: "public", supportsRelationJoins: true }),
    dispose: () => Promise.resolve(),
  };
  return { provider: "postgres", adapterName: "breakwater-offline", connect: () => Promise.resolve(connection), connectToShadowDb: () => Promise.resolve(connection) };
}
