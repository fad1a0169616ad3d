// Prisma's engines, offline: breakwater's own (pinned `@prisma/prisma-schema-wasm` for get_dmmf,
// `@prisma/schema-engine-wasm` for datamodel → datamodel diffs), and a schema engine WASM of the
// same build that a project's Prisma CLI bundles, driven by the same glue. The schema engine runs
// through the offline adapter: a diff of two datamodels needs no database.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import type { SchemaFile } from "./datamodel.ts";
import { offlineAdapterFactory } from "./offline-adapter.ts";
import type { SchemaParser } from "./schema-parser.ts";

const require = createRequire(import.meta.url);

// The WebAssembly global, typed for the two calls made here (the project compiles without DOM types).
interface WasmInstance {
  exports: Record<string, unknown>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: { instantiate(bytes: Uint8Array, imports: Record<string, unknown>): Promise<{ instance: WasmInstance }> } }).WebAssembly;

/** The Prisma release whose engines the pinned WASM packages are (the engine line of 7.10.1). */
export const OWN_PRISMA = "7.10.1";

/** breakwater's own schema parser (`@prisma/prisma-schema-wasm`, pinned). */
export const ownSchemaParser = (): SchemaParser => require("@prisma/prisma-schema-wasm") as SchemaParser;

let ownPreviewFeatures: Set<string> | undefined;

/**
 * The text given to breakwater's own engines, with what Prisma 7.10.1 refuses but that changes no
 * SQL left out: connection URLs in the datasource (Prisma 6 and earlier require them), preview
 * features it does not know (Prisma 6's `metrics`), keys and indexes of views (Prisma 5 allows
 * them; views get no SQL). Lines are blanked, not removed, so Prisma's messages keep their line
 * numbers; the files breakwater writes keep the user's text.
 */
export function ownEngineText(content: string): { text: string; omitted: string[] } {
  ownPreviewFeatures ??= new Set(JSON.parse(ownSchemaParser().preview_features()) as string[]);
  const omitted = new Set<string>();
  let block: string | null = null;
  const lines = content.split("\n").map((line) => {
    const opener = /^\s*(datasource|generator|view|model|enum|type)\s+\w+\s*\{/.exec(line);
    if (opener) block = opener[1]!;
    else if (block && /^\s*\}/.test(line)) block = null;
    if (block === "datasource" && /^\s*(url|directUrl|shadowDatabaseUrl)\s*=/.test(line)) {
      omitted.add("connection URLs in the datasource");
      return "";
    }
    if (block === "generator") {
      return line.replace(/^(\s*previewFeatures\s*=\s*\[)([^\]]*)\]/, (_, head: string, list: string) => {
        const names = list
          .split(",")
          .map((n) => n.trim())
          .filter(Boolean);
        const kept = names.filter((n) => ownPreviewFeatures!.has(n.replace(/^"|"$/g, "")));
        for (const n of names) if (!kept.includes(n)) omitted.add(`preview feature ${n} (unknown to Prisma ${OWN_PRISMA})`);
        return `${head}${kept.join(", ")}]`;
      });
    }
    if (block === "view") {
      if (/^\s*@@(id|unique|index)\b/.test(line)) {
        omitted.add("keys and indexes of views");
        return "";
      }
      const bare = line.replace(/\s@(id|unique)(\([^)]*\))?(?=\s|$)/g, "");
      if (bare !== line) omitted.add("keys and indexes of views");
      return bare;
    }
    return line;
  });
  return { text: lines.join("\n"), omitted: [...omitted] };
}

export const engineText = (content: string): string => ownEngineText(content).text;

interface SchemaEngine {
  diff(params: unknown): Promise<{ exitCode: number; stdout: string | null }>;
  free(): void;
}
interface EngineModule {
  __wbg_set_wasm(exports: Record<string, unknown>): void;
  SchemaEngine: { new: (options: unknown, log: (line: string) => void, adapter: object) => Promise<SchemaEngine> };
}

// The wasm-bindgen glue is one module with one instance behind it: one schema engine per process.
let engineModule: { wasm: string; module: Promise<EngineModule> } | undefined;

const gluePath = () => fileURLToPath(import.meta.resolve("@prisma/schema-engine-wasm/schema_engine_bg"));
/** The schema engine WASM the pinned `@prisma/schema-engine-wasm` ships. */
export const ownSchemaEngineWasm = () => path.join(path.dirname(gluePath()), "schema_engine_bg.wasm");

function loadEngine(wasmPath: string): Promise<EngineModule> {
  if (engineModule && engineModule.wasm !== wasmPath) throw new BreakwaterError("BW_INTERNAL", `One schema engine per process: ${engineModule.wasm} is loaded, not ${wasmPath}.`);
  engineModule ??= { wasm: wasmPath, module: instantiateEngine(wasmPath) };
  return engineModule.module;
}

async function instantiateEngine(wasmPath: string): Promise<EngineModule> {
  // Instantiated the way Prisma's WasmSchemaEngineLoader does: the wasm-bindgen glue is the import object.
  const glue = (await import("@prisma/schema-engine-wasm/schema_engine_bg")) as unknown as EngineModule;
  const { instance } = await wasmApi.instantiate(await readFile(wasmPath), { "./schema_engine_bg.js": glue });
  glue.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as () => void)();
  return glue;
}

/** The names a schema engine WASM imports: equal names mean the pinned glue drives it (the same wasm-bindgen output). */
export async function engineImports(wasmPath: string): Promise<string[]> {
  const api = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<object>; Module: { imports(m: object): { module: string; name: string }[] } } })
    .WebAssembly;
  return api.Module.imports(await api.compile(await readFile(wasmPath)))
    .map((i) => `${i.module}:${i.name}`)
    .sort();
}

export type DiffSide = SchemaFile[] | "empty";

/** Prisma's migration script from one datamodel to another, by a schema engine WASM driven by the pinned glue. */
export async function diffWithWasm(wasmPath: string, from: DiffSide, to: DiffSide): Promise<string> {
  const module = await loadEngine(wasmPath);
  const logs: string[] = [];
  const target = (side: DiffSide) => (side === "empty" ? { tag: "empty" } : { tag: "schemaDatamodel", files: side });
  const datamodels = to === "empty" ? (from as SchemaFile[]) : to;
  const engine = await module.SchemaEngine.new(
    { datamodels: datamodels.map((f) => [f.path, f.content]) },
    (line) => logs.push(line),
    bindMigrationAwareSqlAdapterFactory(offlineAdapterFactory()),
  );
  try {
    const result = await engine.diff({ from: target(from), to: target(to), script: true, exitCode: null, filters: { externalTables: [], externalEnums: [] } });
    return result.stdout ?? "";
  } catch (error) {
    const name = (side: DiffSide) => (side === "empty" ? "an empty schema" : side.map((f) => f.path).join(", "));
    throw new BreakwaterError("BW_SCHEMA_INVALID", `Prisma's schema engine could not diff ${name(from)} → ${name(to)}: ${(error as Error).message}`);
  } finally {
    engine.free();
  }
}

/** Prisma's migration script from one datamodel to another with breakwater's own engine: the text `prisma migrate diff --script` of Prisma 7.10.1 prints. */
export function diffSchemas(from: SchemaFile[], to: SchemaFile[]): Promise<string> {
  const text = (files: SchemaFile[]) => files.map((f) => ({ path: f.path, content: engineText(f.content) }));
  return diffWithWasm(ownSchemaEngineWasm(), text(from), text(to));
}
