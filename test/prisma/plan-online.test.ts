// `breakwater plan --online`: the intermediate migration, an online plan and a final migration
// that deploy records as applied; run on real PostgreSQL while the application writes, they end in
// the schema Prisma's own migrations of the new schema.prisma give, with every row kept.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { createTestDatabase, type TestDatabase } from "../harness.ts";
import { datasource, folders, project, reference, shape, type Project } from "./scaffold-project.ts";

async function planFiles(p: Project): Promise<{ planFile: string; intermediate: string }> {
  const planDir = (await readdir(path.join(p.dir, "prisma", "breakwater"))).sort().at(-1)!;
  const planFile = path.join(p.dir, "prisma", "breakwater", planDir, "plan.ts");
  assert.ok(existsSync(planFile));
  return { planFile, intermediate: await readFile(path.join(p.dir, "prisma", "breakwater", planDir, "schema.intermediate.prisma"), "utf8") };
}

const migrationSql = (p: Project, folder: string) => readFile(path.join(p.dir, "prisma", "migrations", folder, "migration.sql"), "utf8");

async function appliedRows(t: TestDatabase): Promise<{ migration_name: string; applied_steps_count: number }[]> {
  return (
    await t.db.query<{ migration_name: string; applied_steps_count: number }>(
      `SELECT migration_name, applied_steps_count FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`,
    )
  ).rows;
}

/**
 * Prisma's shadow database: every migration.sql run in order on an empty database (the guard of
 * the recorded migration lets it run there) must give the same schema as the new schema.prisma.
 */
async function replayShape(p: Project): Promise<string> {
  const shadow = await createTestDatabase();
  try {
    for (const folder of await folders(p.dir)) await shadow.db.query(await migrationSql(p, folder));
    await shadow.db.query(`CREATE TABLE "_prisma_migrations" (id text)`); // shape() leaves it out
    return await shape(shadow.db);
  } finally {
    await shadow.drop();
  }
}

describe("breakwater plan --online: a column renamed by @map, both application versions writing", () => {
  const oldSchema = `${datasource}
model User {
  id    Int    @id @default(autoincrement())
  email String @unique // the login
  name  String
}
`;
  const newSchema = oldSchema.replace("email String @unique // the login", 'email String @unique @map("mail") // the login');

  it("stops before the contract, the new version writes the new column, resume contracts, deploy records the migration", async () => {
    const t = await createTestDatabase();
    const ref = await reference(newSchema);
    try {
      const p = await project(t, oldSchema);
      await t.db.query(`INSERT INTO "User" (email, name) SELECT 'u' || i || '@example.com', 'Name ' || i FROM generate_series(1, 2000) i`);
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), newSchema);

      // Without --online: Prisma's migration would drop the column; refused with the way out.
      const refused = await p.plan(["--from", "prisma/schema.old.prisma"]);
      assert.equal(refused.code, 19, refused.stderr);
      assert.match(refused.stderr, /User\.email's column \(@map\)/);
      assert.match(refused.stderr, /--online/);

      const made = await p.plan(["--from", "prisma/schema.old.prisma", "--online", "--name", "user_mail"]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /breaking\s+User\.email\s+column email renamed to mail \(@map/);
      assert.match(made.stdout, /--stop-before contract/);
      const all = await folders(p.dir);
      const contract = all.at(-1)!;
      assert.match(contract, /^\d{14}_user_mail_contract$/, "nothing safe comes first: no intermediate migration");
      assert.equal(all.length, 2);
      const gate = JSON.parse(await readFile(path.join(p.dir, "prisma", "migrations", contract, "breakwater.json"), "utf8")) as { appliedByPlan?: boolean };
      assert.equal(gate.appliedByPlan, true);
      const { planFile, intermediate } = await planFiles(p);
      const planText = await readFile(planFile, "utf8");
      assert.match(planText, /online: true/);
      assert.match(planText, /renameColumn\(\{ table: "User", from: "email", to: "mail" \}\)/);
      assert.match(intermediate, /email String @unique @map\("email"\) \/\/ the login \/\/ column renamed by the plan/);

      // Before the plan: deploy waits; Prisma's own deploy would fail on the guard, not drop the column.
      const waiting = await p.cli(["deploy"]);
      assert.equal(waiting.code, 0, waiting.stderr);
      assert.match(waiting.stdout, new RegExp(`Stopped before ${contract}`));

      // The old version writes `email` until the stop.
      await t.db.query(`INSERT INTO "User" (email, name) VALUES ('old-app@example.com', 'Old App')`);
      const stopped = await p.cli(["run", planFile, "--stop-before", "contract"]);
      assert.equal(stopped.code, 21, stopped.stderr + stopped.stdout);
      assert.match(stopped.stderr, /Stopped before the contract, as asked/);
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE mail IS DISTINCT FROM email`)).n, 0, "copied and kept in step");
      const runId = (await t.db.one<{ id: string }>(`SELECT id FROM breakwater.runs ORDER BY started_at DESC LIMIT 1`)).id;

      // Both versions during the window: each sees the other's writes.
      await t.db.query(`INSERT INTO "User" (mail, name) VALUES ('new-app@example.com', 'New App')`);
      await t.db.query(`UPDATE "User" SET email = 'old-update@example.com' WHERE id = 5`);
      assert.equal((await t.db.one<{ email: string }>(`SELECT email FROM "User" WHERE name = 'New App'`)).email, "new-app@example.com");
      assert.equal((await t.db.one<{ mail: string }>(`SELECT mail FROM "User" WHERE id = 5`)).mail, "old-update@example.com");
      // The old version is gone now (1 s without a write of `email`); the new one goes on.
      await new Promise((r) => setTimeout(r, 200));
      const expected = (await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || email || ':' || name, ',' ORDER BY id)) AS x FROM "User"`)).x;

      const resumed = await p.cli(["resume", runId]);
      assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
      assert.match(resumed.stdout, /Downtime.*None \(online/);

      const recorded = await p.cli(["deploy"]);
      assert.equal(recorded.code, 0, recorded.stderr);
      assert.match(recorded.stdout + recorded.stderr, /recorded as applied: plan \d{14}_user_mail made its changes/);
      assert.deepEqual(
        (await appliedRows(t)).map((r) => [r.migration_name, r.applied_steps_count]),
        [
          [all[0], 1],
          [contract, 0],
        ],
      );
      // Prisma's own deploy of the recorded file, where breakwater ran, fails on its guard.
      await assert.rejects(t.db.query(await migrationSql(p, contract)), /has made this migration's changes already/);

      const cleaned = await p.cli(["cleanup", "--older-than", "0m"]);
      assert.equal(cleaned.code, 0, cleaned.stderr);
      assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || mail || ':' || name, ',' ORDER BY id)) AS x FROM "User"`)).x, expected);
      assert.equal(await shape(t.db), ref.shape, "the schema Prisma's own migrations of the new schema.prisma give");
      assert.equal(await replayShape(p), ref.shape, "the migrations folder replayed on an empty database gives it too");
    } finally {
      await t.drop();
      await ref.t.drop();
    }
  });
});

describe("breakwater plan --online: an enum value renamed, a field made required, a type widened, a model renamed, a field removed", () => {
  const oldSchema = `${datasource}
model User {
  id       Int     @id @default(autoincrement())
  email    String  @unique
  role     Role    @default(USER)
  nickname String?
  score    Int
  legacy   String?
  posts    Post[]
}

model Post {
  id       Int    @id @default(autoincrement())
  authorId Int
  author   User   @relation(fields: [authorId], references: [id])
  title    String
}

enum Role {
  USER
  ADMIN
}
`;
  const newSchema = oldSchema
    .replace("@default(USER)", "@default(EMPLOYEE)")
    .replace("nickname String?", "nickname String")
    .replace("score    Int", "score    BigInt")
    .replace("  legacy   String?\n", "")
    .replace("posts    Post[]", "posts    Article[]")
    .replace("model Post {", "model Article {")
    .replace("enum Role {\n  USER\n  ADMIN\n}", "enum Role {\n  EMPLOYEE\n  ADMIN\n}");

  it("one online plan does them all while the application writes; deploy records the final migration and runs the drop", async () => {
    const t = await createTestDatabase();
    const ref = await reference(newSchema);
    try {
      const p = await project(t, oldSchema);
      await t.db.query(
        `INSERT INTO "User" (email, role, nickname, score, legacy)
         SELECT 'u' || i || '@example.com', (CASE WHEN i % 3 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role", CASE WHEN i % 4 = 0 THEN NULL ELSE 'nick' || i END, i * 10, 'x'
         FROM generate_series(1, 3000) i`,
      );
      await t.db.query(`INSERT INTO "Post" ("authorId", title) SELECT id, 'Post of ' || id FROM "User" WHERE id % 2 = 0`);
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), newSchema);
      const args = ["--from", "prisma/schema.old.prisma", "--online", "--rename", "Role.USER=EMPLOYEE", "--rename", "Post=Article", "--fill", "User.nickname='anon'"];
      const made = await p.plan([...args, "--name", "many"]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /breaking\s+Article\s+model Post renamed to Article: table Post renamed to Article/);
      const all = await folders(p.dir);
      assert.deepEqual(
        all.slice(1).map((f) => f.replace(/^\d{14}_/, "")),
        ["many_expand", "many_contract", "many_drop"],
      );
      assert.match(await migrationSql(p, all[1]!), /ALTER TYPE "Role" ADD VALUE 'EMPLOYEE';/);
      assert.match(await migrationSql(p, all[3]!), /DROP COLUMN "legacy"/);
      const { planFile, intermediate } = await planFiles(p);
      const planText = await readFile(planFile, "utf8");
      for (const step of [
        /renameEnumValue\(\{ enum: "Role", from: "USER", to: "EMPLOYEE", values: \["EMPLOYEE", "ADMIN"\], appReadsNewValues: true \}\)/,
        /setNotNull\(\{ table: "User", column: "nickname", fill: "'anon'" \}\)/,
        /changeColumnType\(\{ table: "User", column: "score", type: "BIGINT" \}\)/,
        /renameTable\(\{ from: "Post", to: "Article" \}\)/,
      ])
        assert.match(planText, step);
      assert.ok(planText.indexOf("renameTable") > planText.indexOf("changeColumnType"), "the table rename goes last");
      assert.match(intermediate, /@@map\("Post"\) \/\/ table renamed by the plan/);

      const first = await p.cli(["deploy"]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, new RegExp(`Stopped before ${all[2]}`));

      // The application (built from the intermediate schema) writes during the run.
      let writes = 0;
      let failures = 0;
      let writing = true;
      const writer = (async () => {
        const app = await t.connect();
        try {
          for (let i = 0; writing; i++) {
            try {
              await app.query(`INSERT INTO "User" (email, role, nickname, score) VALUES ($1, 'EMPLOYEE', 'live', $2)`, [`live${i}@example.com`, i]);
              await app.query(`UPDATE "User" SET score = score + 1 WHERE id = $1`, [1 + (i % 3000)]);
              await app.query(`INSERT INTO "Post" ("authorId", title) VALUES (1, 'live post')`);
              writes += 3;
            } catch {
              failures++;
            }
          }
        } finally {
          await app.close();
        }
      })();
      const run = await p.cli(["run", planFile]);
      writing = false;
      await writer;
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.equal(failures, 0, "no application write failed during the run");
      assert.ok(writes > 0);

      const expected = (
        await t.db.one<{ x: string }>(
          `SELECT md5(string_agg(id || ':' || email || ':' || role::text || ':' || coalesce(nickname, 'anon') || ':' || score, ',' ORDER BY id)) AS x FROM "User"`,
        )
      ).x;
      // The removed field's DROP COLUMN is not made safe by the plan: plan listed it to review, deploy refuses it until allowed.
      assert.match(made.stdout, /Lint findings to review[^]*_many_drop\/migration\.sql:\d+:1 error drop-column/);
      const refused = await p.cli(["deploy"]);
      assert.equal(refused.code, 22, refused.stderr);
      const second = await p.cli(["deploy", "--allow", "drop-column"]);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout + second.stderr, /recorded as applied/);
      assert.deepEqual(
        (await appliedRows(t)).map((r) => r.applied_steps_count),
        [1, 1, 0, 1],
        "init and expand ran, the final migration recorded, the drop ran",
      );
      const cleaned = await p.cli(["cleanup", "--older-than", "0m"]);
      assert.equal(cleaned.code, 0, cleaned.stderr);

      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE nickname = 'anon'`)).n, 750);
      assert.equal(
        (await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || email || ':' || role::text || ':' || nickname || ':' || score, ',' ORDER BY id)) AS x FROM "User"`)).x,
        expected,
      );
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "Article" WHERE title <> 'live post'`)).n, 1500);
      assert.equal(await shape(t.db), ref.shape, "the schema Prisma's own migrations of the new schema.prisma give");
      assert.equal(await replayShape(p), ref.shape);
    } finally {
      await t.drop();
      await ref.t.drop();
    }
  });

  it("refuses a renamed column with a moved enum value in one online plan, several values of one enum, a table rename without --online", async () => {
    const t = await createTestDatabase();
    try {
      const p = await project(t, oldSchema);
      const both = oldSchema
        .replace("enum Role {\n  USER\n  ADMIN\n}", "enum Role {\n  EMPLOYEE\n  ADMIN\n}")
        .replace("@default(USER)", "@default(EMPLOYEE)")
        .replace("  title    String", '  title    String @map("heading")');
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), both);
      const mixed = await p.plan(["--from", "prisma/schema.old.prisma", "--online", "--rename", "Role.USER=EMPLOYEE", "--dry-run"]);
      assert.equal(mixed.code, 19, mixed.stderr);
      assert.match(mixed.stderr, /cannot share a plan/);
      const two = oldSchema.replace("enum Role {\n  USER\n  ADMIN\n}", "enum Role {\n  EMPLOYEE\n  OWNER\n}").replace("@default(USER)", "@default(EMPLOYEE)");
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), two);
      const crowded = await p.plan(["--from", "prisma/schema.old.prisma", "--online", "--rename", "Role.USER=EMPLOYEE", "--rename", "Role.ADMIN=OWNER", "--dry-run"]);
      assert.equal(crowded.code, 19, crowded.stderr);
      assert.match(crowded.stderr, /one value of an enum moves per plan: Role has several/);
      // A table renamed by @@map: only online; a model renamed whose @@map keeps the table: nothing to do.
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), oldSchema.replace("  posts    Post[]\n", '  posts    Post[]\n\n  @@map("members")\n'));
      const mapped = await p.plan(["--from", "prisma/schema.old.prisma", "--dry-run"]);
      assert.equal(mapped.code, 19, mapped.stderr);
      assert.match(mapped.stderr, /Renamed: table User → members\. Prisma's migration drops and recreates it empty/);
      const online = await p.plan(["--from", "prisma/schema.old.prisma", "--dry-run", "--online"]);
      assert.equal(online.code, 0, online.stderr);
      assert.match(online.stdout, /breaking\s+User\s+@@map of User changed: table User renamed to members/);
      const kept = oldSchema
        .replace("model Post {", "model Article {")
        .replace("posts    Post[]", "posts    Article[]")
        .replace("  title    String\n", '  title    String\n\n  @@map("Post")\n');
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), kept);
      const same = await p.plan(["--from", "prisma/schema.old.prisma", "--dry-run", "--rename", "Post=Article"]);
      assert.equal(same.code, 0, same.stderr);
      assert.match(same.stdout, /safe\s+Article\s+model Post renamed to Article; its table Post keeps its name \(@@map\)/);
      assert.equal((await folders(p.dir)).length, 1, "nothing written");
      await rm(p.dir, { recursive: true, force: true });
    } finally {
      await t.drop();
    }
  });
});
