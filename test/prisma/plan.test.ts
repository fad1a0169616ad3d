// `breakwater plan`: scaffolded three steps run on real PostgreSQL (deploy intermediate → run
// plan → deploy final) end in the new schema with every row kept; the SQL is the engine's own
// diff; Prisma Client 7 reads and writes the result.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { diffSchemas } from "../../packages/breakwater/src/prisma/scaffold/engine.ts";
import { withoutIgnores } from "../../packages/breakwater/src/prisma/scaffold/lint-migrations.ts";
import { createTestDatabase, enumLabels, execFile, indexUrl, root, runCli, tempProject, type TestDatabase } from "../harness.ts";
import { datasource, folders, generator, project, reference, shape, type Project } from "./scaffold-project.ts";

/** deploy (intermediate) → run the plan → deploy (final) → maintenance off, asserting each step. */
async function threeSteps(p: Project, t: TestDatabase, options: { intermediateDeployed?: boolean } = {}): Promise<{ planFile: string; migrations: string[] }> {
  const all = await folders(p.dir);
  const [expand, contract] = all.slice(-2);
  assert.match(expand!, /_expand$/);
  assert.match(contract!, /_contract$/);
  const planDir = (await readdir(path.join(p.dir, "prisma", "breakwater"))).sort().at(-1)!;
  const planFile = path.join(p.dir, "prisma", "breakwater", planDir, "plan.ts");
  assert.ok(existsSync(planFile), "the plan file (plan.ts in an ESM project)");

  const first = await p.cli(["deploy"]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, options.intermediateDeployed ? /No pending migrations to apply/ : new RegExp(`Applied 1 migration\\(s\\):\\n  ${expand}`));
  assert.match(first.stdout, new RegExp(`Stopped before ${contract}`));
  const applied = async () =>
    (await t.db.query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name`)).rows.map(
      (r) => r.migration_name,
    );
  assert.deepEqual(await applied(), all.slice(0, -1));
  const status = await p.cli(["migrate", "status"]);
  assert.match(status.stdout, new RegExp(`Pending \\(1\\):\\n  ${contract}   \\(waits for plan \\d{14}_\\w+ to complete\\)`));

  const run = await p.cli(["run", planFile]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stdout + run.stderr, /Maintenance mode stays on/);
  assert.match(run.stdout, /\*\*Downtime\*\*: [\d.]+ s of refused writes so far .* maintenance stays on until `breakwater maintenance off`/, "the report says the outage goes on");
  const maintenance = await p.cli(["maintenance", "status", "--json"]);
  assert.equal((JSON.parse(maintenance.stdout) as { enabled: boolean }).enabled, true, "maintenance stays on until the contract is deployed");

  const second = await p.cli(["deploy"]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`Applied 1 migration\\(s\\):\\n  ${contract}`));
  assert.deepEqual(await applied(), all);
  const off = await p.cli(["maintenance", "off"]);
  assert.equal(off.code, 0, off.stderr);
  return { planFile, migrations: all };
}

/** The migration.sql files are the engine's diff between the schemas on either side. */
async function assertEngineText(p: Project, oldSchema: string, newSchema: string, options: { guarded?: boolean } = {}): Promise<void> {
  const all = await folders(p.dir);
  const [expand, contract] = all.slice(-2);
  const planDir = (await readdir(path.join(p.dir, "prisma", "breakwater"))).sort().at(-1)!;
  const intermediate = await readFile(path.join(p.dir, "prisma", "breakwater", planDir, "schema.intermediate.prisma"), "utf8");
  const expandSql = await readFile(path.join(p.dir, "prisma", "migrations", expand!, "migration.sql"), "utf8");
  let contractSql = await readFile(path.join(p.dir, "prisma", "migrations", contract!, "migration.sql"), "utf8");
  if (options.guarded) {
    assert.match(contractSql, /^-- breakwater guard: refuses to run before plan \d{14}_\w+ has completed/);
    contractSql = contractSql.slice(contractSql.indexOf("$$;\n\n") + 5);
  }
  // breakwater adds only its ignore lines (with the reason the plan makes each finding safe) to Prisma's text.
  assert.equal(withoutIgnores(expandSql), await diffSchemas([{ path: "old", content: oldSchema }], [{ path: "intermediate", content: intermediate }]));
  assert.equal(withoutIgnores(contractSql), await diffSchemas([{ path: "intermediate", content: intermediate }], [{ path: "new", content: newSchema }]));
}

const seedsOld = `${generator}${datasource}
model User {
  id     Int     @id @default(autoincrement())
  email  String  @unique
  role   Role    @default(USER)
  invite Invite?
}

model Invite {
  id     Int   @id @default(autoincrement())
  userId Int   @unique
  user   User  @relation(fields: [userId], references: [id])
  role   Role?
}

enum Role {
  USER
  ADMIN
}
`;
const seedsNew = seedsOld
  .replace("@default(USER)", "@default(EMPLOYEE)")
  .replace("enum Role {\n  USER\n  ADMIN\n}", "enum Role {\n  EMPLOYEE  // replaces USER\n  MANAGER   // new\n  ADMIN     // unchanged\n}");

describe("breakwater plan: the seeds' Role change (USER → EMPLOYEE, MANAGER added)", () => {
  let t: TestDatabase;
  let ref: { t: TestDatabase; shape: string };
  let p: Project;
  before(async () => {
    t = await createTestDatabase();
    p = await project(t, seedsOld);
    ref = await reference(seedsNew);
    // every role, and invites with each role and with none
    await t.db.query(
      `INSERT INTO "User" (email, role) SELECT 'u' || i || '@example.com', (CASE WHEN i % 3 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role" FROM generate_series(1, 3000) i`,
    );
    await t.db.query(
      `INSERT INTO "Invite" ("userId", role) SELECT id, CASE WHEN id % 4 = 0 THEN NULL WHEN id % 4 = 1 THEN 'ADMIN'::"Role" ELSE 'USER'::"Role" END FROM "User" WHERE id <= 1000`,
    );
  });
  after(async () => {
    await t.drop();
    await ref.t.drop();
  });

  it("reads the old schema from git, refuses to guess the rename, then scaffolds the three steps", async () => {
    const git = (...args: string[]) =>
      new Promise<void>((resolve, reject) => execFile("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: p.dir }, (e) => (e ? reject(e) : resolve())));
    await git("init", "-q");
    await git("add", "prisma/schema.prisma");
    await git("commit", "-qm", "old schema");
    await writeFile(path.join(p.dir, "prisma", "schema.prisma"), seedsNew);
    const before = await folders(p.dir);

    const unconfirmed = await p.plan(["--from", "HEAD"]);
    assert.equal(unconfirmed.code, 15, unconfirmed.stderr);
    assert.match(unconfirmed.stderr, /Role\.USER is removed/);
    assert.match(unconfirmed.stderr, /--rename Role\.USER=EMPLOYEE/);
    assert.deepEqual(await folders(p.dir), before, "nothing written without an answer");

    const dry = await p.plan(["--from", "HEAD", "--rename", "Role.USER=EMPLOYEE", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /breaking\s+Role\.USER\s+value USER removed from enum Role; its rows move to EMPLOYEE \(a rename\)/);
    assert.match(dry.stdout, /safe\s+Role\.MANAGER/);
    assert.deepEqual(await folders(p.dir), before, "--dry-run writes nothing");

    const scaffolded = await p.plan(["--from", "HEAD", "--rename", "Role.USER=EMPLOYEE", "--name", "role_employee"]);
    assert.equal(scaffolded.code, 0, scaffolded.stderr);
    assert.match(scaffolded.stdout, /schema\.intermediate\.prisma/);
    await assertEngineText(p, seedsOld, seedsNew);
    const all = await folders(p.dir);
    const expandSql = await readFile(path.join(p.dir, "prisma", "migrations", all.at(-2)!, "migration.sql"), "utf8");
    const contractSql = await readFile(path.join(p.dir, "prisma", "migrations", all.at(-1)!, "migration.sql"), "utf8");
    assert.match(expandSql, /ALTER TYPE "Role" ADD VALUE 'EMPLOYEE';/);
    assert.match(contractSql, /CREATE TYPE "Role_new" AS ENUM \('EMPLOYEE', 'MANAGER', 'ADMIN'\);/);
    const again = await p.plan(["--from", "HEAD", "--rename", "Role.USER=EMPLOYEE", "--name", "role_employee"]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /A migration named role_employee exists already/);
    assert.deepEqual(await folders(p.dir), all, "a second scaffold of the same change writes nothing");
  });

  it("deploy → run → deploy ends in the seeds' target schema with every row kept", async () => {
    const mapped = `md5(string_agg(id || ':' || email || ':' || (CASE role::text WHEN 'USER' THEN 'EMPLOYEE' ELSE role::text END), ',' ORDER BY id))`;
    const usersBefore = (await t.db.one<{ x: string }>(`SELECT ${mapped} AS x FROM "User"`)).x;
    const invitesBefore = (
      await t.db.one<{ x: string }>(
        `SELECT md5(string_agg(id || ':' || "userId" || ':' || coalesce(CASE role::text WHEN 'USER' THEN 'EMPLOYEE' ELSE role::text END, '-'), ',' ORDER BY id)) AS x FROM "Invite"`,
      )
    ).x;
    await threeSteps(p, t);
    assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || email || ':' || role::text, ',' ORDER BY id)) AS x FROM "User"`)).x, usersBefore);
    assert.equal(
      (await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || "userId" || ':' || coalesce(role::text, '-'), ',' ORDER BY id)) AS x FROM "Invite"`)).x,
      invitesBefore,
    );
    const counts = (await t.db.query<{ role: string; n: number }>(`SELECT role::text, count(*)::int AS n FROM "User" GROUP BY 1 ORDER BY 1`)).rows;
    assert.deepEqual(counts, [
      { role: "ADMIN", n: 1000 },
      { role: "EMPLOYEE", n: 2000 },
    ]);
    assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "MANAGER", "ADMIN"]);
    assert.equal(await shape(t.db), ref.shape, "the same schema Prisma's own migrations of the new schema.prisma give");
  });

  it("Prisma Client 7 (adapter-pg) reads and writes the migrated database", async () => {
    const example = path.join(root, "examples", "nextjs");
    assert.ok(existsSync(path.join(example, "node_modules", "prisma")), "examples/nextjs dependencies (npm test installs them)");
    // Inside the example, so the generated client resolves @prisma/client and @prisma/adapter-pg.
    const work = await mkdtemp(path.join(example, ".client-test-"));
    try {
      await writeFile(path.join(work, "schema.prisma"), seedsNew.replace('output   = "../generated/prisma"', 'output   = "./generated"'));
      const generate = await new Promise<{ code: number; out: string }>((resolve) =>
        execFile(
          process.execPath,
          [path.join(example, "node_modules", "prisma", "build", "index.js"), "generate", "--schema", path.join(work, "schema.prisma")],
          { cwd: example, env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: "/bin/true", PRISMA_HIDE_UPDATE_MESSAGE: "1" } },
          (e, stdout, stderr) => resolve({ code: e ? 1 : 0, out: stdout + stderr }),
        ),
      );
      assert.equal(generate.code, 0, generate.out);
      await writeFile(
        path.join(work, "client.mts"),
        `import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client.ts";
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL }) });
const manager = await prisma.user.create({ data: { email: "manager@example.com", role: "MANAGER", invite: { create: { role: "EMPLOYEE" } } } });
const byDefault = await prisma.user.create({ data: { email: "default@example.com" } });
await prisma.user.update({ where: { id: 1 }, data: { role: "MANAGER" } });
const counts = await prisma.user.groupBy({ by: ["role"], _count: { _all: true }, orderBy: { role: "asc" } });
const invite = await prisma.invite.findFirst({ where: { role: "EMPLOYEE" }, include: { user: true }, orderBy: { id: "asc" } });
console.log(JSON.stringify({ manager: manager.role, byDefault: byDefault.role, counts: counts.map((c) => [c.role, c._count._all]), invite: [invite?.role, invite?.user.role] }));
await prisma.$disconnect();
`,
      );
      const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ["--import", "tsx", path.join(work, "client.mts")], { cwd: root, env: { ...process.env, DATABASE_URL: t.url } }, (e, stdout, stderr) =>
          resolve({ code: e ? 1 : 0, stdout, stderr }),
        ),
      );
      assert.equal(out.code, 0, out.stderr);
      const result = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as { manager: string; byDefault: string; counts: [string, number][]; invite: [string, string] };
      assert.equal(result.manager, "MANAGER");
      assert.equal(result.byDefault, "EMPLOYEE", "the new default, as the final schema.prisma says");
      // user 1 was EMPLOYEE (ex-USER): 1999 EMPLOYEE + the default one; MANAGER: user 1 and the new one
      assert.deepEqual(result.counts, [
        ["EMPLOYEE", 2000],
        ["MANAGER", 2],
        ["ADMIN", 1000],
      ]);
      assert.deepEqual(result.invite, ["EMPLOYEE", "EMPLOYEE"], "an invite migrated from USER, read through the relation");
      const rows = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE email IN ('manager@example.com', 'default@example.com')`);
      assert.equal(rows.n, 2, "the client's writes are in the database");
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe("breakwater plan: a column rename and a NOT NULL addition", () => {
  const renameOld = `${datasource}
model User {
  id    Int    @id @default(autoincrement())
  email String @unique
  name  String @db.VarChar(200)
  @@index([name])
}
`;
  const renameNew = renameOld.replace("  name  String @db.VarChar(200)\n  @@index([name])", "  fullName String @db.VarChar(200)\n  @@index([fullName])");

  it("renames User.name to fullName: rows copied, the old app's writes in between kept, the target schema reached", async () => {
    const t = await createTestDatabase();
    const ref = await reference(renameNew);
    try {
      const p = await project(t, renameOld);
      await t.db.query(`INSERT INTO "User" (email, name) SELECT 'u' || i || '@example.com', 'Name ' || i FROM generate_series(1, 2500) i`);
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), renameNew);
      const ask = await p.plan(["--from", "prisma/schema.old.prisma"]);
      assert.equal(ask.code, 15);
      assert.match(ask.stderr, /--rename User\.name=fullName/);
      const made = await p.plan(["--from", "prisma/schema.old.prisma", "--rename", "User.name=fullName", "--name", "full_name"]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /breaking\s+User\.name\s+field name renamed to fullName/);
      await assertEngineText(p, renameOld, renameNew);
      const planDir = (await readdir(path.join(p.dir, "prisma", "breakwater")))[0]!;
      const intermediate = await readFile(path.join(p.dir, "prisma", "breakwater", planDir, "schema.intermediate.prisma"), "utf8");
      assert.match(intermediate, /name\s+String @db\.VarChar\(200\)/);
      assert.match(intermediate, /fullName String\? @db\.VarChar\(200\)/);

      // The index on the new column is built on a table with rows: not made safe by the plan, so
      // plan lists it to review and deploy applies it only when allowed.
      assert.match(made.stdout, /Lint findings to review[^]*_full_name_expand\/migration\.sql:\d+:1 error index-not-concurrent/);
      // The old application keeps writing `name` between the intermediate deploy and the run.
      const first = await p.cli(["deploy", "--allow", "index-not-concurrent"]);
      assert.equal(first.code, 0, first.stderr);
      await t.db.query(`INSERT INTO "User" (email, name) VALUES ('late@example.com', 'Late Writer')`);
      await t.db.query(`UPDATE "User" SET name = 'Renamed 7' WHERE id = 7`);
      const expected = (await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || email || ':' || name, ',' ORDER BY id)) AS x FROM "User"`)).x;
      // threeSteps deploys again (nothing new before the gate), runs and contracts
      await threeSteps(p, t, { intermediateDeployed: true });
      assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || email || ':' || "fullName", ',' ORDER BY id)) AS x FROM "User"`)).x, expected);
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User"`)).n, 2501);
      assert.equal(await shape(t.db), ref.shape);
    } finally {
      await t.drop();
      await ref.t.drop();
    }
  });

  it('makes seed 003\'s role required with @default("user"): NULL rows filled, others untouched', async () => {
    const nnOld = `${datasource}
model User {
  id    String  @id @default(uuid())
  email String  @unique
  role  String? // Optional first
}
`;
    const nnNew = nnOld.replace("role  String? // Optional first", 'role  String  @default("user")');
    const t = await createTestDatabase();
    const ref = await reference(nnNew);
    try {
      const p = await project(t, nnOld);
      await t.db.query(
        `INSERT INTO "User" (id, email, role) SELECT 'id-' || i, 'u' || i || '@example.com', CASE WHEN i % 2 = 0 THEN NULL ELSE 'admin' END FROM generate_series(1, 3000) i`,
      );
      const expected = (await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || coalesce(role, 'user'), ',' ORDER BY id)) AS x FROM "User"`)).x;
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), nnNew);
      const made = await p.plan(["--from", "prisma/schema.old.prisma", "--name", "role_required", "--guard"]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /breaking\s+User\.role\s+role becomes required/);
      await assertEngineText(p, nnOld, nnNew, { guarded: true });
      // What `prisma migrate deploy` would do with the contract folder before the plan: one simple query, refused by the guard.
      const deployed = await p.cli(["deploy"]);
      assert.equal(deployed.code, 0, deployed.stderr);
      const contract = (await folders(p.dir)).at(-1)!;
      await assert.rejects(
        t.db.query(await readFile(path.join(p.dir, "prisma", "migrations", contract, "migration.sql"), "utf8")),
        /breakwater: run plan \d{14}_role_required first/,
      );
      assert.equal((await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE role IS NULL`)).n, 1500, "nothing of the contract ran");
      await threeSteps(p, t, { intermediateDeployed: true });
      assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || role, ',' ORDER BY id)) AS x FROM "User"`)).x, expected);
      assert.deepEqual((await t.db.query<{ role: string; n: number }>(`SELECT role, count(*)::int AS n FROM "User" GROUP BY 1 ORDER BY 1`)).rows, [
        { role: "admin", n: 1500 },
        { role: "user", n: 1500 },
      ]);
      assert.equal(await shape(t.db), ref.shape);
    } finally {
      await t.drop();
      await ref.t.drop();
    }
  });
});

describe("breakwater plan: a foreign key made required", () => {
  const fkOld = `${datasource}
model User {
  id    Int    @id @default(autoincrement())
  posts Post[]
}

model Post {
  id       Int   @id @default(autoincrement())
  title    String
  authorId Int?
  author   User? @relation(fields: [authorId], references: [id])
}
`;
  const fkNew = fkOld.replace("authorId Int?", "authorId Int").replace("author   User? @relation", "author   User  @relation");

  it("keeps the relation optional in the intermediate schema, fills the NULL keys, then the contract sets NOT NULL", async () => {
    const t = await createTestDatabase();
    const ref = await reference(fkNew);
    try {
      const p = await project(t, fkOld);
      await t.db.query(`INSERT INTO "User" SELECT FROM generate_series(1, 50)`);
      await t.db.query(`INSERT INTO "Post" (title, "authorId") SELECT 'p' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 50 + 1 END FROM generate_series(1, 2000) i`);
      const expected = (await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || title || ':' || coalesce("authorId", 1), ',' ORDER BY id)) AS x FROM "Post"`)).x;
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), fkNew);
      const ask = await p.plan(["--from", "prisma/schema.old.prisma"]);
      assert.equal(ask.code, 15, ask.stderr);
      assert.match(ask.stderr, /--fill Post\.authorId=/);
      const made = await p.plan(["--from", "prisma/schema.old.prisma", "--fill", "Post.authorId=1", "--name", "author_required"]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /breaking\s+Post\.authorId\s+authorId becomes required/);
      await assertEngineText(p, fkOld, fkNew);
      const planDir = (await readdir(path.join(p.dir, "prisma", "breakwater")))[0]!;
      const intermediate = await readFile(path.join(p.dir, "prisma", "breakwater", planDir, "schema.intermediate.prisma"), "utf8");
      assert.match(intermediate, /authorId Int\? /);
      assert.match(intermediate, /author {3}User\? /);
      await threeSteps(p, t);
      assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || title || ':' || "authorId", ',' ORDER BY id)) AS x FROM "Post"`)).x, expected);
      assert.equal(await shape(t.db), ref.shape, "NOT NULL and Prisma's ON DELETE RESTRICT foreign key, as Prisma's own migration of the new schema");
    } finally {
      await t.drop();
      await ref.t.drop();
    }
  });
});

describe("breakwater plan: @map / @@map names and enum arrays", () => {
  const mappedOld = `${datasource}
enum Role {
  USER  @map("user")
  ADMIN @map("admin")
  @@map("role_t")
}

model Account {
  id    Int    @id @default(autoincrement())
  role  Role   @default(USER) @map("the role")
  roles Role[]
  @@map("accounts")
}
`;
  const mappedNew = mappedOld.replace('  USER  @map("user")', '  EMPLOYEE @map("employee")').replace("@default(USER)", "@default(EMPLOYEE)");

  it("moves the database values (not the Prisma names) in plain and array columns", async () => {
    const t = await createTestDatabase();
    const ref = await reference(mappedNew);
    try {
      const p = await project(t, mappedOld);
      await t.db.query(
        `INSERT INTO accounts ("the role", roles) SELECT (CASE WHEN i % 2 = 0 THEN 'user' ELSE 'admin' END)::role_t, (CASE WHEN i % 3 = 0 THEN '{}' ELSE '{user,admin,user}' END)::role_t[] FROM generate_series(1, 600) i`,
      );
      const expected = (
        await t.db.one<{ x: string }>(
          `SELECT md5(string_agg(id || ':' || replace("the role"::text, 'user', 'employee') || ':' || replace(roles::text, 'user', 'employee'), ',' ORDER BY id)) AS x FROM accounts`,
        )
      ).x;
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), mappedNew);
      const made = await p.plan(["--from", "prisma/schema.old.prisma", "--rename", "Role.USER=EMPLOYEE", "--name", "mapped"]);
      assert.equal(made.code, 0, made.stderr);
      await assertEngineText(p, mappedOld, mappedNew);
      await threeSteps(p, t);
      assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || "the role"::text || ':' || roles::text, ',' ORDER BY id)) AS x FROM accounts`)).x, expected);
      assert.deepEqual(await enumLabels(t.db, "role_t"), ["employee", "admin"]);
      assert.equal(await shape(t.db), ref.shape);
    } finally {
      await t.drop();
      await ref.t.drop();
    }
  });
});

describe("breakwater plan: a multi-file schema (prisma/schema/ folder)", () => {
  it("reads the folder from git, edits the file that holds each block, and the three steps run", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      const folder = path.join(dir, "prisma", "schema");
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(dir, "empty.prisma"), datasource);
      await writeFile(path.join(folder, "base.prisma"), datasource);
      await writeFile(path.join(folder, "enums.prisma"), "enum Role {\n  USER\n  ADMIN\n}\n");
      await writeFile(path.join(folder, "user.prisma"), "model User {\n  id   Int    @id @default(autoincrement())\n  name String\n  role Role   @default(USER)\n}\n");
      const cli = (args: string[]) => runCli(args, { cwd: dir, databaseUrl: t.url });
      const init = await cli(["plan", "--from", "empty.prisma", "--name", "init"]);
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stdout, /to prisma\/schema:/, "the folder is found without --to");
      assert.equal((await cli(["deploy"])).code, 0);
      await t.db.query(`INSERT INTO "User" (name, role) SELECT 'n' || i, (CASE WHEN i % 4 = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role" FROM generate_series(1, 1200) i`);
      const expected = (
        await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || name || ':' || replace(role::text, 'USER', 'EMPLOYEE'), ',' ORDER BY id)) AS x FROM "User"`)
      ).x;

      const git = (...args: string[]) =>
        new Promise<void>((resolve, reject) => execFile("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir }, (e) => (e ? reject(e) : resolve())));
      await git("init", "-q");
      await git("add", "prisma/schema");
      await git("commit", "-qm", "old schema");
      await writeFile(path.join(folder, "enums.prisma"), "enum Role {\n  EMPLOYEE\n  ADMIN\n}\n");
      await writeFile(
        path.join(folder, "user.prisma"),
        "model User {\n  id       Int    @id @default(autoincrement())\n  fullName String\n  role     Role   @default(EMPLOYEE)\n}\n",
      );
      const made = await runCli(["plan", "--from", "HEAD", "--rename", "Role.USER=EMPLOYEE", "--rename", "User.name=fullName", "--name", "multi", "--import-from", indexUrl], {
        cwd: dir,
      });
      assert.equal(made.code, 0, made.stderr);
      const planDir = path.join(dir, "prisma", "breakwater", (await readdir(path.join(dir, "prisma", "breakwater")))[0]!);
      assert.deepEqual((await readdir(path.join(planDir, "schema.intermediate"))).sort(), ["base.prisma", "enums.prisma", "user.prisma"]);
      assert.match(await readFile(path.join(planDir, "schema.intermediate", "enums.prisma"), "utf8"), /USER \/\/ removed by the final migration/);
      assert.match(await readFile(path.join(planDir, "schema.intermediate", "user.prisma"), "utf8"), /name String \/\/ renamed to fullName/);

      const [expand, contract] = (await folders(dir)).slice(-2);
      const read = async (name: string) => readFile(path.join(dir, "prisma", "migrations", name, "migration.sql"), "utf8");
      const files = async (base: string) => Promise.all((await readdir(base)).sort().map(async (n) => ({ path: n, content: await readFile(path.join(base, n), "utf8") })));
      const old = [
        { path: "base.prisma", content: datasource },
        { path: "enums.prisma", content: "enum Role {\n  USER\n  ADMIN\n}\n" },
        { path: "user.prisma", content: "model User {\n  id   Int    @id @default(autoincrement())\n  name String\n  role Role   @default(USER)\n}\n" },
      ];
      const middle = await files(path.join(planDir, "schema.intermediate"));
      assert.equal(withoutIgnores(await read(expand!)), await diffSchemas(old, middle));
      assert.equal(withoutIgnores(await read(contract!)), await diffSchemas(middle, await files(folder)));

      for (const args of [["deploy"], ["run", path.join(planDir, "plan.ts")], ["deploy"], ["maintenance", "off"]]) {
        const r = await cli(args);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      }
      assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || "fullName" || ':' || role::text, ',' ORDER BY id)) AS x FROM "User"`)).x, expected);
      assert.deepEqual(await enumLabels(t.db, '"Role"'), ["EMPLOYEE", "ADMIN"]);
    } finally {
      await t.drop();
    }
  });
});

describe("breakwater plan: a type change Prisma makes with SET DATA TYPE", () => {
  const typesOld = `${datasource}
model Item {
  id   Int    @id @default(autoincrement())
  code String @db.VarChar(100)
  qty  Int?
}
`;
  const typesNew = typesOld.replace("@db.VarChar(100)", "@db.VarChar(8)").replace("qty  Int?", "qty  BigInt?");

  it("checks that every value converts without loss (a too-long value stops the run), then contracts", async () => {
    const t = await createTestDatabase();
    const ref = await reference(typesNew);
    try {
      const p = await project(t, typesOld);
      await t.db.query(`INSERT INTO "Item" (code, qty) SELECT 'c' || i, CASE WHEN i % 5 = 0 THEN NULL ELSE i END FROM generate_series(1, 2000) i`);
      await t.db.query(`UPDATE "Item" SET code = 'far-too-long-code' WHERE id = 7`);
      await writeFile(path.join(p.dir, "prisma", "schema.prisma"), typesNew);
      const made = await p.plan(["--from", "prisma/schema.old.prisma", "--name", "types"]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /breaking\s+Item\.code\s+type String @db\.VarChar\(100\) → String @db\.VarChar\(8\)/);
      await assertEngineText(p, typesOld, typesNew);
      const planDir = (await readdir(path.join(p.dir, "prisma", "breakwater")))[0]!;
      const planFile = path.join(p.dir, "prisma", "breakwater", planDir, "plan.ts");
      assert.match(await readFile(planFile, "utf8"), /converts to VARCHAR\(8\) without loss/);

      const first = await p.cli(["deploy"]);
      assert.equal(first.code, 0, first.stderr);
      const before = (await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || code || ':' || coalesce(qty::text, '-'), ',' ORDER BY id)) AS x FROM "Item"`)).x;
      const refused = await p.cli(["run", planFile]);
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(refused.stderr, /Item\.code converts to VARCHAR\(8\) without loss \(expected 0, got 1\)/);
      const blocked = await p.cli(["deploy"]);
      assert.match(blocked.stdout, /Stopped before \d{14}_types_contract/, "the contract waits while the plan has not completed");
      assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || code || ':' || coalesce(qty::text, '-'), ',' ORDER BY id)) AS x FROM "Item"`)).x, before);

      await t.db.query(`UPDATE "Item" SET code = 'short' WHERE id = 7`);
      const expected = (await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || code || ':' || coalesce(qty::text, '-'), ',' ORDER BY id)) AS x FROM "Item"`)).x;
      await threeSteps(p, t, { intermediateDeployed: true });
      assert.equal((await t.db.one<{ x: string }>(`SELECT md5(string_agg(id || ':' || code || ':' || coalesce(qty::text, '-'), ',' ORDER BY id)) AS x FROM "Item"`)).x, expected);
      assert.equal(await shape(t.db), ref.shape);
    } finally {
      await t.drop();
      await ref.t.drop();
    }
  });
});

describe("breakwater plan: classification and refusals (no database)", () => {
  let dir: string;
  const base = `${datasource}
model User {
  id    Int     @id @default(autoincrement())
  email String  @unique
  name  String?
  age   Int?
}
`;
  const plan = (args: string[]) => runCli(["plan", "--import-from", indexUrl, ...args], { cwd: dir });
  const setNew = (text: string) => writeFile(path.join(dir, "prisma", "schema.prisma"), text);
  before(async () => {
    dir = await tempProject();
    await mkdir(path.join(dir, "prisma"), { recursive: true });
    await writeFile(path.join(dir, "old.prisma"), base);
  });

  it("safe changes alone become one ordinary migration: Prisma's SQL, nothing else", async () => {
    const next = base.replace("  age   Int?\n", "  age   Int?\n  bio   String?\n  score Int @default(0)\n");
    await setNew(next);
    const result = await plan(["--from", "old.prisma", "--name", "bio"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /safe\s+User\.bio/);
    assert.doesNotMatch(result.stdout, /breaking/);
    const [folder] = await folders(dir);
    assert.match(folder!, /^\d{14}_bio$/);
    assert.equal(
      await readFile(path.join(dir, "prisma", "migrations", folder!, "migration.sql"), "utf8"),
      await diffSchemas([{ path: "a", content: base }], [{ path: "b", content: next }]),
    );
    assert.equal(existsSync(path.join(dir, "prisma", "breakwater")), false);
    await rm(path.join(dir, "prisma", "migrations"), { recursive: true });
  });

  it("reads Prisma 6 schemas (connection URLs in the datasource) and keeps their text in what it writes", async () => {
    const p6 = `generator client {\n  provider = "prisma-client-js"\n}\n\ndatasource db {\n  provider  = "postgresql"\n  url       = env("DATABASE_URL")\n  directUrl = env("DIRECT_URL")\n}\n\nmodel A {\n  id Int     @id\n  n  String?\n}\n`;
    await writeFile(path.join(dir, "old6.prisma"), p6);
    await setNew(p6.replace("n  String?", 'n  String  @default("x")'));
    const result = await plan(["--from", "old6.prisma", "--name", "p6"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /breaking\s+A\.n\s+n becomes required/);
    const planDir = (await readdir(path.join(dir, "prisma", "breakwater")))[0]!;
    const intermediate = await readFile(path.join(dir, "prisma", "breakwater", planDir, "schema.intermediate.prisma"), "utf8");
    assert.match(intermediate, /url {7}= env\("DATABASE_URL"\)/);
    assert.match(intermediate, /n {2}String\? {2}@default\("x"\)/);
    await rm(path.join(dir, "prisma", "migrations"), { recursive: true });
    await rm(path.join(dir, "prisma", "breakwater"), { recursive: true });
  });

  it("--no-renames makes a candidate a removal plus an addition; --json gives the classification", async () => {
    await setNew(base.replace("  name  String?\n", "  title String?\n"));
    const result = await plan(["--from", "old.prisma", "--no-renames", "--dry-run", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout) as { changes: { kind: string; subject: string; breaking: boolean }[]; breaking: boolean; written: unknown };
    assert.deepEqual(
      out.changes.map((c) => [c.kind, c.subject, c.breaking]),
      [
        ["column-removed", "User.name", true],
        ["column-added", "User.title", false],
      ],
    );
    assert.equal(out.written, null);
  });

  it("asks in a terminal: the chosen enum destination and the confirmed rename end up in the plan", async () => {
    const old = `${datasource}\nenum Role {\n  USER\n  ADMIN\n}\n\nmodel Member {\n  id   Int    @id\n  name String\n  role Role   @default(USER)\n}\n`;
    await writeFile(path.join(dir, "old-tty.prisma"), old);
    await setNew(old.replace("  USER\n  ADMIN", "  EMPLOYEE\n  MANAGER\n  ADMIN").replace("@default(USER)", "@default(EMPLOYEE)").replace("  name String\n", "  title String\n"));
    const command = [
      process.execPath,
      path.join(root, "packages", "breakwater", "bin", "breakwater.js"),
      "plan",
      "--from",
      "old-tty.prisma",
      "--name",
      "tty",
      "--import-from",
      indexUrl,
    ]
      .map((a) => `'${a}'`)
      .join(" ");
    // `script` gives the command a pseudo-terminal; the answers are typed ahead: MANAGER, then "yes, renamed"
    const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = execFile("script", ["-qfec", command, "/dev/null"], { cwd: dir, env: { ...process.env, CI: "true" } }, (e, stdout) => resolve({ code: e ? 1 : 0, stdout }));
      child.stdin!.end("2\n1\n");
    });
    assert.equal(out.code, 0, out.stdout);
    assert.match(out.stdout, /Which value do its rows take\?/);
    assert.match(out.stdout, /Was it renamed\?/);
    const planDir = (await readdir(path.join(dir, "prisma", "breakwater")))[0]!;
    const source = await readFile(path.join(dir, "prisma", "breakwater", planDir, "plan.ts"), "utf8");
    assert.match(source, /set: \{ "role": "'MANAGER'" \}, where: `"role" = 'USER'`/);
    assert.match(source, /set: \{ "title": `"name"` \}/);
    await rm(path.join(dir, "prisma", "migrations"), { recursive: true });
    await rm(path.join(dir, "prisma", "breakwater"), { recursive: true });
  });

  it("a new required field without a default needs --fill; the plan fills it", async () => {
    await setNew(base.replace("  age   Int?\n", "  age   Int?\n  plan  String\n"));
    const missing = await plan(["--from", "old.prisma", "--dry-run"]);
    assert.equal(missing.code, 15);
    assert.match(missing.stderr, /--fill User\.plan=/);
    const filled = await plan(["--from", "old.prisma", "--fill", "User.plan='free'", "--name", "plan_field"]);
    assert.equal(filled.code, 0, filled.stderr);
    const planDir = (await readdir(path.join(dir, "prisma", "breakwater")))[0]!;
    const source = await readFile(path.join(dir, "prisma", "breakwater", planDir, "plan.ts"), "utf8");
    assert.match(source, /backfill\(\{ table: "User", set: \{ "plan": "'free'" \}, where: `"plan" IS NULL` \}\)/);
    await rm(path.join(dir, "prisma", "migrations"), { recursive: true });
    await rm(path.join(dir, "prisma", "breakwater"), { recursive: true });
  });

  it("a type change Prisma makes by dropping the column is refused with advice (exit 19); an invalid schema gets Prisma's own message (exit 2)", async () => {
    await setNew(base.replace("  name  String?\n", "  name  Int?\n"));
    const typed = await plan(["--from", "old.prisma"]);
    assert.equal(typed.code, 19, typed.stderr);
    assert.match(typed.stderr, /User\.name: Prisma makes this type change by dropping the column and adding it again, which loses every value/);
    await setNew(base.replace("model User {", "model User {\n  broken"));
    const invalid = await plan(["--from", "old.prisma"]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /Prisma rejects prisma\/schema\.prisma/);
    assert.ok(!invalid.stderr.includes("\u001b["), "no terminal colour codes");
    const noRef = await plan(["--from", "no-such-ref"]);
    assert.equal(noRef.code, 2);
    assert.match(noRef.stderr, /neither a file nor a git revision/);
    assert.equal(existsSync(path.join(dir, "prisma", "migrations")), false);
  });
});
