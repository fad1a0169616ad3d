// PostgreSQL's own grammar (libpg-query: the server's parser compiled to WASM), loaded the first
// time SQL is parsed, so commands that parse none (a deploy with nothing pending) start without it.

/** A parse tree as libpg-query returns it: one entry per statement. */
export interface ParseResult {
  stmts?: { stmt: Record<string, Record<string, unknown>>; stmt_location?: number; stmt_len?: number }[];
}

let parser: Promise<typeof import("libpg-query")> | undefined;

/** The parser, loaded once; it throws libpg-query's error (PostgreSQL's message) for text that does not parse. */
export async function sqlParser(): Promise<(sql: string) => ParseResult> {
  parser ??= import("libpg-query").then(async (module) => {
    await module.loadModule();
    return module;
  });
  const { parseSync } = await parser;
  // libpg-query refuses blank text ("Query cannot be empty"); PostgreSQL runs it as no statement,
  // and Prisma applies an empty migration.sql.
  return (sql) => (sql.trim() === "" ? { stmts: [] } : (parseSync(sql) as ParseResult));
}
