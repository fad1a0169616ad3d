// The Prisma rules, each on a file that fires and on its safe rewrite that does not.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lint } from "../../packages/breakwater/src/lint/engine.ts";
import { prismaRules } from "../../packages/breakwater/src/lint/rules/prisma.ts";
import { readLintFile } from "../../packages/breakwater/src/lint/source.ts";
import type { CatalogFacts, Finding, Runner, TableFacts } from "../../packages/breakwater/src/lint/types.ts";

async function findings(sql: string | string[], options: { runner?: Runner; serverVersion?: number; catalog?: CatalogFacts } = {}): Promise<Finding[]> {
  const texts = Array.isArray(sql) ? sql : [sql];
  const files = await Promise.all(texts.map((text, i) => readLintFile(`migrations/${i}/migration.sql`, text, options.runner ?? "prisma")));
  return lint(files, { rules: prismaRules, catalog: options.catalog ?? null, serverVersion: options.serverVersion });
}

const ids = (list: Finding[]) => list.map((f) => `${f.rule}@${f.line}`);

/** A catalog as readCatalog returns it, built by hand. */
function catalog(tables: TableFacts[], enums: Record<string, string[]> = {}, serverVersion = 150000): CatalogFacts {
  return {
    serverVersion,
    table: (schema, name) => tables.find((t) => t.name === name && (schema === null || t.schema === schema)) ?? null,
    enumLabels: (_schema, name) => enums[name] ?? null,
  };
}

const swap = `-- AlterEnum
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;
`;

describe("prisma-enum-swap", () => {
  it("fires once, on the ALTER COLUMN TYPE of Prisma's swap, and never on BEGIN/COMMIT", async () => {
    const list = await findings(swap);
    assert.deepEqual(ids(list), ["prisma-enum-swap@5"]);
    assert.equal(list[0]!.lock, "ACCESS EXCLUSIVE");
    assert.deepEqual(list[0]!.blocks, ["reads", "writes"]);
    assert.match(list[0]!.message, /rewrites "User".*ACCESS EXCLUSIVE.*22P02/);
    assert.match(list[0]!.fix, /RENAME VALUE|breakwater plan/);
  });

  it("names the removed value from the live type's labels, and the table's size", async () => {
    const facts = catalog([{ schema: "public", name: "User", rowEstimate: 4_200_000, totalBytes: 1.3 * 1024 ** 3 }], { Role: ["USER", "ADMIN", "GUEST"] });
    const [finding] = await findings(swap, { catalog: facts });
    assert.match(finding!.message, /still holds 'GUEST', removed from "Role"/);
    assert.match(finding!.message, /~4\.2M rows, 1\.3 GB/);
    assert.match(finding!.fix, /breakwater plan/);
  });

  it("names the removed value from the migrations before it, and offers RENAME VALUE for a renamed value", async () => {
    // The enum's history is in the run; the table is not (a table created in the run is new, and holds no rows).
    const history = `CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');\n`;
    const renamed = swap.replace("('USER', 'ADMIN')", "('EMPLOYEE', 'ADMIN')").replace("DEFAULT 'USER'", "DEFAULT 'EMPLOYEE'");
    const list = (await findings([history, renamed])).filter((f) => f.rule === "prisma-enum-swap");
    assert.equal(list.length, 1);
    assert.match(list[0]!.message, /still holds 'USER'/);
    assert.match(list[0]!.fix, /ALTER TYPE "Role" RENAME VALUE 'USER' TO 'EMPLOYEE'/);
    assert.match(list[0]!.fix, /breakwater plan --rename Role\.USER=EMPLOYEE/);
  });

  it("is clean for the safe rewrite: RENAME VALUE", async () => {
    assert.deepEqual(ids(await findings(`ALTER TYPE "Role" RENAME VALUE 'USER' TO 'EMPLOYEE';\n`)), []);
  });
});

describe("prisma-enum-value-added-and-used", () => {
  const file = `-- AlterEnum\nALTER TYPE "Role" ADD VALUE 'GUEST';\n\n-- AlterTable\nALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'GUEST';\n`;

  it("fires on the statement that uses the value added earlier in the Prisma file (55P04)", async () => {
    const list = (await findings(file)).filter((f) => f.rule === "prisma-enum-value-added-and-used");
    assert.deepEqual(ids(list), ["prisma-enum-value-added-and-used@5"]);
    assert.match(list[0]!.message, /'GUEST' \(added to "Role" on line 2\).*55P04/);
    assert.match(list[0]!.fix, /breakwater deploy/);
  });

  it("fires on a literal cast and an UPDATE too", async () => {
    const sql = `ALTER TYPE "Role" ADD VALUE 'GUEST';\nUPDATE "User" SET "role" = 'GUEST'::"Role" WHERE "id" = 1;\nINSERT INTO "User" ("id", "role") VALUES (2, 'GUEST');\n`;
    assert.deepEqual(ids((await findings(sql)).filter((f) => f.rule === "prisma-enum-value-added-and-used")), [
      "prisma-enum-value-added-and-used@2",
      "prisma-enum-value-added-and-used@3",
    ]);
  });

  it("is clean when the use is in the next migration, or when a plain SQL file commits between", async () => {
    const [add, use] = file.split("\n\n");
    assert.deepEqual(
      (await findings([add!, use!])).filter((f) => f.rule === "prisma-enum-value-added-and-used"),
      [],
    );
    assert.deepEqual(
      (await findings(file, { runner: "sql" })).filter((f) => f.rule === "prisma-enum-value-added-and-used"),
      [],
    );
    const sameTransaction = `BEGIN;\n${file}COMMIT;\n`;
    assert.equal((await findings(sameTransaction, { runner: "sql" })).filter((f) => f.rule === "prisma-enum-value-added-and-used").length, 1);
  });

  it("ignores the same text cast to another type", async () => {
    const sql = `ALTER TYPE "Role" ADD VALUE 'GUEST';\nUPDATE "Audit" SET "kind" = 'GUEST'::"Kind";\n`;
    assert.deepEqual(
      (await findings(sql)).filter((f) => f.rule === "prisma-enum-value-added-and-used"),
      [],
    );
  });
});

describe("enum-add-value-in-transaction", () => {
  const two = `ALTER TYPE "Role" ADD VALUE 'GUEST';\nALTER TYPE "Role" ADD VALUE 'OWNER';\n`;

  it("fires on PostgreSQL 11 for ADD VALUEs in a Prisma file of several statements", async () => {
    const list = (await findings(two, { serverVersion: 110000 })).filter((f) => f.rule === "enum-add-value-in-transaction");
    assert.deepEqual(ids(list), ["enum-add-value-in-transaction@1", "enum-add-value-in-transaction@2"]);
    assert.match(list[0]!.message, /PostgreSQL 11 \(25001.*adds 2 values/);
  });

  it("takes the server version from the catalog before the configured one", async () => {
    const old = catalog([], {}, 110012);
    assert.equal((await findings(two, { catalog: old, serverVersion: 150000 })).filter((f) => f.rule === "enum-add-value-in-transaction").length, 2);
  });

  it("is clean on PostgreSQL 12+, and for one ADD VALUE alone in its file on 11", async () => {
    assert.deepEqual(
      (await findings(two, { serverVersion: 120000 })).filter((f) => f.rule === "enum-add-value-in-transaction"),
      [],
    );
    assert.deepEqual(
      (await findings(two.split("\n").slice(0, 1), { serverVersion: 110000 })).filter((f) => f.rule === "enum-add-value-in-transaction"),
      [],
    );
  });
});

describe("prisma-rename-as-drop-add", () => {
  const rename = `-- AlterTable\nALTER TABLE "User" DROP COLUMN "name",\nADD COLUMN     "fullName" TEXT NOT NULL;\n`;

  it("fires on Prisma's DROP COLUMN + ADD COLUMN and names the --rename to confirm", async () => {
    const list = (await findings(rename)).filter((f) => f.rule === "prisma-rename-as-drop-add");
    assert.deepEqual(ids(list), ["prisma-rename-as-drop-add@2"]);
    assert.match(list[0]!.message, /Drops "User"\."name" and adds "fullName" \(text\)/);
    assert.match(list[0]!.fix, /breakwater plan --rename User\.name=fullName/);
  });

  const user: TableFacts = {
    schema: "public",
    name: "User",
    rowEstimate: 100_000,
    totalBytes: 8 * 1024 ** 2,
    columns: [
      { name: "id", type: "integer" },
      { name: "name", type: "text" },
      { name: "age", type: "integer" },
    ],
  };

  it("fires across statements of the file, and not when the live column's type cannot be a rename", async () => {
    const split = `ALTER TABLE "User" DROP COLUMN "name";\nALTER TABLE "User" ADD COLUMN "fullName" VARCHAR(200);\n`;
    const list = (await findings(split, { catalog: catalog([user]) })).filter((f) => f.rule === "prisma-rename-as-drop-add");
    assert.deepEqual(ids(list), ["prisma-rename-as-drop-add@1"]);
    assert.match(list[0]!.message, /~100,000 rows, 8\.0 MB/);
    const unrelated = `ALTER TABLE "User" DROP COLUMN "age", ADD COLUMN "active" BOOLEAN NOT NULL DEFAULT true;\n`;
    assert.deepEqual(
      (await findings(unrelated, { catalog: catalog([user]) })).filter((f) => f.rule === "prisma-rename-as-drop-add"),
      [],
    );
  });

  it("fires on a model rename (DROP TABLE + CREATE TABLE with the same columns), with --online", async () => {
    const live = catalog([{ ...user, columns: user.columns!.slice(0, 2) }]);
    const modelRename = `-- DropTable\nDROP TABLE "User";\n\n-- CreateTable\nCREATE TABLE "Person" (\n    "id" INTEGER NOT NULL,\n    "name" TEXT NOT NULL,\n\n    CONSTRAINT "Person_pkey" PRIMARY KEY ("id")\n);\n`;
    const list = (await findings(modelRename, { catalog: live })).filter((f) => f.rule === "prisma-rename-as-drop-add");
    assert.deepEqual(ids(list), ["prisma-rename-as-drop-add@2"]);
    assert.match(list[0]!.message, /Drops "User" and creates "Person".*every row \(~100,000 rows/);
    assert.match(list[0]!.fix, /breakwater plan --online/);
  });

  it("is clean for the safe rewrite (RENAME COLUMN) and on a table created earlier in the run", async () => {
    assert.deepEqual(await findings(`ALTER TABLE "User" RENAME COLUMN "name" TO "fullName";\n`), []);
    const created = `CREATE TABLE "User" ("id" INTEGER NOT NULL, "name" TEXT NOT NULL);\n`;
    assert.deepEqual(
      (await findings([created, rename])).filter((f) => f.rule === "prisma-rename-as-drop-add"),
      [],
    );
  });
});

describe("enum-value-added-unreadable", () => {
  it("warns on a new value of an existing enum", async () => {
    const list = (await findings(`ALTER TYPE "Role" ADD VALUE 'GUEST';\n`)).filter((f) => f.rule === "enum-value-added-unreadable");
    assert.deepEqual(ids(list), ["enum-value-added-unreadable@1"]);
    assert.equal(list[0]!.severity, "warning");
    assert.match(list[0]!.message, /P2023/);
    assert.match(list[0]!.fix, /new schema.*breakwater plan/);
  });

  it("warns on the values a swap adds, and not on a type created in the same file", async () => {
    const facts = catalog([], { Role: ["USER", "ADMIN"] });
    const renamed = swap.replace("('USER', 'ADMIN')", "('EMPLOYEE', 'ADMIN')");
    const list = (await findings(renamed, { catalog: facts })).filter((f) => f.rule === "enum-value-added-unreadable");
    assert.deepEqual(ids(list), ["enum-value-added-unreadable@3"]);
    assert.match(list[0]!.message, /'EMPLOYEE' is a new value of "Role"/);
    assert.deepEqual(await findings(`CREATE TYPE "Kind" AS ENUM ('A');\nALTER TYPE "Kind" ADD VALUE 'B';\n`), []);
  });
});
