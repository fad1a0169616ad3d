// renameTable: in maintenance mode a catalog rename at the contract; online, the table renamed at
// the expand with its old name kept as an updatable view until cleanup, so the application
// version using the old name and the one using the new name work at once. Both end in the schema
// Prisma's own migration of the new `@@map` builds, and both roll back, before the contract and
// after completion, to the original schema and rows.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { renameColumn, renameTable, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { createTestDatabase, tempProject, waitFor, type TestDatabase } from "../harness.ts";
import { applyPrismaSchema, checksum, cleanupNow, datasource, failedRun, failingCheck, prismaReference, rollback, run, shape, writer } from "../fixtures/renames.ts";

const oldSchema = `${datasource}
model User {
  id    Int     @id @default(autoincrement())
  email String  @unique
  name  String  @default("anon")
  role  String?
  posts Post[]

  @@index([name, role])
}

model Post {
  id       Int    @id @default(autoincrement())
  authorId Int
  title    String
  author   User   @relation(fields: [authorId], references: [id])
}
`;
const newSchema = oldSchema.replace("  @@index([name, role])\n", `  @@index([name, role])\n  @@map("Member")\n`);

const users = 3000;

async function seed(t: TestDatabase): Promise<void> {
  await applyPrismaSchema(t.db, oldSchema);
  await t.db.query(`
    INSERT INTO "User" (email, name, role) SELECT 'u' || i || '@example.com', 'N' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'r' || i % 7 END FROM generate_series(1, ${users}) i;
    INSERT INTO "Post" ("authorId", title) SELECT 1 + i % ${users}, 'post ' || i FROM generate_series(1, ${users * 2}) i;`);
}

const rows = async (t: TestDatabase, table: string) =>
  `${await checksum(t.db, `SELECT id, email, name, role FROM "${table}"`)} ${await checksum(t.db, `SELECT id, "authorId", title FROM "Post"`)}`;

for (const online of [false, true]) {
  const mode = online ? "online" : "maintenance";
  const plan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({
    id,
    steps: [renameTable({ from: "User", to: "Member" })],
    ...(online ? { online: true } : {}),
    ...extra,
  });

  describe(`renameTable (${mode})`, () => {
    let t: TestDatabase;
    let dir: string;
    let reference: string;
    let originalShape: string;
    let originalRows: string;
    before(async () => {
      t = await createTestDatabase();
      dir = await tempProject();
      await seed(t);
      reference = await prismaReference(newSchema);
      originalShape = await shape(t.db);
      originalRows = await rows(t, "User");
    });
    after(async () => t.drop());

    it("rolls back before the contract: the original schema and every row as it was", async () => {
      const failure = await failedRun(t, plan(`${mode}_rename_fails`, { checks: [failingCheck] }), dir);
      assert.equal(failure.code, "BW_CHECK_FAILED");
      assert.equal(failure.outcome.state, "rolled_back");
      assert.equal(await shape(t.db), originalShape);
      assert.equal(await rows(t, "User"), originalRows);
    });

    it("completes, and rolls back after completion to the original schema and rows", async () => {
      const outcome = await run(t, plan(`${mode}_rename_undone`), dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await rows(t, "Member"), originalRows);
      await t.db.query(`INSERT INTO "Member" (id, email) VALUES (100001, 'late@example.com')`);
      const undone = await rollback(t, outcome.runId, dir);
      assert.equal(undone.state, "rolled_back");
      assert.equal(await shape(t.db), originalShape);
      assert.deepEqual((await t.db.query(`SELECT email, name FROM "User" WHERE id = 100001`)).rows, [{ email: "late@example.com", name: "anon" }], "rows written meanwhile stay");
      await t.db.query(`DELETE FROM "User" WHERE id = 100001`);
      assert.equal(await rows(t, "User"), originalRows);
    });

    it("ends in the schema Prisma's own migration of the new @@map builds, every row kept", async () => {
      const outcome = await run(t, plan(`${mode}_rename`), dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await rows(t, "Member"), originalRows);
      if (online) {
        assert.equal(await rows(t, "User"), originalRows, "the old name reads the same rows until cleanup");
        const output = await cleanupNow(t);
        assert.deepEqual(output, ["drop the view User (the old name of Member)"]);
      }
      assert.equal(await shape(t.db), reference, "the schema Prisma's own migration builds: Member_pkey, Member_email_key, Member_name_role_idx, Member_id_seq");
      const inserted = await t.db.one<{ id: number; name: string }>(`INSERT INTO "Member" (email) VALUES ('fresh@example.com') RETURNING id, name`);
      assert.deepEqual(inserted, { id: users + 1, name: "anon" }, "the sequence and the defaults follow the table");
    });
  });
}

describe("renameColumn and renameTable in one plan", () => {
  const renamedSchema = newSchema.replace("email String  @unique", `email String  @unique @map("mail")`);
  for (const online of [false, true]) {
    it(`renames the column, then the table (${online ? "online" : "maintenance"}), and rolls both back after completion`, async () => {
      const t = await createTestDatabase();
      try {
        const dir = await tempProject();
        await seed(t);
        const originalShape = await shape(t.db);
        const originalRows = await rows(t, "User");
        const plan = (id: string): MigrationInput => ({
          id,
          ...(online ? { online: true } : {}),
          steps: [renameColumn({ table: "User", from: "email", to: "mail" }), renameTable({ from: "User", to: "Member" })],
        });
        const undone = await run(t, plan("both_undone"), dir);
        assert.equal(undone.state, "completed");
        await rollback(t, undone.runId, dir);
        assert.equal(await shape(t.db), originalShape);
        assert.equal(await rows(t, "User"), originalRows);

        const outcome = await run(t, plan("both"), dir);
        assert.equal(outcome.state, "completed");
        assert.equal(await checksum(t.db, `SELECT id, mail, name, role FROM "Member"`), originalRows.split(" ")[0]);
        if (online) await cleanupNow(t);
        assert.equal(await shape(t.db), await prismaReference(renamedSchema), "the schema Prisma's own migration of both changes builds");
      } finally {
        await t.drop();
      }
    });
  }
});

describe("renameTable online: both names at once", () => {
  it("the version using the old name and the version using the new one both read and write throughout, and see each other's rows", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await seed(t);
      const oldApp = await t.connect();
      const newApp = await t.connect();
      const byOld = new Map<number, string>();
      const byNew = new Map<number, string>();
      // As Prisma does: INSERT … RETURNING, upserts, updates, deletes, reads; the old version's
      // INSERT and read prepared before the rename (PREPARE), executed across it.
      await oldApp.query(`PREPARE insert_user(text) AS INSERT INTO "User" (email) VALUES ($1) RETURNING id, name`);
      await oldApp.query(`PREPARE count_anon AS SELECT count(*) FROM "User" WHERE name = 'anon'`);
      const step = (db: typeof oldApp, table: string, written: Map<number, string>) =>
        writer(async (n) => {
          const email = `${table}-${n}@example.com`;
          const inserted = await db.one<{ id: number; name: string }>(
            table === "User" ? `EXECUTE insert_user('${email}')` : `INSERT INTO "${table}" (email) VALUES ($1) RETURNING id, name`,
            table === "User" ? [] : [email],
          );
          assert.equal(inserted.name, "anon", "the table's default applies through either name");
          written.set(inserted.id, email);
          const upserted = `${table}-${n}-upserted@example.com`;
          await db.query(`INSERT INTO "${table}" (id, email) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email`, [inserted.id, upserted]);
          written.set(inserted.id, upserted);
          await db.query(`UPDATE "${table}" SET role = $1 WHERE id = $2`, [`r${n}`, 1 + ((n * 7919) % users)]);
          if (n % 5 === 4) {
            const gone = [...written.keys()][0]!;
            await db.query(`DELETE FROM "${table}" WHERE id = $1`, [gone]);
            written.delete(gone);
          }
          await db.query(table === "User" ? "EXECUTE count_anon" : `SELECT count(*) FROM "${table}" WHERE name = 'anon'`);
        });
      const old = step(oldApp, "User", byOld);
      await sleep(300);
      const running = run(t, { id: "both_names", online: true, steps: [renameTable({ from: "User", to: "Member" })] }, dir);
      await waitFor(async () => (await t.db.one<{ ok: boolean }>(`SELECT to_regclass('"Member"') IS NOT NULL AS ok`)).ok);
      const current = step(newApp, "Member", byNew);
      const outcome = await running;
      assert.equal(outcome.state, "completed");
      await sleep(800);
      const [oldResult, newResult] = await Promise.all([old.stop(), current.stop()]);
      assert.deepEqual(oldResult.errors, [], "every statement by the old name succeeded, across the rename");
      assert.deepEqual(newResult.errors, [], "every statement by the new name succeeded");
      assert.ok(oldResult.writes > 20 && newResult.writes > 20, `both worked throughout (${oldResult.writes} and ${newResult.writes})`);
      const read = async (db: typeof oldApp, table: string, ids: number[]) =>
        new Map((await db.query<{ id: number; email: string }>(`SELECT id, email FROM "${table}" WHERE id = ANY($1)`, [ids])).rows.map((r) => [r.id, r.email]));
      assert.deepEqual(await read(oldApp, "User", [...byNew.keys()]), byNew, "the old name reads the new version's rows");
      assert.deepEqual(await read(newApp, "Member", [...byOld.keys()]), byOld, "the new name reads the old version's rows");
      await cleanupNow(t);
      await assert.rejects(oldApp.query(`SELECT 1 FROM "User"`), /relation "User" does not exist/, "cleanup removes the old name");
    } finally {
      await t.drop();
    }
  });
});

describe("renameTable preflight", () => {
  let t: TestDatabase;
  let dir: string;
  before(async () => {
    t = await createTestDatabase();
    dir = await tempProject();
    await seed(t);
    await t.db.query(`CREATE VIEW "Authors" AS SELECT id, email FROM "User"`);
  });
  after(async () => t.drop());

  const refused = async (from: string, to: string, pattern: RegExp) =>
    await assert.rejects(run(t, { id: `refused_${to}`, steps: [renameTable({ from, to })] }, dir), (error: Error & { code?: string }) => {
      assert.equal(error.code, "BW_PREFLIGHT_FAILED");
      assert.match(error.message, pattern);
      return true;
    });

  it("refuses an unknown table, a view, and a name already taken", async () => {
    await refused("Users", "Member", /Table Users does not exist/);
    await refused("Authors", "Writers", /Authors is not a table \(relkind v\)/);
    await refused("User", "Post", /The name Post is taken/);
    await refused("User", "Post_pkey", /The name Post_pkey is taken/);
  });

  it("views over the table follow it", async () => {
    const outcome = await run(t, { id: "views_follow", online: true, steps: [renameTable({ from: "User", to: "Member" })] }, dir);
    assert.equal(outcome.state, "completed");
    assert.match((await t.db.one<{ def: string }>(`SELECT pg_get_viewdef('"Authors"'::regclass) AS def`)).def, /FROM "Member"/);
  });
});
