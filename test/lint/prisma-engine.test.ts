// Must-show 2: the migrations Prisma's own schema engine (the WASM diff) writes for the common
// schema changes each get their finding and a fix that names the breakwater way, and Prisma's own
// BEGIN/COMMIT produce nothing of their own.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diffSchemas } from "../../packages/breakwater/src/prisma/scaffold/engine.ts";
import { lint } from "../../packages/breakwater/src/lint/engine.ts";
import { allRules } from "../../packages/breakwater/src/lint/rules/index.ts";
import { readLintFile } from "../../packages/breakwater/src/lint/source.ts";
import type { Finding } from "../../packages/breakwater/src/lint/types.ts";

const datasource = `datasource db {\n  provider = "postgresql"\n}\n`;

async function prismaMigration(from: string, to: string): Promise<{ sql: string; findings: Finding[] }> {
  const sql = await diffSchemas([{ path: "schema.prisma", content: datasource + from }], [{ path: "schema.prisma", content: datasource + to }]);
  const file = await readLintFile("prisma/migrations/20250101000000_change/migration.sql", sql, "prisma");
  assert.equal(file.parseError, null);
  return { sql, findings: await lint([file], { rules: allRules }) };
}

/** The statement's first line, to say which statement a finding is on. */
const on = (f: Finding) => f.statement.split("\n")[0]!;

function assertNothingOnTransactionStatements(findings: Finding[]): void {
  for (const f of findings) assert.doesNotMatch(f.statement, /^(BEGIN|COMMIT|ROLLBACK)\b/i, `${f.rule} on Prisma's own ${f.statement}`);
}

const user = (role: string, values: string) => `enum Role {\n${values}\n}\nmodel User {\n  id   Int  @id\n  role Role @default(${role})\n}\n`;

describe("lint on Prisma's own migrations", () => {
  it("an enum value removal: prisma-enum-swap on the ALTER COLUMN TYPE, with breakwater plan or RENAME VALUE as the fix", async () => {
    const { sql, findings } = await prismaMigration(user("USER", "  USER\n  ADMIN\n  GUEST"), user("USER", "  USER\n  ADMIN"));
    assert.match(sql, /^BEGIN;$/m, "Prisma wraps its enum swap in BEGIN/COMMIT");
    const swap = findings.filter((f) => f.rule === "prisma-enum-swap");
    assert.equal(swap.length, 1);
    assert.match(on(swap[0]!), /ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new"/);
    assert.equal(swap[0]!.severity, "error");
    assert.match(swap[0]!.fix, /breakwater plan/);
    assert.match(swap[0]!.fix, /RENAME VALUE/);
    assertNothingOnTransactionStatements(findings);
  });

  it("an enum value added and used as the default: prisma-enum-value-added-and-used on the SET DEFAULT, fixed by breakwater deploy", async () => {
    const { findings } = await prismaMigration(user("USER", "  USER\n  ADMIN"), user("GUEST", "  USER\n  ADMIN\n  GUEST"));
    const used = findings.filter((f) => f.rule === "prisma-enum-value-added-and-used");
    assert.equal(used.length, 1);
    assert.match(on(used[0]!), /SET DEFAULT 'GUEST'/);
    assert.match(used[0]!.message, /55P04/);
    assert.match(used[0]!.fix, /breakwater deploy/);
    const unreadable = findings.filter((f) => f.rule === "enum-value-added-unreadable");
    assert.equal(unreadable.length, 1);
    assert.match(on(unreadable[0]!), /ADD VALUE 'GUEST'/);
    assert.match(unreadable[0]!.fix, /breakwater plan/);
    assertNothingOnTransactionStatements(findings);
  });

  it("a field rename (Prisma emits DROP + ADD): prisma-rename-as-drop-add with breakwater plan --rename", async () => {
    const model = (field: string) => `model User {\n  id   Int    @id\n  ${field} String\n}\n`;
    const { sql, findings } = await prismaMigration(model("name"), model("fullName"));
    assert.match(sql, /DROP COLUMN "name",\s*ADD COLUMN\s+"fullName" TEXT NOT NULL/);
    const rename = findings.filter((f) => f.rule === "prisma-rename-as-drop-add");
    assert.equal(rename.length, 1);
    assert.match(rename[0]!.fix, /breakwater plan --rename User\.name=fullName/);
    assertNothingOnTransactionStatements(findings);
  });

  it("a field made required: set-not-null on the SET NOT NULL, with breakwater's setNotNull as the fix", async () => {
    const model = (type: string) => `model User {\n  id   Int     @id\n  name ${type}\n}\n`;
    const { findings } = await prismaMigration(model("String?"), model("String"));
    const notNull = findings.filter((f) => f.rule === "set-not-null");
    assert.equal(notNull.length, 1);
    assert.equal(notNull[0]!.lock, "ACCESS EXCLUSIVE");
    assert.match(notNull[0]!.fix, /setNotNull/);
    assertNothingOnTransactionStatements(findings);
  });

  it("an index added on a table: index-not-concurrent on the CREATE INDEX", async () => {
    const model = (extra: string) => `model User {\n  id   Int    @id\n  name String\n${extra}}\n`;
    const { findings } = await prismaMigration(model(""), model("  @@index([name])\n"));
    const index = findings.filter((f) => f.rule === "index-not-concurrent");
    assert.equal(index.length, 1);
    assert.match(on(index[0]!), /CREATE INDEX "User_name_idx"/);
    assertNothingOnTransactionStatements(findings);
  });

  it("Prisma's BEGIN/COMMIT alone produce no finding, in a Prisma file or a plain SQL one", async () => {
    for (const runner of ["prisma", "sql"] as const) {
      const file = await readLintFile("tx.sql", "-- AlterEnum\nBEGIN;\nCOMMIT;\n", runner);
      assert.deepEqual(await lint([file], { rules: allRules }), [], runner);
    }
  });
});
