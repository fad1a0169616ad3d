// Imports a plan or breakwater.config.ts (TypeScript through tsx) and, when that fails, says where:
// esbuild's syntax errors and errors thrown while the module evaluates, as file:line:column.
// A TypeScript file that imports only packages is compiled once into node_modules/.cache, so a
// command starts without tsx's loader (about 200 ms); anything else, and any failure of the
// compiled copy, goes through tsx, whose errors say where in the user's file.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BreakwaterError, type ErrorCode, errorMessage } from "@breakwater/runtime/internal/errors";

/** A place in a source file: line and column count from 1, the column in characters. */
export interface SourceLocation {
  /** relative to the working directory */
  file: string;
  line: number;
  column: number | null;
  lineText: string | null;
}

let typeScriptRegistered = false;

/**
 * TypeScript user files load through tsx, registered once and only when one is loaded. Both of
 * its loaders: a `.ts` file in a package without `"type": "module"` (a create-next-app project)
 * is CommonJS, and Node refuses to require() it through the ESM loader alone.
 */
async function registerTypeScript(): Promise<void> {
  if (typeScriptRegistered) return;
  const [esm, cjs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
  esm.register();
  cjs.register();
  typeScriptRegistered = true;
}

/** A module compiled to CommonJS arrives as `{ default: exports }`: its own exports are inside. */
function moduleExports(namespace: Record<string, unknown>): Record<string, unknown> {
  const inner = namespace.default as Record<string, unknown> | null | undefined;
  return inner !== null && typeof inner === "object" && inner.__esModule === true ? inner : namespace;
}

/** The project's node_modules/.cache/breakwater for `file`, or null outside an installed project. */
function cacheDirectory(file: string): string | null {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "node_modules"))) return path.join(dir, "node_modules", ".cache", "breakwater");
    if (path.dirname(dir) === dir) return null;
  }
}

/** Relative imports would resolve from the cache folder, import.meta would describe it. */
const needsItsOwnPlace = /\bimport\.meta\b|(?:\bfrom|\bimport)\s*\(?\s*["']\.{1,2}\//;

/**
 * The module compiled to JavaScript from the cache (compiling it on the first load), or null
 * when it must load in place: outside an installed project, with relative imports or
 * import.meta, or when it does not compile or evaluate (tsx then reports where).
 */
async function importCompiled(file: string): Promise<Record<string, unknown> | null> {
  const cache = cacheDirectory(file);
  if (!cache) return null;
  try {
    const source = await readFile(file, "utf8");
    const key = createHash("sha256").update(`${file}\0${source}`).digest("hex").slice(0, 32);
    const compiled = path.join(cache, `${key}.mjs`);
    if (!existsSync(compiled)) {
      const { transform } = await import("esbuild");
      const { code } = await transform(source, { loader: file.endsWith("x") ? "tsx" : "ts", format: "esm", target: "node20", sourcefile: file });
      if (needsItsOwnPlace.test(code)) return null;
      await mkdir(cache, { recursive: true });
      // Written aside and renamed: a second process never imports half a file.
      const partial = `${compiled}.${process.pid}.tmp`;
      await writeFile(partial, code);
      await rename(partial, compiled);
    }
    return (await import(pathToFileURL(compiled).href)) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Imports `file`; a failure becomes a BreakwaterError with `code` and details.location. */
export async function importUserModule(file: string, options: { code: ErrorCode; what: string; hint: string; cwd: string }): Promise<Record<string, unknown>> {
  // .cts stays with tsx: it is CommonJS whatever the package says.
  if (/\.(m?ts|tsx)$/.test(file)) {
    const compiled = await importCompiled(file);
    if (compiled) return compiled;
  }
  try {
    if (/\.[cm]?tsx?$/.test(file)) await registerTypeScript();
    return moduleExports((await import(pathToFileURL(file).href)) as Record<string, unknown>);
  } catch (error) {
    const { location, message } = describeLoadFailure(error, file, options.cwd);
    const where = location ? `${location.file}:${location.line}${location.column === null ? "" : `:${location.column}`}: ` : "";
    throw new BreakwaterError(options.code, `Cannot load ${options.what}: ${where}${message}`, { hint: options.hint, cause: error, details: location ? { location } : undefined });
  }
}

function describeLoadFailure(error: unknown, file: string, cwd: string): { location: SourceLocation | null; message: string } {
  const text = errorMessage(error);
  // tsx rethrows esbuild's TransformError without its `errors`; the text keeps
  // "<file>:<line>:<column>: ERROR: <message>" with a 0-based column counted in bytes.
  const syntax = error instanceof Error && error.name === "TransformError" ? /^(.+):(\d+):(\d+): ERROR: (.*)$/m.exec(text) : null;
  if (syntax) {
    const [, where, line, byteColumn, message] = syntax;
    return {
      location: locate(where!, Number(line), (lineText) => Buffer.from(lineText).subarray(0, Number(byteColumn)).toString().length + 1, cwd),
      message: `syntax error: ${message}`,
    };
  }
  const firstLine = text.split("\n")[0]!;
  const message = `${error instanceof Error ? `${error.name}: ` : ""}${firstLine.replaceAll(`${pathToFileURL(cwd).href}/`, "").replaceAll(`${cwd}${path.sep}`, "")}`;
  const isFile = (candidate: string) => {
    const resolved = path.resolve(cwd, candidate.startsWith("file://") ? fileURLToPath(candidate) : candidate);
    return resolved === file || resolved === realFile(file);
  };
  // A frame in the file itself: "at … (/abs/plan.ts:3:7)"; a failed import binding starts its
  // stack with "/abs/plan.ts:1" and the source line instead.
  const stack = error instanceof Error ? (error.stack ?? "") : "";
  for (const match of stack.matchAll(/(?:\(|\bat |^)((?:file:\/\/)?[^\s()]+?):(\d+)(?::(\d+))?(?:\)|$)/gm)) {
    if (isFile(match[1]!)) return { location: locate(file, Number(match[2]), match[3] === undefined ? null : () => Number(match[3]), cwd), message };
  }
  // ERR_MODULE_NOT_FOUND names the importing file but no line: find the import by its specifier.
  const missing = /^Cannot find (?:module|package) '([^']+)' imported from (.+)$/.exec(firstLine);
  if (missing && isFile(missing[2]!)) return { location: importLine(file, missing[1]!, cwd), message };
  return { location: null, message };
}

function realFile(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** The location in `file` at `line`, the column computed from the line's text. */
function locate(file: string, line: number, column: ((lineText: string) => number) | null, cwd: string): SourceLocation {
  let lineText: string | null = null;
  try {
    lineText = readFileSync(file, "utf8").split(/\r?\n/)[line - 1] ?? null;
  } catch {
    // the position alone is still worth showing
  }
  return { file: path.relative(cwd, file) || file, line, column: column === null ? null : column(lineText ?? ""), lineText };
}

/** The line importing `target` (an absolute path or a package name), found by its specifier. */
function importLine(file: string, target: string, cwd: string): SourceLocation | null {
  let lines: string[];
  try {
    lines = readFileSync(file, "utf8").split(/\r?\n/);
  } catch {
    return null;
  }
  const withoutExtension = (p: string) => p.replace(/\.[cm]?[jt]sx?$/, "");
  for (const [index, lineText] of lines.entries()) {
    for (const match of lineText.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"']+)\1/g)) {
      const specifier = match[2]!;
      const resolved = specifier.startsWith(".") ? path.resolve(path.dirname(file), specifier) : specifier;
      if (resolved === target || withoutExtension(resolved) === withoutExtension(target) || specifier.startsWith(`${target}/`)) {
        return locate(file, index + 1, () => match.index + match[0].length - specifier.length - 1, cwd);
      }
    }
  }
  return null;
}
