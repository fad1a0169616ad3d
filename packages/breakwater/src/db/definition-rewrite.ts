// Rewrites SQL that PostgreSQL printed itself (pg_get_viewdef, pg_get_indexdef) for an enum value
// renamed: each literal of the enum holding the old value gets the new one, and an index built on
// a shadow column names that column and the new type. The edits are placed from the parse tree
// (libpg-query, the server's own grammar), never by searching the text: a literal of another type,
// a name inside a string or a column of the same name elsewhere is left as it is. Locations in
// the tree are byte offsets, so the text is edited as UTF-8 bytes.
import { quoteIdent, quoteLiteral, quoteQualified } from "./quote.ts";
import { sqlParser } from "./sql-parser.ts";

export interface EnumRewrite {
  /** the enum type, as the definition names it (printed with only pg_catalog on the search_path) */
  type: { schema: string; name: string };
  /** every literal of the type holding `from` gets `to` */
  value: { from: string; to: string };
  /** casts to the type name this type instead (one not yet renamed into place) */
  typeAs?: { schema: string; name: string };
  /** an index definition's references to this column (key, INCLUDE, expressions, predicate) name another one */
  column?: { from: string; to: string };
}

/** The definition cannot be rewritten safely: why, in a phrase ("names 'USER' as text"). */
export class DefinitionNotRewritable extends Error {}

interface Edit {
  start: number;
  end: number;
  text: string;
}

type Tree = Record<string, unknown>;

/** `sql` (one statement) with the rewrite applied; throws DefinitionNotRewritable when a use of the value is not a literal of the type. */
export async function rewriteDefinition(sql: string, rewrite: EnumRewrite): Promise<string> {
  const parse = await sqlParser();
  const statement = parse(sql).stmts?.[0]?.stmt;
  if (!statement) throw new DefinitionNotRewritable("does not parse as one statement");
  const bytes = Buffer.from(sql, "utf8");
  const edits: Edit[] = [];
  visit(statement, bytes, rewrite, edits);
  if (rewrite.column && statement.IndexStmt) indexColumnEdits(statement.IndexStmt, bytes, rewrite.column, edits);
  edits.sort((a, b) => b.start - a.start);
  let text = bytes;
  for (const [i, edit] of edits.entries()) {
    if (i > 0 && edit.end > edits[i - 1]!.start) throw new DefinitionNotRewritable("has overlapping uses of the value");
    text = Buffer.concat([text.subarray(0, edit.start), Buffer.from(edit.text, "utf8"), text.subarray(edit.end)]);
  }
  return text.toString("utf8");
}

function namesOf(typeName: Tree): string[] {
  return ((typeName.names as Tree[] | undefined) ?? []).map((n) => String((n.String as Tree | undefined)?.sval ?? ""));
}

function stringConstant(node: unknown): { value: string; location: number } | null {
  const constant = (node as Tree | undefined)?.A_Const as Tree | undefined;
  const sval = constant?.sval as Tree | undefined;
  return sval && typeof sval.sval === "string" && typeof constant!.location === "number" ? { value: sval.sval, location: constant!.location } : null;
}

function visit(node: unknown, bytes: Buffer, rewrite: EnumRewrite, edits: Edit[]): void {
  if (Array.isArray(node)) {
    for (const item of node) visit(item, bytes, rewrite, edits);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const tree = node as Tree;
  const cast = tree.TypeCast as Tree | undefined;
  if (cast) {
    const typeName = cast.typeName as Tree;
    const names = namesOf(typeName);
    if (names.length === 2 && names[0] === rewrite.type.schema && names[1] === rewrite.type.name) {
      const literal = stringConstant(cast.arg);
      if (literal) {
        // `'{USER,ADMIN}'::"Role"[]`: an array literal would need its own parsing; PostgreSQL
        // prints IN lists and ARRAY[…] element by element, so this is only SQL written that way.
        if (typeName.arrayBounds !== undefined && literal.value.includes(rewrite.value.from)) {
          throw new DefinitionNotRewritable(`names ${quoteLiteral(rewrite.value.from)} inside an array literal`);
        }
        if (typeName.arrayBounds === undefined && literal.value === rewrite.value.from) {
          edits.push({ start: literal.location, end: literalEnd(bytes, literal.location), text: quoteLiteral(rewrite.value.to) });
        }
      } else {
        visit(cast.arg, bytes, rewrite, edits);
      }
      if (rewrite.typeAs) {
        const start = typeName.location as number;
        edits.push({ start, end: qualifiedNameEnd(bytes, start), text: quoteQualified(rewrite.typeAs.schema, rewrite.typeAs.name) });
      }
      return;
    }
  }
  const literal = stringConstant(tree);
  if (literal && literal.value === rewrite.value.from) {
    // A text literal compared with the column cast to text (`role::text = 'USER'`): whether it
    // means the enum value cannot be told from the SQL, so it is not guessed.
    throw new DefinitionNotRewritable(`names ${quoteLiteral(rewrite.value.from)} as text, not as a value of the enum`);
  }
  const ref = tree.ColumnRef as Tree | undefined;
  if (ref && rewrite.column) {
    const fields = (ref.fields as Tree[]).map((f) => (f.String as Tree | undefined)?.sval);
    if (fields.length === 1 && fields[0] === rewrite.column.from) {
      const start = ref.location as number;
      edits.push({ start, end: identifierEnd(bytes, start), text: quoteIdent(rewrite.column.to) });
    }
  }
  for (const value of Object.values(tree)) visit(value, bytes, rewrite, edits);
}

/**
 * The index's plain key columns and INCLUDE columns carry no location in the tree: they are found
 * in pg_get_indexdef's fixed layout `ON table USING method (key, …) INCLUDE (column, …)`, element
 * by element, and checked against the tree.
 */
function indexColumnEdits(index: Tree, bytes: Buffer, column: { from: string; to: string }, edits: Edit[]): void {
  const relation = index.relation as Tree;
  const method = skipSpaces(bytes, expectWord(bytes, skipSpaces(bytes, qualifiedNameEnd(bytes, relation.location as number)), "USING"));
  const keys = listElements(bytes, skipSpaces(bytes, identifierEnd(bytes, method)));
  const lists: [Tree[], number[]][] = [[(index.indexParams as Tree[] | undefined) ?? [], keys.elements]];
  const included = (index.indexIncludingParams as Tree[] | undefined) ?? [];
  if (included.length > 0) {
    const open = skipSpaces(bytes, expectWord(bytes, skipSpaces(bytes, keys.close + 1), "INCLUDE"));
    lists.push([included, listElements(bytes, open).elements]);
  }
  for (const [elements, starts] of lists) {
    if (starts.length !== elements.length) throw new DefinitionNotRewritable("has an index column list breakwater cannot read");
    elements.forEach((element, k) => {
      if ((element.IndexElem as Tree).name !== column.from) return;
      const start = starts[k]!;
      const end = identifierEnd(bytes, start);
      if (identifierValue(bytes.subarray(start, end).toString("utf8")) !== column.from) throw new DefinitionNotRewritable("has an index column list breakwater cannot read");
      edits.push({ start, end, text: quoteIdent(column.to) });
    });
  }
}

const quote = 0x27;
const doubleQuote = 0x22;

function skipSpaces(bytes: Buffer, at: number): number {
  while (at < bytes.length && (bytes[at] === 0x20 || bytes[at] === 0x0a || bytes[at] === 0x09)) at++;
  return at;
}

function expectWord(bytes: Buffer, at: number, word: string): number {
  if (bytes.subarray(at, at + word.length).toString("latin1") !== word) throw new DefinitionNotRewritable(`has no ${word} where PostgreSQL prints it`);
  return at + word.length;
}

/** The end of the literal `'…'` starting at `at` (quotes doubled inside). */
function literalEnd(bytes: Buffer, at: number): number {
  if (bytes[at] !== quote) throw new DefinitionNotRewritable("has a literal breakwater cannot read");
  for (let i = at + 1; i < bytes.length; i++) {
    if (bytes[i] !== quote) continue;
    if (bytes[i + 1] === quote) i++;
    else return i + 1;
  }
  throw new DefinitionNotRewritable("has an unterminated literal");
}

/** The end of one identifier, `"…"` (quotes doubled inside) or a plain word. */
function identifierEnd(bytes: Buffer, at: number): number {
  if (bytes[at] === doubleQuote) {
    for (let i = at + 1; i < bytes.length; i++) {
      if (bytes[i] !== doubleQuote) continue;
      if (bytes[i + 1] === doubleQuote) i++;
      else return i + 1;
    }
    throw new DefinitionNotRewritable("has an unterminated name");
  }
  let i = at;
  // Letters, digits, _ and $, and any byte of a multibyte UTF-8 character.
  while (i < bytes.length && (/[A-Za-z0-9_$]/.test(String.fromCharCode(bytes[i]!)) || bytes[i]! >= 0x80)) i++;
  if (i === at) throw new DefinitionNotRewritable("has a name breakwater cannot read");
  return i;
}

function qualifiedNameEnd(bytes: Buffer, at: number): number {
  let end = identifierEnd(bytes, at);
  while (bytes[end] === 0x2e) end = identifierEnd(bytes, end + 1);
  return end;
}

function identifierValue(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replaceAll('""', '"') : text;
}

/** The start of each top-level element of the parenthesized list opening at `open`, and where it closes. */
function listElements(bytes: Buffer, open: number): { elements: number[]; close: number } {
  if (bytes[open] !== 0x28) throw new DefinitionNotRewritable("has an index column list breakwater cannot read");
  const elements = [skipSpaces(bytes, open + 1)];
  let depth = 0;
  for (let i = open + 1; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === quote) i = literalEnd(bytes, i) - 1;
    else if (b === doubleQuote) i = identifierEnd(bytes, i) - 1;
    else if (b === 0x28) depth++;
    else if (b === 0x29 && depth > 0) depth--;
    else if (b === 0x29) return { elements, close: i };
    else if (b === 0x2c && depth === 0) elements.push(skipSpaces(bytes, i + 1));
  }
  throw new DefinitionNotRewritable("has an unterminated index column list");
}
