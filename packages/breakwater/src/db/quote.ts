// The only place SQL identifiers and literals are written into SQL text. Values that can be
// bound are always passed as parameters; literals are only for DDL, which cannot take parameters.
// (And the one place text is quoted into a RegExp, to find a name in SQL or schema text.)

/** Quotes one identifier: `My "odd" Table` → `"My ""odd"" Table"`. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error("empty SQL identifier");
  if (name.includes("\u0000")) throw new Error("SQL identifier contains a NUL byte");
  return `"${name.replaceAll('"', '""')}"`;
}

/** A schema-qualified name, each part quoted. */
export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** Quotes a string literal for DDL (enum labels, defaults), standard_conforming_strings on. */
export function quoteLiteral(value: string): string {
  if (value.includes("\u0000")) throw new Error("SQL literal contains a NUL byte");
  return `'${value.replaceAll("'", "''")}'`;
}

export interface TableRef {
  schema: string;
  name: string;
}

export function quoteTable(table: TableRef): string {
  return quoteQualified(table.schema, table.name);
}

export function displayTable(table: TableRef): string {
  return table.schema === "public" ? table.name : `${table.schema}.${table.name}`;
}

/** Quotes text for a RegExp, so that it matches itself: `"a.b"` → `"a\\.b"`. */
export function quoteRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
