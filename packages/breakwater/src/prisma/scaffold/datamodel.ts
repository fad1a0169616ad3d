// Prisma's datamodel as its schema parser's get_dmmf returns it (the parts breakwater reads), and
// the schema files it is read from.

/** One file of a schema (a folder schema has several; paths relative to the folder). */
export interface SchemaFile {
  path: string;
  content: string;
}

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
  relationName?: string | null;
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

/** The column a field maps to (its @map). */
export const columnOf = (f: DmmfField): string => f.dbName ?? f.name;
