// The intermediate schema: the new schema's text with the old names put back, so that old and new
// coexist. Line edits inside blocks: Prisma's grammar puts every field and enum value on its own line.
import { BreakwaterError } from "@breakwater/runtime/internal/errors";
import { quoteRegExp } from "../../db/quote.ts";
import { columnOf, type Datamodel, type SchemaFile } from "./datamodel.ts";
import type { Analysis } from "./schema-changes.ts";

interface Block {
  start: number;
  end: number;
}

function findBlock(lines: string[], keyword: "model" | "enum", name: string): Block | null {
  const opener = new RegExp(`^\\s*${keyword}\\s+${quoteRegExp(name)}\\s*\\{`);
  const start = lines.findIndex((l) => opener.test(l));
  if (start < 0) return null;
  for (let i = start + 1; i < lines.length; i++) if (lines[i]!.trim().startsWith("}")) return { start, end: i };
  return null;
}

function memberLine(lines: string[], block: Block, name: string): number {
  for (let i = block.start + 1; i < block.end; i++) {
    const first = lines[i]!.trim().split(/\s+/)[0];
    if (first === name) return i;
  }
  return -1;
}

function indentOf(lines: string[], block: Block): string {
  for (let i = block.start + 1; i < block.end; i++) {
    const m = /^(\s+)\S/.exec(lines[i]!);
    if (m) return m[1]!;
  }
  return "  ";
}

interface EditableFile {
  path: string;
  lines: string[];
}

/** The file and block holding `keyword name` (a schema may be a folder of files). */
function locate(files: EditableFile[], keyword: "model" | "enum", name: string): { file: EditableFile; block: Block } | null {
  for (const file of files) {
    const block = findBlock(file.lines, keyword, name);
    if (block) return { file, block };
  }
  return null;
}

function mustLocate(files: EditableFile[], keyword: "model" | "enum", name: string, which: string): { file: EditableFile; block: Block } {
  const found = locate(files, keyword, name);
  if (!found) throw new BreakwaterError("BW_INTERNAL", `Cannot find ${keyword} ${name} in the ${which} schema text.`);
  return found;
}

/** The member's line from the old schema, trimmed, without its trailing comment. */
function sourceMember(sources: EditableFile[], keyword: "model" | "enum", block: string, name: string): string {
  const { file, block: b } = mustLocate(sources, keyword, block, "old");
  const i = memberLine(file.lines, b, name);
  if (i < 0) throw new BreakwaterError("BW_INTERNAL", `Cannot find ${block}.${name} in the old schema text.`);
  return file.lines[i]!.replace(/\s*\/\/.*$/, "").trim();
}

function makeOptional(line: string, field: string): string {
  const re = new RegExp(`^(\\s*${field}\\s+)([A-Za-z_]\\w*(?:\\([^)]*\\))?)(\\s|$)`);
  return line.replace(re, (_, head: string, type: string, tail: string) => `${head}${type}?${tail}`);
}

/** A field line mapped to another column: its @map replaced, or added. */
function withColumnMap(line: string, column: string): string {
  // The trailing comment starts at the first // outside a string (a default may hold "http://…").
  let cut = line.length;
  for (let i = 0, quoted = false; i < line.length; i++) {
    if (line[i] === "\\" && quoted) i++;
    else if (line[i] === '"') quoted = !quoted;
    else if (!quoted && line.startsWith("//", i)) {
      cut = i;
      break;
    }
  }
  const code = line.slice(0, cut).trimEnd();
  const comment = cut < line.length ? ` ${line.slice(cut)}` : "";
  const map = /(?<!@)@map\(\s*(?:name\s*:\s*)?"(?:[^"\\]|\\.)*"\s*\)/;
  const mapped = `@map(${JSON.stringify(column)})`;
  return (map.test(code) ? code.replace(map, mapped) : `${code.trimEnd()} ${mapped}`) + comment;
}

/**
 * The new schema's files with the old names put back; a removed block goes back to the file of its
 * name (else the first). `online`: the plan itself renames columns and tables, so the intermediate
 * schema maps the new field and model names to the old column and table (@map, @@map) instead of
 * holding both columns.
 */
export function intermediateSchema(
  sourceFiles: SchemaFile[],
  targetFiles: SchemaFile[],
  source: Datamodel,
  target: Datamodel,
  analysis: Analysis,
  mode: "maintenance" | "online" = "maintenance",
): SchemaFile[] {
  const sources: EditableFile[] = sourceFiles.map((f) => ({ path: f.path, lines: f.content.split("\n") }));
  const files: EditableFile[] = targetFiles.map((f) => ({ path: f.path, lines: f.content.split("\n") }));
  const member = (keyword: "model" | "enum", blockName: string, name: string) => {
    const { file, block } = mustLocate(files, keyword, blockName, "new");
    return { file, block, at: memberLine(file.lines, block, name), indent: indentOf(file.lines, block) };
  };

  for (const move of analysis.enumMoves) {
    const { file, block, at, indent } = member("enum", move.enumName, move.to);
    file.lines.splice(
      at >= 0 ? at : block.start + 1,
      0,
      `${indent}${sourceMember(sources, "enum", move.enumName, move.from)} // removed by the final migration: rows move to ${move.to}`,
    );
  }
  // Online, renameEnumValue moves a default of `from` to `to` itself; keeping the old default here
  // also keeps the intermediate migration from using the value it adds (55P04 in Prisma's runner).
  for (const move of mode === "online" ? analysis.enumMoves : []) {
    for (const model of target.models) {
      const before = source.models.find((m) => m.name === model.name);
      for (const field of model.fields.filter((f) => f.kind === "enum" && f.type === move.enumName && f.default === move.to)) {
        if (before?.fields.find((f) => f.name === field.name)?.default !== move.from) continue;
        const { file, at } = member("model", model.name, field.name);
        file.lines[at] = file.lines[at]!.replace(new RegExp(`@default\\(\\s*${quoteRegExp(move.to)}\\s*\\)`), `@default(${move.from})`);
      }
    }
  }
  for (const rename of mode === "online" ? analysis.columnRenames : []) {
    const { file, at } = member("model", rename.model, rename.to);
    const old = columnOf(source.models.find((m) => m.name === rename.model)!.fields.find((f) => f.name === rename.from)!);
    file.lines[at] = `${withColumnMap(file.lines[at]!, old).trimEnd()} // column renamed by the plan`;
  }
  for (const renamed of mode === "online" ? analysis.tableRenames : []) {
    const { file, block } = mustLocate(files, "model", renamed.model, "new");
    const mapLine = file.lines.findIndex((l, i) => i > block.start && i < block.end && /^\s*@@map\(/.test(l));
    const line = `${indentOf(file.lines, block)}@@map(${JSON.stringify(renamed.from)}) // table renamed by the plan`;
    if (mapLine >= 0) file.lines[mapLine] = line;
    else file.lines.splice(block.end, 0, line);
  }
  for (const rename of mode === "maintenance" ? analysis.columnRenames : []) {
    const { file, at, indent } = member("model", rename.model, rename.to);
    file.lines[at] = makeOptional(file.lines[at]!, rename.to) + (isRequired(target, rename.model, rename.to) ? " // required by the final migration" : "");
    file.lines.splice(at, 0, `${indent}${sourceMember(sources, "model", rename.model, rename.from)} // renamed to ${rename.to}: dropped by the final migration`);
  }
  for (const fill of analysis.fills) {
    const { file, at } = member("model", fill.model, fill.field);
    file.lines[at] = `${makeOptional(file.lines[at]!, fill.field)} // required by the final migration`;
  }
  for (const changed of analysis.typeChanges) {
    const { file, at, indent } = member("model", changed.model, changed.field);
    file.lines[at] = `${indent}${sourceMember(sources, "model", changed.model, changed.field)} // type changed by the final migration`;
  }
  // A relation whose foreign key stays nullable in the intermediate schema must stay optional too
  // (Prisma refuses a required relation over an optional scalar).
  const nullableKeys = new Set([
    ...analysis.fills.map((f) => `${f.model}.${f.field}`),
    ...(mode === "maintenance" ? analysis.columnRenames.map((r) => `${r.model}.${r.to}`) : []),
    ...analysis.typeChanges.filter((c) => !isRequired(source, c.model, c.field)).map((c) => `${c.model}.${c.field}`),
  ]);
  for (const model of target.models) {
    for (const relation of model.fields.filter((f) => f.kind === "object" && f.isRequired && f.relationFromFields?.some((k) => nullableKeys.has(`${model.name}.${k}`)))) {
      const { file, at } = member("model", model.name, relation.name);
      file.lines[at] = `${makeOptional(file.lines[at]!, relation.name)} // required by the final migration`;
    }
  }
  for (const removed of analysis.removedColumns) {
    const { file, block, indent } = member("model", removed.model, removed.field);
    let at = block.end;
    for (let i = block.start + 1; i < block.end; i++) {
      if (file.lines[i]!.trim().startsWith("@@")) {
        at = i;
        break;
      }
    }
    file.lines.splice(at, 0, `${indent}${sourceMember(sources, "model", removed.model, removed.field)} // dropped by the final migration`);
  }
  const home = (keyword: "model" | "enum", name: string) => {
    const origin = mustLocate(sources, keyword, name, "old").file.path;
    return files.find((f) => f.path === origin) ?? files[0]!;
  };
  for (const name of analysis.removedEnums) home("enum", name).lines.push("", ...blockText(sources, "enum", name, () => true));
  for (const name of analysis.removedModels) {
    // Relation fields are left out: the other side of each relation is gone from the new schema.
    const model = source.models.find((m) => m.name === name)!;
    const relations = new Set(model.fields.filter((f) => f.kind === "object").map((f) => f.name));
    home("model", name).lines.push("", ...blockText(sources, "model", name, (l) => !relations.has(l.trim().split(/\s+/)[0] ?? "")));
  }
  return files.map((f) => ({ path: f.path, content: f.lines.join("\n") }));
}

function blockText(sources: EditableFile[], keyword: "model" | "enum", name: string, keep: (line: string) => boolean): string[] {
  const { file, block } = mustLocate(sources, keyword, name, "old");
  return [`// ${keyword} ${name}: dropped by the final migration`, ...file.lines.slice(block.start, block.end + 1).filter((l, i) => i === 0 || keep(l))];
}

function isRequired(model: Datamodel, modelName: string, field: string): boolean {
  return model.models.find((m) => m.name === modelName)?.fields.find((f) => f.name === field)?.isRequired ?? false;
}
