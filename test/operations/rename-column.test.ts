// renameColumn: in maintenance mode a catalog rename at the contract; online, a second column kept
// in step by a trigger while two application versions write, one by the old name and one by the
// new, the old column set aside at the contract until cleanup. Both end in the schema Prisma's own
// migration of the renamed field builds, and both roll back, before the contract and after
// completion, to the original schema and rows.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { renameColumn, renameTable, sql, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { createTestDatabase, runCli, tempProject, transformingRun, waitFor, type TestDatabase } from "../harness.ts";
import { applyPrismaSchema, checksum, cleanupNow, datasource, failedRun, failingCheck, prismaReference, resume, rollback, run, shape, writer } from "../fixtures/renames.ts";

const oldSchema = `${datasource}
model User {
  id       Int     @id @default(autoincrement())
  email    String  @unique
  nickname String? @default("anon") @db.VarChar(40)
  name     String
  posts    Post[]

  @@index([nickname, name])
}

model Post {
  id       Int    @id @default(autoincrement())
  authorId Int
  title    String
  author   User   @relation(fields: [authorId], references: [id])

  @@index([authorId])
}
`;
const newSchema = oldSchema
  .replace("email    String  @unique", `email    String  @unique @map("mail")`)
  .replace(`nickname String? @default("anon") @db.VarChar(40)`, `nickname String? @default("anon") @db.VarChar(40) @map("nick")`)
  .replace("authorId Int\n", `authorId Int    @map("author_id")\n`);

const steps = [
  renameColumn({ table: "User", from: "email", to: "mail" }),
  renameColumn({ table: "User", from: "nickname", to: "nick" }),
  renameColumn({ table: "Post", from: "authorId", to: "author_id" }),
];

const users = 3000;

async function seed(t: TestDatabase): Promise<void> {
  await applyPrismaSchema(t.db, oldSchema);
  await t.db.query(`
    INSERT INTO "User" (email, nickname, name)
      SELECT 'u' || i || '@example.com', CASE WHEN i % 5 = 0 THEN NULL ELSE 'n' || i END, 'N' || i FROM generate_series(1, ${users}) i;
    INSERT INTO "Post" ("authorId", title) SELECT 1 + i % ${users}, 'post ' || i FROM generate_series(1, ${users * 2}) i;
    ANALYZE "User"; ANALYZE "Post";`);
}

/** The rows as the application reads them, by the old names or by the new ones. */
async function rows(t: TestDatabase, names: "old" | "new"): Promise<string> {
  const [email, nickname, authorId] = names === "old" ? ["email", "nickname", `"authorId"`] : ["mail", "nick", "author_id"];
  return `${await checksum(t.db, `SELECT id, ${email}, ${nickname}, name FROM "User"`)} ${await checksum(t.db, `SELECT id, ${authorId}, title FROM "Post"`)}`;
}

for (const online of [false, true]) {
  const mode = online ? "online" : "maintenance";
  const plan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({ id, steps, ...(online ? { online: true } : {}), batch: { size: 700 }, ...extra });

  describe(`renameColumn (${mode})`, () => {
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
      originalRows = await rows(t, "old");
    });
    after(async () => t.drop());

    it("rolls back before the contract: the original schema and every row as it was", async () => {
      const failure = await failedRun(t, plan(`${mode}_rename_fails`, { checks: [failingCheck] }), dir);
      assert.equal(failure.code, "BW_CHECK_FAILED");
      assert.equal(failure.outcome.state, "rolled_back");
      assert.equal(await shape(t.db), originalShape);
      assert.equal(await rows(t, "old"), originalRows);
    });

    it("completes, and rolls back after completion to the original schema and rows", async () => {
      const outcome = await run(t, plan(`${mode}_rename_undone`), dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await rows(t, "new"), originalRows, "every row reads the same by the new names");
      if (online) {
        // Rows the new application writes after completion are kept by a rollback: the old column is filled too.
        await t.db.query(`INSERT INTO "User" (id, mail, name) VALUES (100001, 'late@example.com', 'Late')`);
        await t.db.query(`UPDATE "User" SET mail = 'changed@example.com', nick = 'changed' WHERE id = 7`);
        await t.db.query(`INSERT INTO "Post" (id, author_id, title) VALUES (100001, 100001, 'late post')`);
      }
      const undone = await rollback(t, outcome.runId, dir);
      assert.equal(undone.state, "rolled_back");
      assert.equal(await shape(t.db), originalShape, "the original schema, column order aside");
      if (online) {
        const late = await t.db.query(
          `SELECT u.id, u.email, u.nickname, p."authorId" FROM "User" u LEFT JOIN "Post" p ON p."authorId" = u.id WHERE u.id IN (7, 100001) ORDER BY u.id, p.id`,
        );
        assert.deepEqual(late.rows.slice(-1), [{ id: 100001, email: "late@example.com", nickname: "anon", authorId: 100001 }]);
        assert.ok(late.rows.some((r) => r.email === "changed@example.com" && r.nickname === "changed"));
        await t.db.query(`DELETE FROM "Post" WHERE id = 100001; DELETE FROM "User" WHERE id = 100001; UPDATE "User" SET email = 'u7@example.com', nickname = 'n7' WHERE id = 7`);
      }
      assert.equal(await rows(t, "old"), originalRows);
    });

    it("ends in the schema Prisma's own migration of the renamed fields builds, every row kept", async () => {
      const outcome = await run(t, plan(`${mode}_rename`), dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await rows(t, "new"), originalRows);
      if (online) {
        assert.notEqual(await shape(t.db), reference, "the old columns stay until cleanup");
        const output = await cleanupNow(t);
        assert.ok(output.includes("drop User.email__bw_old (the old email) and its trigger"), output.join("; "));
      }
      assert.equal(await shape(t.db), reference, "the schema Prisma's own migration builds, column order aside");
      // The defaults moved: an INSERT by the new names only.
      await t.db.query(`INSERT INTO "User" (mail, name) VALUES ('fresh@example.com', 'Fresh')`);
      const fresh = await t.db.one<{ nick: string }>(`SELECT nick FROM "User" WHERE mail = 'fresh@example.com'`);
      assert.equal(fresh.nick, "anon");
      await assert.rejects(
        t.db.query(`INSERT INTO "User" (mail, name) VALUES ('fresh@example.com', 'Twice')`),
        /User_mail_key/,
        "the unique index is on the new column, by Prisma's name",
      );
    });
  });
}

describe("renameColumn online: two application versions at once", () => {
  const rowCount = 20_000;
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await applyPrismaSchema(t.db, oldSchema);
    await t.db.query(`INSERT INTO "User" (email, nickname, name) SELECT 'u' || i || '@example.com', 'n' || i, 'N' || i FROM generate_series(1, ${rowCount}) i; ANALYZE "User";`);
  });
  after(async () => t.drop());

  it("during a renameColumn window, a process writing the old column and one writing the new column both succeed, and both see each other's writes", async () => {
    const dir = await tempProject();
    const oldApp = await t.connect();
    const newApp = await t.connect();
    /** id → the email each version last wrote, by its own column name */
    const byOld = new Map<number, string>();
    const byNew = new Map<number, string>();
    const version = (db: typeof oldApp, column: "email" | "mail", written: Map<number, string>, seedRows: number) =>
      writer(async (n) => {
        const value = `${column}-${n}@example.com`;
        const inserted = await db.one<{ id: number }>(`INSERT INTO "User" (${column}, name) VALUES ($1, 'by ${column}') RETURNING id`, [value]);
        written.set(inserted.id, value);
        // Its own rows and rows of the seed, some of them before the batches reach them.
        const mine = [...written.keys()][Math.floor(n / 2)]!;
        const changed = `${column}-${n}-changed@example.com`;
        await db.query(`UPDATE "User" SET ${column} = $1 WHERE id = $2`, [changed, mine]);
        written.set(mine, changed);
        const seeded = 1 + ((n * 7919 + seedRows) % rowCount);
        if (seeded % 2 === seedRows) {
          await db.query(`UPDATE "User" SET ${column} = $1 WHERE id = $2`, [`seed-${column}-${n}@example.com`, seeded]);
          written.set(seeded, `seed-${column}-${n}@example.com`);
        }
      });
    const running = run(t, { id: "two_versions", online: true, batch: { size: 100, pauseMs: 20 }, steps: [renameColumn({ table: "User", from: "email", to: "mail" })] }, dir);
    const runId = await waitFor(() => transformingRun(t));
    const old = version(oldApp, "email", byOld, 0);
    const current = version(newApp, "mail", byNew, 1);
    await sleep(1500); // the batches go on meanwhile
    const pause = await runCli(["pause", runId], { cwd: dir, databaseUrl: t.url });
    assert.equal(pause.code, 0, pause.stderr);
    await sleep(500);
    const [oldResult, newResult] = await Promise.all([old.stop(), current.stop()]);
    assert.deepEqual(oldResult.errors, [], "every write by the old column succeeded");
    assert.deepEqual(newResult.errors, [], "every write by the new column succeeded");
    assert.ok(oldResult.writes > 20 && newResult.writes > 20, `both wrote throughout (${oldResult.writes} and ${newResult.writes})`);
    const filled = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE mail IS NULL`);
    assert.ok(filled.n > 0, "the window was open: the batches had not reached every row yet");

    // Each version reads the other's writes by its own name.
    const read = async (db: typeof oldApp, column: string, ids: number[]) =>
      new Map((await db.query<{ id: number; v: string }>(`SELECT id, ${column} AS v FROM "User" WHERE id = ANY($1)`, [ids])).rows.map((r) => [r.id, r.v]));
    assert.deepEqual(await read(oldApp, "email", [...byNew.keys()]), byNew, "the old version reads the new version's rows by email");
    assert.deepEqual(await read(newApp, "mail", [...byOld.keys()]), byOld, "the new version reads the old version's rows by mail");

    const go = await runCli(["continue", runId], { cwd: dir, databaseUrl: t.url });
    assert.equal(go.code, 0, go.stderr);
    const outcome = await running;
    assert.equal(outcome.state, "completed");
    assert.deepEqual(await read(newApp, "mail", [...byOld.keys()]), byOld, "after the contract too");
    assert.deepEqual(await read(newApp, "mail", [...byNew.keys()]), byNew);
    const apart = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE mail IS DISTINCT FROM email__bw_old OR mail IS NULL`);
    assert.equal(apart.n, 0, "every row has its value under the new name, and the old column set aside is in step");
  });

  it("refuses the contract while the old version still writes the old column, then completes on resume", async () => {
    const dir = await tempProject();
    await t.db.query(`DROP TABLE "Post"; DROP TABLE "User"`);
    await applyPrismaSchema(t.db, oldSchema);
    await t.db.query(`INSERT INTO "User" (email, name) SELECT 'u' || i || '@example.com', 'N' || i FROM generate_series(1, 2000) i`);
    const oldApp = await t.connect();
    const old = writer(async (n) => void (await oldApp.query(`UPDATE "User" SET email = $1 WHERE id = $2`, [`w${n}@example.com`, 1 + (n % 2000)])));
    const failure = await failedRun(t, { id: "old_still_writes", online: true, steps: [renameColumn({ table: "User", from: "email", to: "mail" })] }, dir);
    const { errors } = await old.stop();
    assert.deepEqual(errors, []);
    assert.equal(failure.code, "BW_OLD_FORM_WRITTEN");
    assert.match(failure.message, /still writes User\.email/);
    const columns = await t.db.query(`SELECT attname FROM pg_attribute WHERE attrelid = '"User"'::regclass AND attname IN ('email', 'mail') ORDER BY 1`);
    assert.equal(columns.rows.length, 2, "the contract did not start: both columns are there");
    const outcome = await resume(t, failure.outcome.runId, dir);
    assert.equal(outcome.state, "completed");
    const apart = await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE mail IS DISTINCT FROM email__bw_old`);
    assert.equal(apart.n, 0);
  });
});

describe("renameColumn preflight", () => {
  let t: TestDatabase;
  let dir: string;
  before(async () => {
    t = await createTestDatabase();
    dir = await tempProject();
    await applyPrismaSchema(t.db, oldSchema);
    await t.db.query(`INSERT INTO "User" (email, name) VALUES ('a@example.com', 'A'); CREATE VIEW "UserNames" AS SELECT id, name FROM "User"`);
  });
  after(async () => t.drop());

  const refused = async (input: Parameters<typeof renameColumn>[0], pattern: RegExp, online = false) => {
    const plan = { id: `refused_${Math.random().toString(36).slice(2, 8)}`, ...(online ? { online: true } : {}), steps: [renameColumn(input)] };
    await assert.rejects(run(t, plan, dir), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, "BW_PREFLIGHT_FAILED");
      assert.match(error.message, pattern);
      if (online) assert.match(error.hint ?? "", /Run this step with maintenance \(online: false\)/);
      return true;
    });
  };

  it("refuses an unknown table or column, and a name already taken", async () => {
    await refused({ table: "Users", from: "email", to: "mail" }, /Table Users does not exist/);
    await refused({ table: "User", from: "mail", to: "email2" }, /Table User has no column mail \(columns: id, email, nickname, name\)/);
    await refused({ table: "User", from: "email", to: "name" }, /Table User already has a column name/);
  });

  it("online, refuses a column a view uses; maintenance carries the view over", async () => {
    await refused({ table: "User", from: "name", to: "full_name" }, /User\.name is used by view "UserNames"; online, renameColumn cannot carry that over/, true);
    const outcome = await run(t, { id: "view_follows", steps: [renameColumn({ table: "User", from: "name", to: "full_name" })] }, dir);
    assert.equal(outcome.state, "completed");
    const view = await t.db.one<{ def: string }>(`SELECT pg_get_viewdef('"UserNames"'::regclass) AS def`);
    assert.match(view.def, /full_name AS name/);
  });

  it("online, refuses a column of the primary key", async () => {
    await refused({ table: "User", from: "id", to: "user_id" }, /User\.id is part of User_pkey \(the primary key\)/, true);
  });
});

describe("renameColumn online on a partitioned table", () => {
  it("copies through the partitions and rolls back after completion", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await t.db.query(`
        CREATE TABLE events (id bigint NOT NULL, day int NOT NULL, payload text NOT NULL DEFAULT 'x', PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
        CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (50);
        CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (50) TO (100);
        INSERT INTO events (id, day, payload) SELECT i, i % 100, 'p' || i FROM generate_series(1, 5000) i;`);
      const before = await checksum(t.db, `SELECT id, day, payload FROM events`);
      const originalShape = await shape(t.db);
      const outcome = await run(t, { id: "partitioned", online: true, steps: [renameColumn({ table: "events", from: "payload", to: "body" })] }, dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await checksum(t.db, `SELECT id, day, body FROM events`), before);
      await t.db.query(`INSERT INTO events (id, day) VALUES (9999, 75)`);
      const inserted = await t.db.one<{ body: string; old: string }>(`SELECT body, payload__bw_old AS old FROM events WHERE id = 9999`);
      assert.deepEqual(inserted, { body: "x", old: "x" }, "the default moved to the new column; the old one is kept filled");
      await t.db.query(`DELETE FROM events WHERE id = 9999`);
      await rollback(t, outcome.runId, dir);
      assert.equal(await shape(t.db), originalShape);
      assert.equal(await checksum(t.db, `SELECT id, day, payload FROM events`), before);
    } finally {
      await t.drop();
    }
  });
});

describe("renameColumn: names that follow, worked out when the contract runs", () => {
  it("an index an earlier step creates follows the column, and the table's rename after it", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await seed(t);
      const outcome = await run(
        t,
        {
          id: "follows",
          steps: [
            sql(`CREATE INDEX "User_email_name_idx" ON "User" (email, name)`, { down: `DROP INDEX "User_email_name_idx"` }),
            renameColumn({ table: "User", from: "email", to: "mail" }),
            renameTable({ from: "User", to: "Member" }),
          ],
        },
        dir,
      );
      assert.equal(outcome.state, "completed");
      const names = await t.db.query<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'Member' ORDER BY 1`);
      assert.deepEqual(
        names.rows.map((r) => r.name),
        ["Member_mail_key", "Member_mail_name_idx", "Member_nickname_name_idx", "Member_pkey"],
      );
      await rollback(t, outcome.runId, dir);
      const back = await t.db.query<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'User' ORDER BY 1`);
      assert.deepEqual(
        back.rows.map((r) => r.name),
        ["User_email_key", "User_nickname_name_idx", "User_pkey"],
      );
    } finally {
      await t.drop();
    }
  });
});

describe("renameColumn with quotes, spaces and capitals in names", () => {
  it("renames online and back", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
      const schema = `Sales "EU".v2`;
      const table = `Team Member's "List"`;
      const from = `Role Col`;
      const to = `Rôle "Col" $bw$`;
      await t.db.query(`CREATE SCHEMA ${q(schema)}`);
      await t.db.query(`CREATE TABLE ${q(schema)}.${q(table)} ("Id Key" int PRIMARY KEY, ${q(from)} text NOT NULL DEFAULT 'it''s me')`);
      await t.db.query(`CREATE UNIQUE INDEX ${q(`${table}_${from}_key`)} ON ${q(schema)}.${q(table)} (${q(from)})`);
      await t.db.query(`INSERT INTO ${q(schema)}.${q(table)} SELECT i, 'v' || i FROM generate_series(1, 2000) i`);
      const before = await checksum(t.db, `SELECT "Id Key" AS id, ${q(from)} FROM ${q(schema)}.${q(table)}`);
      const originalShape = await t.db.one<{ s: string }>(`SELECT string_agg(indexdef, ';' ORDER BY indexname) AS s FROM pg_indexes WHERE schemaname = $1`, [schema]);
      const outcome = await run(t, { id: "odd_names", online: true, steps: [renameColumn({ table: { schema, name: table }, from, to })] }, dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await checksum(t.db, `SELECT "Id Key" AS id, ${q(to)} FROM ${q(schema)}.${q(table)}`), before);
      const index = await t.db.one<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE '%UNIQUE%' AND indexname <> $2`, [
        schema,
        `${table}_pkey`,
      ]);
      assert.equal(index.name, `${table}_${to}_key`, "Prisma's name for the new column");
      await t.db.query(`INSERT INTO ${q(schema)}.${q(table)} ("Id Key") VALUES (5000)`);
      await t.db.query(`DELETE FROM ${q(schema)}.${q(table)} WHERE "Id Key" = 5000`);
      await rollback(t, outcome.runId, dir);
      assert.equal(await checksum(t.db, `SELECT "Id Key" AS id, ${q(from)} FROM ${q(schema)}.${q(table)}`), before);
      assert.deepEqual(await t.db.one(`SELECT string_agg(indexdef, ';' ORDER BY indexname) AS s FROM pg_indexes WHERE schemaname = $1`, [schema]), originalShape);
    } finally {
      await t.drop();
    }
  });
});
