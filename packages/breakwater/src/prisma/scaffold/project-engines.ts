// Which Prisma engines `breakwater plan` reads and diffs schemas with: those of the Prisma CLI the
// project has installed (node_modules/prisma, found from the schema's folder up) when they can run
// offline, else breakwater's own (Prisma 7.10.1's engine line) — and the report of which did what
// and what may differ from the project's own Prisma. What the CLIs bundle in build/:
//   - every Prisma CLI from 5.0 on: the schema parser, prisma_schema_build_bg.wasm (validation, DMMF);
//   - from 6.6 on: the schema engine too, schema_engine_bg.wasm. Prisma 6.6–6.19's `migrate diff`
//     runs it with a driver adapter named in a Prisma config file (here: the offline adapter);
//     Prisma 7 dropped that setting, so its `migrate diff` needs the native engine, downloaded at
//     install time. A schema engine WASM built like breakwater's own (same imports) is driven here.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import type { Datamodel, SchemaFile } from "./datamodel.ts";
import { diffWithWasm, engineImports, OWN_PRISMA, ownEngineText, ownSchemaEngineWasm, ownSchemaParser, type DiffSide } from "./engine.ts";
import { instantiateSchemaParser, type SchemaParser } from "./schema-parser.ts";

const run = promisify(execFile);

export interface ProjectPrisma {
  version: string;
  major: number;
  minor: number;
  /** the folder of its package.json */
  dir: string;
}

/** The Prisma CLI installed for the schema: node_modules/prisma in its folder or any above. */
export function findProjectPrisma(from: string): ProjectPrisma | null {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "node_modules", "prisma", "package.json");
    if (existsSync(manifest)) {
      const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
      const [major = 0, minor = 0] = version.split(".").map(Number);
      return { version, major, minor, dir: path.dirname(manifest) };
    }
    if (path.dirname(dir) === dir) return null;
  }
}

export type EngineSource = "project" | "project-migrate-diff" | "breakwater";

export interface EngineReport {
  /** the project's Prisma CLI, when one is installed */
  project: { version: string; path: string } | null;
  /** who validates the schemas (the old, the new and the intermediate one) */
  validator: { prisma: string; source: EngineSource };
  /** who writes the SQL of the migrations */
  sql: { prisma: string; source: EngineSource };
  /** what may differ from what the project's own Prisma would do */
  notes: string[];
}

export interface Engines {
  report: EngineReport;
  /** the schema's datamodel; a schema the validator refuses is refused with its message */
  parse(files: SchemaFile[], label: string): Datamodel;
  /** Prisma's migration script from one schema (or none) to another */
  diff(from: DiffSide, to: DiffSide): Promise<string>;
}

// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;]*m/g;

function schemaError(error: unknown, who: string, label: string): BreakwaterError {
  let message = (error as Error).message ?? String(error);
  try {
    message = (JSON.parse(message) as { message?: string }).message ?? message;
  } catch {
    // not JSON: keep the text
  }
  return new BreakwaterError("BW_SCHEMA_INVALID", `${who} rejects ${label}:\n${message.replace(ansi, "").trim()}`, {
    hint: "Fix the schema (the message is Prisma's own), then run breakwater plan again.",
  });
}

function dmmf(parser: SchemaParser, files: SchemaFile[], fileList: boolean): Datamodel {
  // Prisma 5.0–5.14 take one schema text; later versions a list of [path, text].
  const prismaSchema =
    fileList ? files.map((f) => [f.path, f.content])
    : files.length === 1 ? files[0]!.content
    : files.map((f) => [f.path, f.content]);
  return (JSON.parse(parser.get_dmmf(JSON.stringify({ prismaSchema }))) as { datamodel: Datamodel }).datamodel;
}

/** Implicit many-to-many relations: a list relation field on both sides, no foreign key fields. Prisma names their table `_` + the relation name. */
function implicitManyToMany(model: Datamodel): string[] {
  const tables = new Set<string>();
  for (const m of model.models) {
    for (const f of m.fields) {
      if (f.kind !== "object" || !f.isList || f.relationFromFields?.length) continue;
      const other = model.models.find((o) => o.name === f.type)?.fields.find((g) => g.kind === "object" && g.relationName === f.relationName && g !== f);
      if (other?.isList) tables.add(`_${f.relationName}`);
    }
  }
  return [...tables];
}

export async function selectEngines(schemaDir: string): Promise<Engines> {
  const project = findProjectPrisma(schemaDir);
  const notes = new Set<string>();
  const own = `Prisma ${OWN_PRISMA}`;
  const theirs = project ? `Prisma ${project.version}` : own;
  const report: EngineReport = {
    project: project ? { version: project.version, path: project.dir } : null,
    validator: { prisma: OWN_PRISMA, source: "breakwater" },
    sql: { prisma: OWN_PRISMA, source: "breakwater" },
    notes: [],
  };
  const note = (text: string) => {
    notes.add(text);
    report.notes = [...notes];
  };
  if (!project) note(`No Prisma CLI installed next to the schema (node_modules/prisma): schemas are validated and diffed by breakwater's own engines, those of ${own}.`);

  // Validation: the project's own parser, so that no schema is refused for a rule its version lacks.
  let parser: SchemaParser | null = null;
  const parserWasm = project && path.join(project.dir, "build", "prisma_schema_build_bg.wasm");
  if (parserWasm && existsSync(parserWasm)) {
    try {
      parser = instantiateSchemaParser(await readFile(parserWasm));
      report.validator = { prisma: project.version, source: "project" };
    } catch (error) {
      note(`${theirs}'s schema parser (${parserWasm}) could not be loaded (${(error as Error).message}): schemas are validated by ${own}'s.`);
    }
  } else if (project) {
    note(`${theirs} bundles no schema parser WASM: schemas are validated by ${own}'s.`);
  }
  const fileList = project !== null && (project.major > 5 || (project.major === 5 && project.minor >= 15));
  // Prisma 7 refuses connection URLs in the schema; earlier versions require them.
  const projectText = (files: SchemaFile[]) => (project && project.major >= 7 ? files.map((f) => ({ path: f.path, content: ownEngineText(f.content).text })) : files);
  const ownText = (files: SchemaFile[]) =>
    files.map((f) => {
      const { text, omitted } = ownEngineText(f.content);
      // Connection URLs are what every Prisma 6 schema carries: leaving them out is not worth a note.
      const said = omitted.filter((o) => !o.startsWith("connection URLs"));
      if (said.length) note(`Left out of what ${own}'s engines read (they refuse it; it changes no SQL): ${said.join("; ")}.`);
      return { path: f.path, content: text };
    });

  const manyToMany = new Set<string>();
  const parse = (files: SchemaFile[], label: string): Datamodel => {
    if (!parser) {
      try {
        return dmmf(ownSchemaParser(), ownText(files), true);
      } catch (error) {
        throw schemaError(error, "Prisma", label);
      }
    }
    let model: Datamodel;
    try {
      model = dmmf(parser, projectText(files), fileList);
    } catch (error) {
      throw schemaError(error, `${theirs} (the project's Prisma)`, label);
    }
    for (const table of implicitManyToMany(model)) manyToMany.add(table);
    if (project!.major >= 6) return model;
    // Prisma 5's DMMF has no native types (@db.VarChar(100)); breakwater's parser reads them when it accepts the schema.
    try {
      return dmmf(ownSchemaParser(), ownText(files), true);
    } catch {
      note(`${theirs}'s datamodel has no native types and ${own}'s parser refuses this schema: a change of native type alone (@db.VarChar(100) → @db.VarChar(8)) is not seen.`);
      return model;
    }
  };

  // The SQL: the project's own schema engine when it runs offline, else breakwater's.
  let diff: Engines["diff"] = (from, to) => diffWithWasm(ownSchemaEngineWasm(), from === "empty" ? from : ownText(from), to === "empty" ? to : ownText(to));
  const engineWasm = project && path.join(project.dir, "build", "schema_engine_bg.wasm");
  if (project && engineWasm && existsSync(engineWasm) && (await engineImports(engineWasm)).join() === (await engineImports(ownSchemaEngineWasm())).join()) {
    report.sql = { prisma: project.version, source: "project" };
    diff = (from, to) => diffWithWasm(engineWasm, from === "empty" ? from : projectText(from), to === "empty" ? to : projectText(to));
  } else if (project && project.major === 6 && project.minor >= 6) {
    report.sql = { prisma: project.version, source: "project-migrate-diff" };
    diff = (from, to) => migrateDiff(project, from, to);
  } else if (project) {
    const why =
      project.major >= 7 ?
        `${theirs}'s migrate diff needs its native schema engine${engineWasm && existsSync(engineWasm) ? " and the schema engine WASM it bundles is another build than breakwater's" : ""}`
      : `${theirs} bundles no schema engine WASM (Prisma bundles one from 6.6 on) and its migrate diff needs its native schema engine`;
    note(
      `The SQL is written by ${own}'s schema engine: ${why}. Where Prisma's SQL changed between ${project.version} and ${OWN_PRISMA}, the migrations differ from what \`prisma migrate diff\` of ${project.version} prints; review them.`,
    );
    if (project.major < 6) {
      const ownDiff = diff;
      diff = async (from, to) => {
        const sql = await ownDiff(from, to);
        for (const table of manyToMany) {
          if (sql.includes(`"${table}"`))
            note(
              `Implicit many-to-many table ${table}: ${own}'s SQL keys it with a primary key "${table}_AB_pkey" (Prisma 6 and later), ${theirs} with a unique index "${table}_AB_unique"; the table this SQL creates is not what Prisma ${project.major} expects (its migrate dev reports drift).`,
            );
        }
        return sql;
      };
    }
  }
  return { report, parse, diff: (from, to) => diff(from, to) };
}

/** The Prisma config that makes Prisma 6.6–6.19's `migrate diff` run its schema engine WASM through the offline adapter; its shape changed within 6.x. */
function offlineConfig(project: ProjectPrisma): string {
  // offline-adapter.js beside the compiled module (offline-adapter.ts beside the source).
  const adapterModule = fileURLToPath(new URL(`./offline-adapter${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));
  const shape =
    project.minor <= 11 ? "{ earlyAccess: true, migrate: { adapter } }"
    : project.minor === 12 ? "{ earlyAccess: true, adapter }"
    : project.minor <= 17 ? "{ experimental: { adapter: true }, adapter }"
    : '{ experimental: { adapter: true }, engine: "js", adapter }';
  return `import { offlineAdapterFactory } from ${JSON.stringify(adapterModule)};\nconst adapter = async () => offlineAdapterFactory();\nexport default ${shape};\n`;
}

/** The project's own `prisma migrate diff --script`, offline: its bundled schema engine WASM, through the offline adapter. */
async function migrateDiff(project: ProjectPrisma, from: DiffSide, to: DiffSide): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "breakwater-diff-"));
  try {
    const side = async (name: "from" | "to", files: DiffSide): Promise<string[]> => {
      if (files === "empty") return [`--${name}-empty`];
      // One file, or a folder of files (Prisma's multi-file schema).
      const target = files.length === 1 ? path.join(dir, `${name}.prisma`) : path.join(dir, name);
      for (const f of files) {
        const file = files.length === 1 ? target : path.join(target, f.path);
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, f.content);
      }
      return [`--${name}-schema-datamodel`, target];
    };
    const config = path.join(dir, "prisma.config.mjs");
    await writeFile(config, offlineConfig(project));
    const args = [path.join(project.dir, "build", "index.js"), "migrate", "diff", "--config", config, ...(await side("from", from)), ...(await side("to", to)), "--script"];
    // The engine paths only have to exist: the CLI checks them at start-up (and would download them), the JS engine never runs them.
    const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1", PRISMA_QUERY_ENGINE_LIBRARY: config, PRISMA_SCHEMA_ENGINE_BINARY: config };
    const { stdout } = await run(process.execPath, args, { cwd: dir, env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    // The CLI prints the engine's script and a newline.
    return stdout.endsWith("\n\n") ? stdout.slice(0, -1) : stdout;
  } catch (error) {
    const output = String((error as { stderr?: string }).stderr || (error as Error).message)
      .replace(ansi, "")
      .trim();
    throw new BreakwaterError("BW_SCHEMA_INVALID", `Prisma ${project.version}'s migrate diff (the project's own, run offline) failed:\n${output}`, {
      hint: "The schemas passed its validation; run `prisma migrate diff` yourself to see whether it fails the same way.",
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
