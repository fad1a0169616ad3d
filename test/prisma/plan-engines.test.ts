// `breakwater plan` in projects with their own Prisma installed: schemas are validated by the
// project's Prisma (5, 6 or 7, its bundled schema parser WASM), the SQL comes from its own engine
// when that runs offline, and the output says which Prisma did what and what may differ.
// The Prisma 5 and 6 CLIs are devDependencies (npm aliases prisma5, prisma6); Prisma 7 is the example app's.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { diffSchemas } from "../../packages/breakwater/src/prisma/scaffold/engine.ts";
import { indexUrl, root, runCli, tempProject } from "../harness.ts";

interface PlanJson {
  changes: { kind: string; subject: string; breaking: boolean }[];
  sql: { single: string | null; intermediate: string | null; final: string | null };
  engines: { project: { version: string } | null; validator: { prisma: string; source: string }; sql: { prisma: string; source: string }; notes: string[] };
}

/** A project whose node_modules/prisma is the given Prisma CLI, with the old schema in old.prisma and the new one in prisma/schema.prisma. */
async function projectWith(prismaCli: string, oldSchema: string, newSchema: string): Promise<{ dir: string; plan: (args: string[]) => ReturnType<typeof runCli> }> {
  assert.ok(existsSync(path.join(prismaCli, "package.json")), `${prismaCli} (npm ci installs it)`);
  const dir = await tempProject({ "old.prisma": oldSchema });
  await mkdir(path.join(dir, "node_modules"));
  await symlink(prismaCli, path.join(dir, "node_modules", "prisma"), "dir");
  await mkdir(path.join(dir, "prisma"));
  await writeFile(path.join(dir, "prisma", "schema.prisma"), newSchema);
  return { dir, plan: (args) => runCli(["plan", "--from", "old.prisma", "--import-from", indexUrl, ...args], { cwd: dir }) };
}

const generator = (features: string) => `generator client {\n  provider        = "prisma-client-js"\n  previewFeatures = [${features}]\n}\n`;
const datasource6 = `datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n`;

describe("breakwater plan with the project's own Prisma", () => {
  const prisma5 = `${generator('"views"')}\n${datasource6}
model Post {
  id    Int    @id @default(autoincrement())
  title String
}

view PostInfo {
  id    Int    @id
  title String
}
`;
  const prisma5New = prisma5.replace(
    "  title String\n}\n\nview",
    "  title String\n  tags  Tag[]\n}\n\nmodel Tag {\n  id    Int    @id @default(autoincrement())\n  posts Post[]\n}\n\nview",
  );

  it("Prisma 5: accepts a view with @id (valid in Prisma 5), validates with Prisma 5 and says what Prisma 7's SQL changes", async () => {
    const p = await projectWith(path.join(root, "node_modules", "prisma5"), prisma5, prisma5New);
    const json = await p.plan(["--dry-run", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const out = JSON.parse(json.stdout) as PlanJson;
    assert.deepEqual(
      out.changes.map((c) => [c.kind, c.subject]),
      [["model-added", "Tag"]],
    );
    assert.equal(out.engines.project?.version, "5.22.0");
    assert.deepEqual(out.engines.validator, { prisma: "5.22.0", source: "project" });
    assert.deepEqual(out.engines.sql, { prisma: "7.10.1", source: "breakwater" });
    assert.ok(
      out.engines.notes.some((n) => /Prisma 5\.22\.0 bundles no schema engine WASM/.test(n)),
      out.engines.notes.join("\n"),
    );
    assert.ok(
      out.engines.notes.some((n) => /_PostToTag_AB_pkey.*Prisma 5\.22\.0 with a unique index "_PostToTag_AB_unique"/.test(n)),
      "the many-to-many key differs from Prisma 5's",
    );
    assert.match(out.sql.single!, /CONSTRAINT "_PostToTag_AB_pkey" PRIMARY KEY \("A","B"\)/);

    const plain = await p.plan(["--dry-run"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /Schemas validated by Prisma 5\.22\.0 \(the project's own schema parser\); SQL written by Prisma 7\.10\.1 \(breakwater's own schema engine\)\./);
    assert.match(plain.stdout, /note: Implicit many-to-many table _PostToTag/);

    // What Prisma 5 refuses is refused with Prisma 5's message.
    await writeFile(path.join(p.dir, "prisma", "schema.prisma"), prisma5New.replace("title String\n  tags", "title Strin\n  tags"));
    const invalid = await p.plan(["--dry-run"]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /Prisma 5\.22\.0 \(the project's Prisma\) rejects prisma\/schema\.prisma:\n.*Type "Strin" is neither a built-in type/);
  });

  const prisma6 = `${generator('"metrics"')}\n${datasource6}
model Post {
  id    Int     @id @default(autoincrement())
  title String?
}
`;
  const prisma6New = prisma6.replace(
    "  title String?\n}\n",
    '  title String  @default("untitled")\n  tags  Tag[]\n}\n\nmodel Tag {\n  id    Int    @id @default(autoincrement())\n  posts Post[]\n}\n',
  );

  it("Prisma 6: accepts the preview feature metrics and writes the SQL with Prisma 6's own migrate diff, offline", async () => {
    const p = await projectWith(path.join(root, "node_modules", "prisma6"), prisma6, prisma6New);
    const made = await p.plan(["--name", "tags", "--json"]);
    assert.equal(made.code, 0, made.stderr);
    const out = JSON.parse(made.stdout) as PlanJson;
    assert.deepEqual(out.engines.validator, { prisma: "6.19.3", source: "project" });
    assert.deepEqual(out.engines.sql, { prisma: "6.19.3", source: "project-migrate-diff" });
    assert.deepEqual(out.engines.notes, []);
    const folders = (await readdir(path.join(p.dir, "prisma", "migrations"))).sort();
    const expand = await readFile(path.join(p.dir, "prisma", "migrations", folders[0]!, "migration.sql"), "utf8");
    const contract = await readFile(path.join(p.dir, "prisma", "migrations", folders[1]!, "migration.sql"), "utf8");
    assert.equal(expand, out.sql.intermediate);
    assert.match(expand, /ALTER TABLE "Post" ALTER COLUMN "title" SET DEFAULT 'untitled';/);
    assert.match(expand, /CREATE TABLE "_PostToTag" \(\n {4}"A" INTEGER NOT NULL,\n {4}"B" INTEGER NOT NULL,\n\n {4}CONSTRAINT "_PostToTag_AB_pkey" PRIMARY KEY \("A","B"\)\n\);/);
    assert.equal(
      contract,
      '-- AlterTable\n-- breakwater-ignore set-not-null: the plan fills every NULL of "Post"."title" first and maintenance mode stays on until this migration has run, so no writer adds one; reads of "Post" wait for the scan\nALTER TABLE "Post" ALTER COLUMN "title" SET NOT NULL;\n',
      "Prisma 6's text, with the ignore breakwater writes for the finding its plan makes safe",
    );
    const planDir = (await readdir(path.join(p.dir, "prisma", "breakwater")))[0]!;
    assert.match(
      await readFile(path.join(p.dir, "prisma", "breakwater", planDir, "schema.intermediate.prisma"), "utf8"),
      /previewFeatures = \["metrics"\]/,
      "the user's text is kept",
    );
  });

  it("Prisma 7: its bundled schema engine is breakwater's build, so it writes the SQL", async () => {
    const schema7 = `datasource db {\n  provider = "postgresql"\n}\n\nmodel Post {\n  id    Int    @id @default(autoincrement())\n  title String\n}\n`;
    const schema7New = schema7.replace("  title String\n", "  title String\n  body  String?\n");
    const p = await projectWith(path.join(root, "examples", "nextjs", "node_modules", "prisma"), schema7, schema7New);
    const made = await p.plan(["--dry-run", "--json"]);
    assert.equal(made.code, 0, made.stderr);
    const out = JSON.parse(made.stdout) as PlanJson;
    assert.deepEqual(out.engines.validator, { prisma: "7.10.1", source: "project" });
    assert.deepEqual(out.engines.sql, { prisma: "7.10.1", source: "project" });
    assert.equal(out.sql.single, await diffSchemas([{ path: "old.prisma", content: schema7 }], [{ path: "schema.prisma", content: schema7New }]));
  });
});
