// Must-show 5: `breakwater lint --format sarif` writes logs that validate against the official
// SARIF 2.1.0 JSON schema (the final rtm.5 schema, as `@microsoft/jest-sarif` ships it), with
// findings of many rules and with none; a log the schema forbids is refused, so the check can fail.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { Ajv, type ErrorObject } from "ajv";
import ajvFormats from "ajv-formats";
import { runCli } from "../harness.ts";
import { project } from "./project.ts";

const require = createRequire(import.meta.url);
// ajv-formats is CommonJS: under Node's ESM loader its default import is module.exports, the plugin is `.default`.
const addFormats = ajvFormats.default;

/**
 * The schema is written for draft-04, which ajv 8 no longer reads; its only draft-04 construct is
 * the top-level `id` (draft-07's `$id`), so it is read as draft-07 with that one key renamed. Its
 * formats (uri, uri-reference, date-time) are checked, not ignored. Its patterns are compiled
 * without the `u` flag, as ajv 6 and the schema's authors did: `language`'s has a stray `]`,
 * a literal character without it and a syntax error with it.
 */
async function sarifValidator() {
  const {
    $schema: _draft04,
    id,
    ...schema
  } = JSON.parse(await readFile(require.resolve("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"), "utf8")) as { id: string } & Record<string, unknown>;
  const ajv = new Ajv({ allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  return ajv.compile({ $id: id, ...schema });
}

const describeErrors = (errors: ErrorObject[] | null | undefined) => (errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join("\n");

interface SarifLog {
  runs: { tool: { driver: { rules: { id: string }[] } }; results: { ruleId: string; level: string }[] }[];
}

async function sarifOf(dir: string, args: string[]): Promise<SarifLog> {
  const result = await runCli(["lint", ...args, "--format", "sarif"], { cwd: dir });
  assert.ok(result.code === 0 || result.code === 1, result.stderr);
  return JSON.parse(result.stdout) as SarifLog;
}

describe("--format sarif against the SARIF 2.1.0 schema", () => {
  it("a log with findings of many rules, in Prisma and plain files (a path with a space and an accent), is valid", async () => {
    const validate = await sarifValidator();
    const dir = await project({
      "prisma/migrations/20250101000000_init/migration.sql": `-- CreateIndex\nCREATE INDEX "User_email_idx" ON "User"("email");\n\n-- AlterTable\nALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL;\n`,
      "prisma/migrations/20250102000000_enum/migration.sql": `BEGIN;\nCREATE TYPE "Role_new" AS ENUM ('USER');\nALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");\nDROP TYPE "Role";\nALTER TYPE "Role_new" RENAME TO "Role";\nCOMMIT;\n`,
      "db/hot fix é.sql": `ALTER TABLE "Post" ADD CONSTRAINT "Post_author_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id");\nTRUNCATE "Audit";\nALTER TABLE "Post" ADD COLUMN "meta" json;\n-- breakwater-ignore vacuum-full\nVACUUM FULL "Post";\nUPDATE "Post" SET "meta" = '{}';\n`,
      "db/broken.sql": `SELECT 1;\nSELEC 2;\n`,
    });
    const log = await sarifOf(dir, ["prisma/migrations", "db"]);
    const rules = new Set(log.runs[0]!.results.map((r) => r.ruleId));
    for (const rule of [
      "index-not-concurrent",
      "set-not-null",
      "prisma-enum-swap",
      "foreign-key-not-valid",
      "truncate",
      "prefer-jsonb",
      "missing-lock-timeout",
      "ignore-without-reason",
      "unbatched-update",
      "parse-error",
    ])
      assert.ok(rules.has(rule), `expected a ${rule} result among ${[...rules].join(", ")}`);
    assert.ok(validate(log), describeErrors(validate.errors));
  });

  it("a log with no finding is valid, and lists every rule", async () => {
    const validate = await sarifValidator();
    const dir = await project({ "clean.sql": `SET lock_timeout = '5s';\nALTER TABLE "User" ADD COLUMN "bio" TEXT;\n` });
    const log = await sarifOf(dir, ["clean.sql"]);
    assert.deepEqual(log.runs[0]!.results, []);
    assert.ok(log.runs[0]!.tool.driver.rules.length > 20);
    assert.ok(validate(log), describeErrors(validate.errors));
  });

  it("a log the schema forbids is refused: a level that is not SARIF's, a region line of 0", async () => {
    const validate = await sarifValidator();
    const dir = await project({ "bad.sql": `CREATE INDEX "i" ON "t"("c");\n` });
    const log = await sarifOf(dir, ["bad.sql"]);
    assert.ok(validate(log), describeErrors(validate.errors));
    const bogus = structuredClone(log);
    bogus.runs[0]!.results[0]!.level = "bogus";
    assert.equal(validate(bogus), false);
    assert.match(describeErrors(validate.errors), /\/runs\/0\/results\/0\/level must be equal to one of the allowed values/);
    const lineZero = JSON.parse(JSON.stringify(log).replace(/"startLine":\d+/, '"startLine":0')) as unknown;
    assert.equal(validate(lineZero), false);
    assert.match(describeErrors(validate.errors), /startLine must be >= 1/);
  });
});
