// Runs the rules over a run's files: builds each statement's context (what the run created
// earlier, the server version), applies severity settings and suppressions, and reports the
// linter's own findings (a file that does not parse, an ignore without a reason or unused).
import type { CatalogFacts, Finding, Ignore, LintFile, LintStatement, Rule, RuleContext, RuleHit, RuleSetting, Severity } from "./types.ts";

export interface LintOptions {
  rules: Rule[];
  /** rule id → off / warning / error (config `lint.rules` and `--rule`) */
  settings?: Record<string, RuleSetting>;
  catalog?: CatalogFacts | null;
  /** server_version_num assumed without a catalog (default 150000) */
  serverVersion?: number;
}

export const defaultServerVersion = 150000;

/** The linter's own findings, listed as rules so they show in `--list-rules` and take settings. */
export const engineRules: Rule[] = [
  {
    id: "parse-error",
    defaultSeverity: "error",
    lock: null,
    blocks: [],
    why: "PostgreSQL cannot parse the file: it would fail when run, and nothing in it was checked. (Also a statement nested too deeply for the linter to read its parse tree; the message says which.)",
    fix: "Correct the SQL at the position given.",
    check: () => [],
  },
  {
    id: "ignore-without-reason",
    defaultSeverity: "error",
    lock: null,
    blocks: [],
    why: "An ignore without a reason hides a finding from the next reviewer without saying why it is safe.",
    fix: "Write the reason after the rule: `-- breakwater-ignore <rule>: <why it is safe here>`.",
    check: () => [],
  },
  {
    id: "unused-ignore",
    defaultSeverity: "warning",
    lock: null,
    blocks: [],
    why: "An ignore that suppresses nothing is stale, and would silently hide a later finding.",
    fix: "Remove the comment, or move it just before the statement it is meant for.",
    check: () => [],
  },
  {
    id: "unknown-rule",
    defaultSeverity: "warning",
    lock: null,
    blocks: [],
    why: "An ignore names a rule breakwater does not know: probably a typo, so it suppresses nothing.",
    fix: "Use a rule id from `breakwater lint --list-rules`.",
    check: () => [],
  },
  {
    id: "statement-too-deep",
    defaultSeverity: "error",
    lock: null,
    blocks: [],
    why: "The statement is nested so deeply (thousands of operators or parentheses) that walking its parse tree ran out of stack: the rules that do were not checked on it.",
    fix: "Split the expression (a temporary table, several statements); or, when it is safe, ignore it with the reason.",
    check: () => [],
  },
];

interface Created {
  file: number;
  index: number;
  schema: string | null;
  name: string;
}

interface RangeVar {
  schemaname?: string;
  relname?: string;
}

/** The tables a statement creates (CREATE TABLE, CREATE TABLE AS, SELECT INTO, a rename of a new table). */
function createdTables(statement: LintStatement): RangeVar[] {
  const node = statement.node as Record<string, unknown>;
  if (statement.kind === "CreateStmt") return [node.relation as RangeVar];
  if (statement.kind === "CreateTableAsStmt") return [(node.into as { rel: RangeVar }).rel];
  return [];
}

const sameSchema = (a: string | null, b: string | null) => a === null || b === null || a === b;

/** Sorts findings by file (in run order), line, column. */
function byPlace(order: Map<string, number>) {
  return (a: Finding, b: Finding) =>
    (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) ||
    a.line - b.line ||
    a.column - b.column ||
    (a.rule < b.rule ? -1
    : a.rule > b.rule ? 1
    : 0);
}

/** The rule's findings on each statement of each file, after settings and ignores, sorted by place. */
export async function lint(files: LintFile[], options: LintOptions): Promise<Finding[]> {
  const settings = options.settings ?? {};
  const severity = (rule: Rule): Severity | null => {
    const setting = settings[rule.id] ?? rule.defaultSeverity;
    return setting === "off" ? null : setting;
  };
  const known = new Map([...engineRules, ...options.rules].map((rule) => [rule.id, rule]));
  const active = options.rules.filter((rule) => severity(rule) !== null);
  // Each statement meets only the rules that read its kind (and those that read every kind).
  const byKind = new Map<string, Rule[]>();
  const rulesFor = (kind: string) => {
    let rules = byKind.get(kind);
    if (!rules) byKind.set(kind, (rules = active.filter((rule) => rule.kinds === undefined || rule.kinds.includes(kind))));
    return rules;
  };
  const serverVersion = options.catalog?.serverVersion ?? options.serverVersion ?? defaultServerVersion;

  // The tables the run creates, by name: a rule asks for each statement whether its table is one.
  const created = new Map<string, Created[]>();
  const isCreated = (schema: string | null, name: string, before: (c: Created) => boolean) => (created.get(name) ?? []).some((c) => sameSchema(c.schema, schema) && before(c));
  const addCreated = (entry: Created) => created.set(entry.name, [...(created.get(entry.name) ?? []), entry]);
  files.forEach((file, at) => {
    for (const statement of file.statements) {
      for (const relation of createdTables(statement)) {
        if (relation.relname) addCreated({ file: at, index: statement.index, schema: relation.schemaname ?? null, name: relation.relname });
      }
      // ALTER TABLE new RENAME TO other: `other` is as new as `new`.
      const node = statement.node as { renameType?: string; relation?: RangeVar; newname?: string };
      if (statement.kind === "RenameStmt" && node.renameType === "OBJECT_TABLE" && node.relation?.relname && node.newname) {
        const from = node.relation;
        if (isCreated(from.schemaname ?? null, from.relname!, () => true)) addCreated({ file: at, index: statement.index, schema: from.schemaname ?? null, name: node.newname });
      }
    }
  });

  const findings: Finding[] = [];
  const report = (rule: Rule, file: LintFile, place: Pick<Finding, "line" | "column" | "endLine" | "endColumn" | "statement">, message: string) => {
    const level = severity(rule);
    if (level === null) return;
    findings.push({ rule: rule.id, severity: level, file: file.path, ...place, message, lock: rule.lock, blocks: rule.blocks, why: rule.why, fix: rule.fix });
  };
  const ignorePlace = (file: LintFile, ignore: Ignore) => {
    const text = file.text.split("\n")[ignore.line - 1] ?? "";
    const comment = text.slice(ignore.column - 1).trimEnd();
    return { line: ignore.line, column: ignore.column, endLine: ignore.line, endColumn: ignore.column + Math.max(0, comment.length - 1), statement: comment };
  };

  for (const [at, file] of files.entries()) {
    if (file.parseError) {
      const { line, column, message } = file.parseError;
      const text = file.text.split("\n")[line - 1] ?? "";
      report(known.get("parse-error")!, file, { line, column, endLine: line, endColumn: Math.max(column, text.length), statement: text }, `The file does not parse: ${message}.`);
      continue;
    }
    const context: RuleContext = {
      file,
      files,
      catalog: options.catalog ?? null,
      serverVersion,
      createdEarlier: (schema, name, before) => isCreated(schema, name, (c) => c.file < at || (c.file === at && c.index < before.index)),
    };
    const used = new Set<Ignore>();
    for (const statement of file.statements) {
      let tooDeep = false;
      for (const rule of rulesFor(statement.kind)) {
        let hits: RuleHit[];
        try {
          hits = rule.check(statement, context);
        } catch (error) {
          // A statement nested thousands deep (1 + 1 + …) exhausts the stack of a rule walking its tree.
          if (!(error instanceof RangeError)) throw error;
          tooDeep = true;
          continue;
        }
        for (const hit of hits) {
          const ignores = [...statement.ignores, ...file.fileIgnores].filter((ignore) => ignore.rule === rule.id);
          if (ignores.length > 0) {
            for (const ignore of ignores) used.add(ignore);
            continue;
          }
          const { line, column, endLine, endColumn, text } = statement;
          const level = settings[rule.id] ?? hit.severity ?? rule.defaultSeverity;
          if (level === "off") continue;
          findings.push({
            rule: rule.id,
            severity: level,
            file: file.path,
            line,
            column,
            endLine,
            endColumn,
            statement: text,
            message: hit.message,
            lock: hit.lock ?? rule.lock,
            blocks: rule.blocks,
            ...((hit.rewrites ?? rule.rewrites) !== undefined ? { rewrites: hit.rewrites ?? rule.rewrites } : {}),
            why: rule.why,
            fix: hit.fix ?? rule.fix,
          });
        }
      }
      if (tooDeep) {
        const rule = known.get("statement-too-deep")!;
        const ignores = [...statement.ignores, ...file.fileIgnores].filter((ignore) => ignore.rule === rule.id);
        for (const ignore of ignores) used.add(ignore);
        const { line, column, endLine, endColumn, text } = statement;
        if (ignores.length === 0)
          report(
            rule,
            file,
            { line, column, endLine, endColumn, statement: text },
            "The statement is nested too deeply for the linter to walk its parse tree: not every rule could check it.",
          );
      }
    }
    for (const ignore of [...file.statements.flatMap((s) => s.ignores), ...file.fileIgnores]) {
      const place = ignorePlace(file, ignore);
      const rule = known.get(ignore.rule);
      const comment = ignore.file ? "breakwater-ignore-file" : "breakwater-ignore";
      if (ignore.reason.trim() === "") report(known.get("ignore-without-reason")!, file, place, `\`${comment} ${ignore.rule}\` gives no reason.`);
      if (!rule) report(known.get("unknown-rule")!, file, place, `\`${comment}\` names an unknown rule \`${ignore.rule}\`.`);
      // A rule turned off by settings leaves its ignores nothing to do: that is not worth a finding.
      else if (!used.has(ignore) && severity(rule) !== null && !engineRules.includes(rule)) {
        report(
          known.get("unused-ignore")!,
          file,
          place,
          ignore.file ? `\`${comment} ${ignore.rule}\` suppresses nothing in this file.` : `\`${comment} ${ignore.rule}\` suppresses nothing on the next statement.`,
        );
      }
    }
  }
  const order = new Map(files.map((file, at) => [file.path, at]));
  return findings.sort(byPlace(order));
}
