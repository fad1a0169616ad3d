// changeColumnType, in maintenance mode and online: a binary-coercible change is catalog only;
// others fill a column of the new type beside the old one, swap it in by rename and set the old
// one aside until cleanup. Both end in the schema Prisma's own migration builds, with every
// value converted and no table rewrite, and roll back before the contract and after completion to
// the original schema and rows. Values that do not convert, or that the default cast would
// change, are refused with their count and a row.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { changeColumnType, type MigrationInput } from "../../packages/breakwater/src/index.ts";
import { createTestDatabase, tempProject, type TestDatabase } from "../harness.ts";
import { filenode, prismaMigratedShape, strictShape } from "../fixtures/column-changes.ts";
import { applyPrismaSchema, checksum, cleanupNow, datasource, failedRun, failingCheck, rollback, run, writer } from "../fixtures/renames.ts";

const oldSchema = `${datasource}
model Item {
  id       Int     @id @default(autoincrement())
  sku      String  @unique @db.VarChar(40)
  quantity Int     @default(0)
  price    Decimal @db.Decimal(12, 4)
  code     String? @unique
  note     String?

  @@index([quantity])
}
`;
const newSchema = oldSchema
  .replace("@db.VarChar(40)", "@db.VarChar(80)")
  .replace("quantity Int  ", "quantity BigInt")
  .replace("@db.Decimal(12, 4)", "@db.Decimal(12, 2)")
  .replace("code     String? @unique", "code     Int?    @unique");

const steps = [
  changeColumnType({ table: "Item", column: "sku", type: "varchar(80)" }),
  changeColumnType({ table: "Item", column: "quantity", type: "bigint" }),
  changeColumnType({ table: "Item", column: "price", type: "numeric(12,2)" }),
  changeColumnType({ table: "Item", column: "code", type: "integer" }),
];

async function seed(t: TestDatabase, rows: number): Promise<void> {
  await applyPrismaSchema(t.db, oldSchema);
  await t.db.query(`
    INSERT INTO "Item" (sku, quantity, price, code, note)
      SELECT 'sku-' || i, i % 1000, (i % 500) + 0.25, CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 3)::text END, CASE WHEN i % 3 = 0 THEN 'n' || i END
        FROM generate_series(1, ${rows}) i;
    ANALYZE "Item";`);
}

/** Every row exactly as stored. */
const raw = (t: TestDatabase) => checksum(t.db, `SELECT id, sku, quantity, price, code, note FROM "Item"`);
/** Every row's values, the same whichever types hold them. */
const values = (t: TestDatabase) => checksum(t.db, `SELECT id, sku::text, quantity::bigint, price::numeric(20, 4), code::int, note FROM "Item"`);

for (const online of [false, true]) {
  const mode = online ? "online" : "maintenance";
  const plan = (id: string, extra: Partial<MigrationInput> = {}): MigrationInput => ({ id, steps, ...(online ? { online: true } : {}), batch: { size: 700 }, ...extra });

  describe(`changeColumnType (${mode})`, () => {
    let t: TestDatabase;
    let dir: string;
    let reference: string;
    let originalShape: string;
    let originalRows: string;
    let originalValues: string;
    let originalFile: string;
    before(async () => {
      t = await createTestDatabase();
      dir = await tempProject();
      await seed(t, 5000);
      reference = await prismaMigratedShape(oldSchema, newSchema);
      originalShape = await strictShape(t.db);
      originalRows = await raw(t);
      originalValues = await values(t);
      originalFile = await filenode(t.db, `"Item"`);
    });
    after(async () => t.drop());

    it("rolls back before the contract: the original schema and every row as it was", async () => {
      const failure = await failedRun(t, plan(`${mode}_type_fails`, { checks: [failingCheck] }), dir);
      assert.equal(failure.code, "BW_CHECK_FAILED");
      assert.equal(failure.outcome.state, "rolled_back");
      assert.equal(await strictShape(t.db), originalShape);
      assert.equal(await raw(t), originalRows);
    });

    it("completes without rewriting the table, and rolls back after completion to the original schema and rows", async () => {
      const outcome = await run(t, plan(`${mode}_type_undone`), dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await values(t), originalValues, "every value converted");
      assert.equal(await filenode(t.db, `"Item"`), originalFile, "no statement rewrote the table");
      // Rows the application writes after completion are kept by a rollback: the old columns are filled too.
      await t.db.query(`INSERT INTO "Item" (id, sku, quantity, price, code) VALUES (100001, 'late', 5, 9.99, 77)`);
      await t.db.query(`UPDATE "Item" SET quantity = 4242, code = 4343 WHERE id = 8`);
      const undone = await rollback(t, outcome.runId, dir);
      assert.equal(undone.state, "rolled_back");
      assert.equal(await strictShape(t.db), originalShape, "the original schema, column order aside");
      const late = await t.db.query(`SELECT id, quantity, price::text, code FROM "Item" WHERE id IN (8, 100001) ORDER BY id`);
      assert.deepEqual(late.rows, [
        { id: 8, quantity: 4242, price: "8.2500", code: "4343" },
        { id: 100001, quantity: 5, price: "9.9900", code: "77" },
      ]);
      await t.db.query(`DELETE FROM "Item" WHERE id = 100001; UPDATE "Item" SET quantity = 8, code = '24' WHERE id = 8`);
      assert.equal(await raw(t), originalRows);
    });

    it("refuses a rollback after completion while rows hold values the old type cannot hold, then rolls back once they are gone", async () => {
      const outcome = await run(t, plan(`${mode}_type_wide`), dir);
      assert.equal(outcome.state, "completed");
      await t.db.query(`INSERT INTO "Item" (id, sku, quantity, price) VALUES (100002, 'wide', 3000000000, 1)`);
      await assert.rejects(rollback(t, outcome.runId, dir), (error: Error & { code?: string }) => {
        assert.equal(error.code, "BW_ROLLBACK_CONFLICT");
        assert.match(error.message, /1 row\(s\) of Item hold a value of quantity that integer cannot hold \(e\.g\. the row id = 100002\)/);
        return true;
      });
      await t.db.query(`DELETE FROM "Item" WHERE id = 100002`);
      assert.equal((await rollback(t, outcome.runId, dir)).state, "rolled_back");
      assert.equal(await strictShape(t.db), originalShape);
      assert.equal(await raw(t), originalRows);
    });

    it("ends, after cleanup, in the schema Prisma's own migration builds, every value converted", async () => {
      // The rollbacks above changed varchar(80) back to varchar(40), which rewrote the table.
      const file = await filenode(t.db, `"Item"`);
      const outcome = await run(t, plan(`${mode}_type`), dir);
      assert.equal(outcome.state, "completed");
      assert.equal(await values(t), originalValues);
      assert.notEqual(await strictShape(t.db), reference, "the old columns stay until cleanup");
      const dropped = await cleanupNow(t);
      assert.deepEqual(dropped.sort(), [
        "drop Item.code__bw_old (the old code) and its trigger",
        "drop Item.price__bw_old (the old price) and its trigger",
        "drop Item.quantity__bw_old (the old quantity) and its trigger",
      ]);
      assert.equal(await strictShape(t.db), reference, "the schema Prisma's own migration builds, column order aside");
      assert.equal(await values(t), originalValues);
      assert.equal(await filenode(t.db, `"Item"`), file, "varchar(40) → varchar(80) was catalog only, the others filled new columns");
      // The default moved to the new column; the index on quantity has Prisma's name on it.
      await t.db.query(`INSERT INTO "Item" (sku, price) VALUES ('fresh', 1)`);
      assert.equal((await t.db.one<{ q: number }>(`SELECT quantity AS q FROM "Item" WHERE sku = 'fresh'`)).q, 0);
      await assert.rejects(t.db.query(`INSERT INTO "Item" (sku, price) VALUES ('fresh', 1)`), /Item_sku_key/);
      const explained = await t.db.query<{ "QUERY PLAN": string }>(`EXPLAIN SELECT id FROM "Item" WHERE quantity = 12`);
      assert.ok(
        explained.rows.some((r) => r["QUERY PLAN"].includes("Item_quantity_idx")),
        "the rebuilt index is used",
      );
    });
  });
}

describe("changeColumnType online: the application writes throughout", () => {
  it("keeps every insert and update of the application working, and carries them to the new types", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await seed(t, 20_000);
      const inserts = await t.connect();
      const updates = await t.connect();
      const readers = await t.connect();
      // Untyped literals, as an application's parameters: valid for the old types and the new ones.
      const insert = writer(
        async (n) => void (await inserts.query(`INSERT INTO "Item" (sku, quantity, price, code) VALUES ($1, $2, $3, $4)`, [`w-${n}`, n, `${n}.5`, `${1_000_000 + n}`])),
      );
      const update = writer(
        async (n) =>
          void (await updates.query(`UPDATE "Item" SET quantity = quantity + 1, price = price + 1, code = $1, note = $2 WHERE id = $3`, [
            `${2_000_000 + n}`,
            `u${n}`,
            1 + ((n * 7919) % 20_000),
          ])),
      );
      const read = writer(async (n) => void (await readers.query(`SELECT id, sku, quantity, price, code FROM "Item" WHERE id = $1`, [1 + ((n * 104729) % 20_000)])));
      const outcome = await run(t, { id: "online_writes", online: true, batch: { size: 300, pauseMs: 5 }, steps }, dir);
      const results = await Promise.all([insert.stop(), update.stop(), read.stop()]);
      assert.equal(outcome.state, "completed");
      for (const r of results) {
        assert.deepEqual(r.errors, [], "no write or read failed");
        assert.ok(r.writes > 20, `the client kept working during the run (${r.writes} statements)`);
      }
      const written = await t.db.one<{ n: number; wrong: number }>(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE quantity <> substr(sku, 3)::bigint OR code <> 1000000 + substr(sku, 3)::int)::int AS wrong FROM "Item" WHERE sku LIKE 'w-%'`,
      );
      assert.ok(written.n > 20);
      assert.equal(written.wrong, 0, "rows inserted during the run hold their values in the new types");
      const apart = await t.db.one<{ n: number }>(
        `SELECT count(*)::int AS n FROM "Item" WHERE quantity IS DISTINCT FROM quantity__bw_old OR price IS DISTINCT FROM price__bw_old OR code IS DISTINCT FROM code__bw_old::int`,
      );
      assert.equal(apart.n, 0, "every row's old column set aside is in step with the new one");
    } finally {
      await t.drop();
    }
  });
});

describe("changeColumnType refuses what it cannot do, before anything changes", () => {
  let t: TestDatabase;
  let dir: string;
  let originalShape: string;
  before(async () => {
    t = await createTestDatabase();
    dir = await tempProject();
    await seed(t, 500);
    originalShape = await strictShape(t.db);
  });
  after(async () => t.drop());

  const attempt = (id: string, input: Parameters<typeof changeColumnType>[0], online = false) =>
    failedRun(t, { id, ...(online ? { online: true } : {}), steps: [changeColumnType(input)] }, dir);
  const refused = async (input: Parameters<typeof changeColumnType>[0], code: string, pattern: RegExp) => {
    await assert.rejects(run(t, { id: `refused_${Math.random().toString(36).slice(2, 8)}`, steps: [changeColumnType(input)] }, dir), (error: Error & { code?: string }) => {
      assert.equal(error.code, code);
      assert.match(error.message, pattern);
      return true;
    });
    assert.equal(await strictShape(t.db), originalShape, "nothing changed");
  };

  it("rolls back when a value does not convert, and says how many and which row", async () => {
    await t.db.query(`UPDATE "Item" SET code = 'abc' WHERE id = 42; UPDATE "Item" SET code = '12x' WHERE id = 43`);
    for (const online of [false, true]) {
      const failure = await attempt(`not_a_number_${online}`, { table: "Item", column: "code", type: "integer" }, online);
      assert.equal(failure.outcome.state, "rolled_back");
      assert.match(failure.message, /2 row\(s\) of Item\.code cannot be converted to integer; e\.g\. the row id = 42 holds 'abc' \(invalid input syntax for type integer: "abc"\)/);
      assert.match(failure.message, /SQLSTATE 22P02/);
      assert.equal(await strictShape(t.db), originalShape);
    }
    const failure = await attempt("not_a_number_using", { table: "Item", column: "code", type: "integer", using: `nullif(trim("code"), '')::int` });
    assert.equal(failure.outcome.state, "rolled_back");
    assert.match(failure.message, /2 row\(s\) of Item\.code cannot be converted to integer by nullif\(trim\("code"\), ''\)::int; e\.g\. the row id = 42 holds 'abc'/);
    await t.db.query(`UPDATE "Item" SET code = '126' WHERE id = 42; UPDATE "Item" SET code = '129' WHERE id = 43`);
  });

  it("rolls back when the default cast would round a value, and converts it when `using` says how", async () => {
    await t.db.query(`UPDATE "Item" SET price = 1.2345 WHERE id = 17; UPDATE "Item" SET price = 0.005 WHERE id = 18`);
    const failure = await attempt("rounds", { table: "Item", column: "price", type: "numeric(12,2)" });
    assert.equal(failure.outcome.state, "rolled_back");
    assert.match(
      failure.message,
      /2 row\(s\) of Item\.price would change value when cast to numeric\(12,2\) \(rounded, truncated or reformatted\); e\.g\. the row id = 17 holds '1\.2345', which would become '1\.23'/,
    );
    assert.match(failure.message, /say so with `using` \(e\.g\. using: '"price"::numeric\(12,2\)'/);
    assert.equal(await strictShape(t.db), originalShape);
    const outcome = await run(
      t,
      { id: "rounds_on_purpose", steps: [changeColumnType({ table: "Item", column: "price", type: "numeric(12,2)", using: `round("price", 2)` })] },
      dir,
    );
    assert.equal(outcome.state, "completed");
    const rounded = await t.db.query<{ price: string }>(`SELECT price::text FROM "Item" WHERE id IN (17, 18) ORDER BY id`);
    assert.deepEqual(
      rounded.rows.map((r) => r.price),
      ["1.23", "0.01"],
    );
    await rollback(t, outcome.runId, dir);
    assert.equal(await strictShape(t.db), originalShape);
    assert.equal((await t.db.one<{ p: string }>(`SELECT price::text AS p FROM "Item" WHERE id = 17`)).p, "1.2345", "the rollback gives back the exact value");
    await t.db.query(`UPDATE "Item" SET price = 17.25 WHERE id = 17; UPDATE "Item" SET price = 18.25 WHERE id = 18`);
  });

  it("refuses an unknown column or type, and SQL smuggled into `type` or `using`", async () => {
    await refused({ table: "Item", column: "colour", type: "text" }, "BW_PREFLIGHT_FAILED", /Table Item has no column colour \(columns: id, sku, quantity, price, code, note\)/);
    await refused({ table: "Items", column: "code", type: "text" }, "BW_PREFLIGHT_FAILED", /Table Items does not exist/);
    await refused({ table: "Item", column: "code", type: "integr" }, "BW_PREFLIGHT_FAILED", /Item\.code cannot change to type integr: type "integr" does not exist/);
    await refused({ table: "Item", column: "code", type: `int; DROP TABLE "Item"` }, "BW_PLAN_INVALID", /`type` must be one SQL type name/);
    await refused({ table: "Item", column: "code", type: "int -- comment" }, "BW_PLAN_INVALID", /`type` must be one SQL type name/);
    await refused({ table: "Item", column: "code", type: "integer", using: `"code"::int); DROP TABLE "Item"; --` }, "BW_PLAN_INVALID", /`using` must be one SQL expression/);
    await refused({ table: "Item", column: "code", type: "integer", using: `"colour"::int` }, "BW_PREFLIGHT_FAILED", /column "colour" does not exist/);
    assert.ok((await t.db.one<{ ok: boolean }>(`SELECT to_regclass('"Item"') IS NOT NULL AS ok`)).ok, "the table is still there");
  });

  it("refuses the primary key, a column referenced by a foreign key, used by a view, or generated, and says why", async () => {
    await t.db.query(`
      CREATE TABLE "Tag" (code text PRIMARY KEY, label text UNIQUE);
      CREATE TABLE "Tagging" (id serial PRIMARY KEY, label text REFERENCES "Tag" (label));
      CREATE VIEW "ItemNotes" AS SELECT note FROM "Item";
      ALTER TABLE "Item" ADD COLUMN double numeric GENERATED ALWAYS AS (price * 2) STORED;`);
    originalShape = await strictShape(t.db);
    await refused({ table: "Item", column: "id", type: "bigint" }, "BW_PREFLIGHT_FAILED", /Item\.id is part of the primary key Item_pkey: the batches walk that key/);
    await refused(
      { table: "Tag", column: "label", type: "varchar(20)" },
      "BW_PREFLIGHT_FAILED",
      /Tag\.label is referenced by the foreign key Tagging_label_fkey of Tagging: the referencing columns must change type with it/,
    );
    await refused({ table: "Tagging", column: "label", type: "varchar(20)" }, "BW_PREFLIGHT_FAILED", /Tagging\.label is in the foreign key Tagging_label_fkey/);
    await refused(
      { table: "Item", column: "note", type: "varchar(100)" },
      "BW_PREFLIGHT_FAILED",
      /Item\.note is used by view "ItemNotes": PostgreSQL does not change the type of a column they use/,
    );
    await refused({ table: "Item", column: "price", type: "numeric(14,4)" }, "BW_PREFLIGHT_FAILED", /Item\.price is used by default value for column double of table "Item"/);
    await refused({ table: "Item", column: "double", type: "numeric(14,2)" }, "BW_PREFLIGHT_FAILED", /Item\.double is a generated column/);
    await t.db.query(`DROP VIEW "ItemNotes"; DROP TABLE "Tagging", "Tag"; ALTER TABLE "Item" DROP COLUMN double`);
    originalShape = await strictShape(t.db);
  });

  it("does nothing for a column already of the type", async () => {
    const outcome = await run(t, { id: "same_type", steps: [changeColumnType({ table: "Item", column: "quantity", type: "int4" })] }, dir);
    assert.equal(outcome.state, "completed");
    assert.equal(await strictShape(t.db), originalShape);
  });
});

describe("changeColumnType on a partitioned table", () => {
  it("fills every partition, online, and rolls back after completion", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      await t.db.query(`
        CREATE TABLE "Event" (id int NOT NULL, amount int NOT NULL DEFAULT 0, PRIMARY KEY (id)) PARTITION BY RANGE (id);
        CREATE TABLE "Event_1" PARTITION OF "Event" FOR VALUES FROM (0) TO (5000);
        CREATE TABLE "Event_2" PARTITION OF "Event" FOR VALUES FROM (5000) TO (10000);
        INSERT INTO "Event" SELECT i, i % 100 FROM generate_series(1, 9999) i;`);
      const shapeBefore = await strictShape(t.db);
      const rowsBefore = await checksum(t.db, `SELECT id, amount FROM "Event"`);
      const outcome = await run(t, { id: "partitioned", online: true, steps: [changeColumnType({ table: "Event", column: "amount", type: "bigint" })] }, dir);
      assert.equal(outcome.state, "completed");
      const column = await t.db.one<{ type: string; d: string; nn: boolean }>(
        `SELECT format_type(atttypid, atttypmod) AS type, pg_get_expr(adbin, adrelid) AS d, attnotnull AS nn FROM pg_attribute JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
          WHERE attrelid = '"Event_2"'::regclass AND attname = 'amount'`,
      );
      assert.deepEqual(column, { type: "bigint", d: "0", nn: true });
      assert.equal(await checksum(t.db, `SELECT id, amount::text FROM "Event"`), rowsBefore);
      await rollback(t, outcome.runId, dir);
      assert.equal(await strictShape(t.db), shapeBefore);
      assert.equal(await checksum(t.db, `SELECT id, amount FROM "Event"`), rowsBefore);
    } finally {
      await t.drop();
    }
  });
});

describe("changeColumnType with quotes, spaces and capitals in every name", () => {
  it("converts, and rolls back after completion", async () => {
    const t = await createTestDatabase();
    try {
      const dir = await tempProject();
      const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
      const schema = `Sales "EU".v2`;
      const name = `Team Member's "List"`;
      const table = `${q(schema)}.${q(name)}`;
      await t.db.query(`CREATE SCHEMA ${q(schema)}`);
      await t.db.query(`CREATE TABLE ${table} ("Id Key" int PRIMARY KEY, "Score ""x""" int NOT NULL DEFAULT 0, "it's" text)`);
      await t.db.query(`CREATE INDEX ${q(`idx "score"`)} ON ${table} ("Score ""x""", "it's")`);
      await t.db.query(`COMMENT ON COLUMN ${table}."Score ""x""" IS 'the player''s score'`);
      await t.db.query(`INSERT INTO ${table} SELECT i, i * 2, CASE WHEN i % 5 = 0 THEN 'it''s ' || i END FROM generate_series(1, 2000) i`);
      const shapeBefore = await t.db.query(
        `SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attname`,
        [table],
      );
      const rowsBefore = await checksum(t.db, `SELECT "Id Key" AS id, "Score ""x""", "it's" FROM ${table}`);
      const outcome = await run(
        t,
        {
          id: "odd_names",
          steps: [
            changeColumnType({ table: { schema, name }, column: `Score "x"`, type: "bigint" }),
            changeColumnType({ table: { schema, name }, column: "it's", type: "varchar(20)", using: `left("it's", 20)` }),
          ],
        },
        dir,
      );
      assert.equal(outcome.state, "completed");
      const types = await t.db.query<{ attname: string; type: string; comment: string | null }>(
        `SELECT attname, format_type(atttypid, atttypmod) AS type, col_description(attrelid, attnum) AS comment FROM pg_attribute WHERE attrelid = $1::regclass AND attname IN ('Score "x"', 'it''s') ORDER BY attname`,
        [table],
      );
      assert.deepEqual(types.rows, [
        { attname: `Score "x"`, type: "bigint", comment: "the player's score" },
        { attname: "it's", type: "character varying(20)", comment: null },
      ]);
      const index = await t.db.one<{ d: string }>(`SELECT pg_get_indexdef(to_regclass($1)) AS d`, [`${q(schema)}.${q(`idx "score"`)}`]);
      assert.match(index.d, /USING btree \("Score ""x""", "it's"\)/);
      await rollback(t, outcome.runId, dir);
      const shapeAfter = await t.db.query(
        `SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attname`,
        [table],
      );
      assert.deepEqual(shapeAfter.rows, shapeBefore.rows);
      const restored = await t.db.one<{ d: string }>(`SELECT pg_get_indexdef(to_regclass($1)) AS d`, [`${q(schema)}.${q(`idx "score"`)}`]);
      assert.match(restored.d, /USING btree \("Score ""x""", "it's"\)/);
      assert.equal(await checksum(t.db, `SELECT "Id Key" AS id, "Score ""x""", "it's" FROM ${table}`), rowsBefore);
    } finally {
      await t.drop();
    }
  });
});
