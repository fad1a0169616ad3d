import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { addEnumValue, backfill, renameEnumValue } from "../../packages/breakwater/src/index.ts";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { cleanup } from "../../packages/breakwater/src/runner/cleanup.ts";
import { createTestDatabase, enumLabels, runInProcess, type TestDatabase } from "../harness.ts";

// Names with quotes, spaces, capitals and dots; values with quotes and spaces.
const schema = `Sales "EU".v2`;
const enumName = `Rôle "Kind"`;
const table = `Team Member's "List"`;
const column = `Role Col`;

describe("identifiers with quotes, spaces and capitals", () => {
  let t: TestDatabase;
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  before(async () => {
    t = await createTestDatabase();
    await t.db.query(`CREATE SCHEMA ${q(schema)}`);
    await t.db.query(`CREATE TYPE ${q(schema)}.${q(enumName)} AS ENUM ('it''s me', 'ADMIN')`);
    await t.db.query(
      `CREATE TABLE ${q(schema)}.${q(table)} ("Id Key" int PRIMARY KEY, ${q(column)} ${q(schema)}.${q(enumName)} NOT NULL DEFAULT 'it''s me', "Score ""x""" int NOT NULL DEFAULT 0)`,
    );
    await t.db.query(`CREATE INDEX ${q("idx " + column)} ON ${q(schema)}.${q(table)} (${q(column)})`);
    await t.db.query(
      `INSERT INTO ${q(schema)}.${q(table)} SELECT i, (CASE WHEN i % 3 = 0 THEN 'ADMIN' ELSE 'it''s me' END)::${q(schema)}.${q(enumName)} FROM generate_series(1, 3000) i`,
    );
  });
  after(async () => t.drop());

  for (const contract of ["shadow", "typeSwap"] as const) {
    it(`renames a value with a quote in it (${contract})`, async () => {
      const from = contract === "shadow" ? "it's me" : `"Staff" member`;
      const to = contract === "shadow" ? `"Staff" member` : "it's me";
      const { outcome } = await runInProcess(t.url, {
        id: `odd_names_${contract}`,
        steps: [renameEnumValue({ schema, enum: enumName, from, to, add: ["Team Lead"], contract })],
      });
      assert.equal(outcome.state, "completed");
      const labels = await enumLabels(t.db, `${q(schema)}.${q(enumName)}`);
      assert.deepEqual(
        labels.filter((l) => l !== "Team Lead"),
        [to, "ADMIN"],
      );
      const counts = await t.db.one<{ to: number; admin: number }>(
        `SELECT count(*) FILTER (WHERE ${q(column)}::text = $1)::int AS to, count(*) FILTER (WHERE ${q(column)}::text = 'ADMIN')::int AS admin FROM ${q(schema)}.${q(table)}`,
        [to],
      );
      assert.deepEqual(counts, { to: 2000, admin: 1000 });
      const index = await t.db.one<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${q(schema)}.${q("idx " + column)}`]);
      assert.ok(index.ok);
      // What the shadow contract set aside goes, by its odd names too: the next test renames the column again.
      const dropped = await cleanup(t.url, { olderThanSeconds: 0, dryRun: false, reconnectTimeoutMs: 10_000, lock: resolveConfig({}, "/", null, {}).lock });
      assert.equal(dropped.runs.length, 1);
      const aside = await t.db.query(`SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname LIKE '%\\_\\_bw\\_old' AND NOT attisdropped`, [
        `${q(schema)}.${q(table)}`,
      ]);
      assert.equal(aside.rows.length, 0);
    });
  }

  it("backfills and adds enum values with odd names", async () => {
    const { outcome } = await runInProcess(
      t.url,
      {
        id: "odd_backfill",
        steps: [
          addEnumValue({ schema, enum: enumName, value: `O'Brien "B"`, after: "ADMIN" }),
          backfill({ table: { schema, name: table }, set: { [`Score "x"`]: `"Id Key" * 2`, [column]: `'O''Brien "B"'` }, where: `"Id Key" <= 10` }),
        ],
      },
      { batch: { size: 3 } },
    );
    assert.equal(outcome.state, "completed");
    const rows = await t.db.one<{ n: number; s: number }>(`SELECT count(*)::int AS n, sum("Score ""x""")::int AS s FROM ${q(schema)}.${q(table)} WHERE ${q(column)}::text = $1`, [
      `O'Brien "B"`,
    ]);
    assert.deepEqual(rows, { n: 10, s: 110 });
  });
});
