-- Hand-written PostgreSQL cases of bench/lint.ts, one file each after a `-- file:` line: the
-- statements a careful reviewer stops on a busy table, and their safe rewrites. Tables not created
-- in the file are taken to exist and hold rows.

-- file: index-plain.sql
CREATE INDEX "orders_customer_idx" ON "orders" ("customer_id");

-- file: index-concurrently.sql
SET lock_timeout = '5s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_customer_idx" ON "orders" ("customer_id");

-- file: index-concurrently-in-transaction.sql
BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE INDEX CONCURRENTLY "orders_placed_idx" ON "orders" ("placed_at");
COMMIT;

-- file: unique-index-plain.sql
SET lock_timeout = '5s';
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");

-- file: index-on-new-table.sql
CREATE TABLE "audit" ("id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "at" timestamptz NOT NULL DEFAULT now(), "what" text NOT NULL);
CREATE INDEX "audit_at_idx" ON "audit" ("at");
ALTER TABLE "audit" ADD CONSTRAINT "audit_what_check" CHECK (length("what") > 0);

-- file: drop-index.sql
SET lock_timeout = '5s';
DROP INDEX "orders_customer_idx";

-- file: drop-index-concurrently.sql
SET lock_timeout = '5s';
DROP INDEX CONCURRENTLY IF EXISTS "orders_customer_idx";

-- file: foreign-key.sql
SET lock_timeout = '5s';
ALTER TABLE "orders" ADD CONSTRAINT "orders_customer_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers" ("id");

-- file: foreign-key-not-valid.sql
SET lock_timeout = '5s';
ALTER TABLE "orders" ADD CONSTRAINT "orders_customer_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers" ("id") NOT VALID;

-- file: validate-constraint.sql
SET lock_timeout = '5s';
ALTER TABLE "orders" VALIDATE CONSTRAINT "orders_customer_fkey";

-- file: not-valid-and-validate-in-one-transaction.sql
SET lock_timeout = '5s';
BEGIN;
ALTER TABLE "orders" ADD CONSTRAINT "orders_total_check" CHECK ("total" >= 0) NOT VALID;
ALTER TABLE "orders" VALIDATE CONSTRAINT "orders_total_check";
COMMIT;

-- file: check-constraint.sql
SET lock_timeout = '5s';
ALTER TABLE "orders" ADD CONSTRAINT "orders_total_check" CHECK ("total" >= 0);

-- file: set-not-null.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ALTER COLUMN "email" SET NOT NULL;

-- file: set-not-null-after-validated-check.sql
-- PostgreSQL 12+ skips the scan when a validated CHECK (col IS NOT NULL) proves it.
SET lock_timeout = '5s';
ALTER TABLE "users" ADD CONSTRAINT "users_email_not_null" CHECK ("email" IS NOT NULL) NOT VALID;
ALTER TABLE "users" VALIDATE CONSTRAINT "users_email_not_null";
ALTER TABLE "users" ALTER COLUMN "email" SET NOT NULL;
ALTER TABLE "users" DROP CONSTRAINT "users_email_not_null";

-- file: add-column-constant-default.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "active" boolean NOT NULL DEFAULT true;

-- file: add-column-now-default.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "seen_at" timestamptz NOT NULL DEFAULT now();

-- file: add-column-volatile-default.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "token" uuid NOT NULL DEFAULT gen_random_uuid();

-- file: add-column-random-default.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "bucket" double precision DEFAULT random();

-- file: add-column-not-null-no-default.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "country" text NOT NULL;

-- file: add-column-serial.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "number" bigserial;

-- file: add-column-identity.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "number" bigint GENERATED ALWAYS AS IDENTITY;

-- file: add-column-generated-stored.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "email_lower" text GENERATED ALWAYS AS (lower("email")) STORED;

-- file: add-column-json.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD COLUMN "settings" json;

-- file: create-table-json.sql
CREATE TABLE "webhooks" ("id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "payload" json NOT NULL);

-- file: type-int-to-bigint.sql
SET lock_timeout = '5s';
ALTER TABLE "orders" ALTER COLUMN "id" TYPE bigint;

-- file: type-varchar-widening.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ALTER COLUMN "name" TYPE varchar(500);

-- file: type-varchar-to-text.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ALTER COLUMN "name" TYPE text;

-- file: type-numeric-widening.sql
SET lock_timeout = '5s';
ALTER TABLE "orders" ALTER COLUMN "total" TYPE numeric(14, 2);

-- file: type-text-to-int-using.sql
SET lock_timeout = '5s';
ALTER TABLE "orders" ALTER COLUMN "code" TYPE integer USING "code"::integer;

-- file: unique-constraint.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD CONSTRAINT "users_email_key" UNIQUE ("email");

-- file: unique-constraint-using-index.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ADD CONSTRAINT "users_email_key" UNIQUE USING INDEX "users_email_idx";

-- file: primary-key.sql
SET lock_timeout = '5s';
ALTER TABLE "events" ADD PRIMARY KEY ("id");

-- file: primary-key-using-index.sql
SET lock_timeout = '5s';
ALTER TABLE "events" ADD CONSTRAINT "events_pkey" PRIMARY KEY USING INDEX "events_id_idx";

-- file: drop-column.sql
SET lock_timeout = '5s';
ALTER TABLE "users" DROP COLUMN "legacy_flag";

-- file: drop-table.sql
SET lock_timeout = '5s';
DROP TABLE "sessions";

-- file: rename-column.sql
SET lock_timeout = '5s';
ALTER TABLE "users" RENAME COLUMN "name" TO "full_name";

-- file: rename-table.sql
SET lock_timeout = '5s';
ALTER TABLE "users" RENAME TO "accounts";

-- file: vacuum-full.sql
VACUUM FULL "orders";

-- file: vacuum.sql
VACUUM (ANALYZE) "orders";

-- file: cluster.sql
SET lock_timeout = '5s';
CLUSTER "orders" USING "orders_pkey";

-- file: reindex.sql
SET lock_timeout = '5s';
REINDEX INDEX "orders_customer_idx";

-- file: reindex-concurrently.sql
REINDEX INDEX CONCURRENTLY "orders_customer_idx";

-- file: truncate.sql
SET lock_timeout = '5s';
TRUNCATE "sessions";

-- file: truncate-cascade.sql
SET lock_timeout = '5s';
TRUNCATE "customers" CASCADE;

-- file: update-without-where.sql
SET lock_timeout = '5s';
UPDATE "users" SET "active" = true;

-- file: update-batched.sql
SET lock_timeout = '5s';
UPDATE "users" SET "active" = true WHERE "id" BETWEEN 1 AND 10000 AND "active" IS NULL;

-- file: delete-without-where.sql
SET lock_timeout = '5s';
DELETE FROM "sessions";

-- file: lock-table.sql
SET lock_timeout = '5s';
BEGIN;
LOCK TABLE "orders" IN ACCESS EXCLUSIVE MODE;
UPDATE "orders" SET "total" = 0 WHERE "total" IS NULL;
COMMIT;

-- file: no-lock-timeout-many.sql
ALTER TABLE "orders" ADD COLUMN "note" text;
ALTER TABLE "orders" DROP COLUMN "legacy";
ALTER TABLE "users" ALTER COLUMN "bio" DROP NOT NULL;

-- file: lock-timeout-local-in-transaction.sql
BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE "orders" ADD COLUMN "note" text;
COMMIT;

-- file: enum-add-value.sql
ALTER TYPE "status" ADD VALUE IF NOT EXISTS 'archived';

-- file: enum-add-value-and-use.sql
BEGIN;
ALTER TYPE "status" ADD VALUE 'archived';
UPDATE "orders" SET "status" = 'archived' WHERE "placed_at" < now() - interval '1 year';
COMMIT;

-- file: enum-rename-value.sql
SET lock_timeout = '5s';
ALTER TYPE "status" RENAME VALUE 'old' TO 'legacy';

-- file: drop-not-null.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ALTER COLUMN "bio" DROP NOT NULL;

-- file: create-table-then-alter.sql
CREATE TABLE "carts" ("id" bigint PRIMARY KEY, "user_id" bigint);
ALTER TABLE "carts" ADD COLUMN "total" numeric NOT NULL;
ALTER TABLE "carts" ALTER COLUMN "user_id" SET NOT NULL;
ALTER TABLE "carts" ADD CONSTRAINT "carts_user_fkey" FOREIGN KEY ("user_id") REFERENCES "carts" ("id");

-- file: create-table-with-fk-to-existing.sql
CREATE TABLE "refunds" ("id" bigint PRIMARY KEY, "order_id" bigint NOT NULL REFERENCES "orders" ("id"));

-- file: timestamp-precision.sql
SET lock_timeout = '5s';
ALTER TABLE "events" ALTER COLUMN "at" TYPE timestamp(6);

-- file: set-default.sql
SET lock_timeout = '5s';
ALTER TABLE "users" ALTER COLUMN "token" SET DEFAULT gen_random_uuid();
