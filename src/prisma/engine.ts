// Prisma's own engines, offline: the schema parser (`@prisma/prisma-schema-wasm`, get_dmmf) and
// the schema engine (`@prisma/schema-engine-wasm`) for datamodel → datamodel diffs. The schema
// engine wants a driver adapter and runs one bootstrap query when it starts; a diff of two
// datamodels runs no SQL, so an adapter that answers only that query (and refuses anything else)
// keeps `breakwater plan` free of any database.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory, type SqlQuery, type SqlResultSet } from "@prisma/driver-adapter-utils";
import { BreakwaterError } from "../errors.ts";

const require = createRequire(import.meta.url);

// The WebAssembly global, typed for the two calls made here (the project compiles without DOM types).
interface WasmInstance {
  exports: Record<string, unknown>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: { instantiate(bytes: Uint8Array, imports: Record<string, unknown>): Promise<{ instance: WasmInstance }> } }).WebAssembly;

export interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: "scalar" | "object" | "enum" | "unsupported";
  isList: boolean;
  isRequired: boolean;
  isId: boolean;
  isUnique: boolean;
  hasDefaultValue: boolean;
  type: string;
  nativeType?: [string, string[]] | null;
  default?: unknown;
  isUpdatedAt: boolean;
  relationFromFields?: string[];
}

export interface DmmfModel {
  name: string;
  dbName: string | null;
  schema: string | null;
  fields: DmmfField[];
}

export interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName: string | null }[];
}

export interface Datamodel {
  models: DmmfModel[];
  enums: DmmfEnum[];
}

// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;]*m/g;

/**
 * The text given to the engines: connection URLs (`url`, `directUrl`, `shadowDatabaseUrl`, which
 * Prisma 6 schemas carry and Prisma 7 refuses) are left out of the datasource block. They change
 * nothing in a diff; the files breakwater writes keep the user's text.
 */
export function engineText(content: string): string {
  const lines = content.split("\n");
  let inDatasource = false;
  return lines
    .filter((line) => {
      if (/^\s*datasource\s+\w+\s*\{/.test(line)) inDatasource = true;
      else if (inDatasource && /^\s*\}/.test(line)) inDatasource = false;
      return !(inDatasource && /^\s*(url|directUrl|shadowDatabaseUrl)\s*=/.test(line));
    })
    .join("\n");
}

/** Parses a schema (one file, or a folder's files) with Prisma's own parser; a schema Prisma rejects is refused with its message. */
export function parseSchema(files: SchemaFile[], label: string): Datamodel {
  const psl = require("@prisma/prisma-schema-wasm") as { get_dmmf(params: string): string };
  try {
    const dmmf = JSON.parse(psl.get_dmmf(JSON.stringify({ prismaSchema: files.map((f) => [f.path, engineText(f.content)]) }))) as { datamodel: Datamodel };
    return dmmf.datamodel;
  } catch (error) {
    let message = (error as Error).message ?? String(error);
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {
      // not JSON: keep the text
    }
    throw new BreakwaterError("BW_SCHEMA_INVALID", `Prisma rejects ${label}:\n${message.replace(ansi, "").trim()}`, { hint: "Fix the schema (the message is Prisma's own), then run breakwater plan again." });
  }
}

interface SchemaEngine {
  diff(params: unknown): Promise<{ exitCode: number; stdout: string | null }>;
  free(): void;
}
interface EngineModule {
  __wbg_set_wasm(exports: Record<string, unknown>): void;
  SchemaEngine: { new: (options: unknown, log: (line: string) => void, adapter: object) => Promise<SchemaEngine> };
}

let engineModule: Promise<EngineModule> | undefined;

async function loadEngine(): Promise<EngineModule> {
  // Instantiated the way Prisma's WasmSchemaEngineLoader does: the wasm-bindgen glue is the import object.
  const glue = (await import("@prisma/schema-engine-wasm/schema_engine_bg")) as unknown as EngineModule;
  const gluePath = fileURLToPath(import.meta.resolve("@prisma/schema-engine-wasm/schema_engine_bg"));
  const wasm = await readFile(path.join(path.dirname(gluePath), "schema_engine_bg.wasm"));
  const { instance } = await wasmApi.instantiate(wasm, { "./schema_engine_bg.js": glue });
  glue.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as () => void)();
  return glue;
}

function offlineAdapter(): SqlMigrationAwareDriverAdapterFactory {
  const refuse = (what: string): never => {
    throw new Error(`breakwater plan works offline and cannot run ${what}`);
  };
  const connection: SqlDriverAdapter = {
    provider: "postgres",
    adapterName: "breakwater-offline",
    queryRaw(query: SqlQuery): Promise<SqlResultSet> {
      if (!query.sql.includes("server_version_num")) return refuse(query.sql);
      // The bootstrap query: the schema exists, and the server is PostgreSQL 15.
      return Promise.resolve({ columnNames: ["exists", "version", "numeric_version"], columnTypes: [ColumnTypeEnum.Boolean, ColumnTypeEnum.Text, ColumnTypeEnum.Int32], rows: [[true, "PostgreSQL 15.0", 150000]] });
    },
    executeRaw: (query: SqlQuery) => Promise.resolve(refuse(query.sql)),
    executeScript: () => Promise.resolve(refuse("a script")),
    startTransaction: () => Promise.resolve(refuse("a transaction")),
    getConnectionInfo: () => ({ schemaName: "public", supportsRelationJoins: true }),
    dispose: () => Promise.resolve(),
  };
  return { provider: "postgres", adapterName: "breakwater-offline", connect: () => Promise.resolve(connection), connectToShadowDb: () => Promise.resolve(connection) };
}

export interface SchemaFile {
  path: string;
  content: string;
}

const forEngine = (files: SchemaFile[]) => files.map((f) => ({ path: f.path, content: engineText(f.content) }));

/** Prisma's migration script from one datamodel to another: the text `prisma migrate diff --script` prints. */
export async function diffSchemas(from: SchemaFile[], to: SchemaFile[]): Promise<string> {
  engineModule ??= loadEngine();
  const module = await engineModule;
  const logs: string[] = [];
  const engine = await module.SchemaEngine.new({ datamodels: forEngine(to).map((f) => [f.path, f.content]) }, (line) => logs.push(line), bindMigrationAwareSqlAdapterFactory(offlineAdapter()));
  try {
    const result = await engine.diff({
      from: { tag: "schemaDatamodel", files: forEngine(from) },
      to: { tag: "schemaDatamodel", files: forEngine(to) },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    return result.stdout ?? "";
  } catch (error) {
    throw new BreakwaterError("BW_SCHEMA_INVALID", `Prisma's schema engine could not diff ${from.map((f) => f.path).join(", ")} → ${to.map((f) => f.path).join(", ")}: ${(error as Error).message}`);
  } finally {
    engine.free();
  }
}
