// Every rule breakwater lint knows: the generic PostgreSQL rules, then the Prisma ones.
import type { Rule } from "../types.ts";
import { addColumnNotNull } from "./add-column-not-null.ts";
import { addColumnRewrite } from "./add-column-rewrite.ts";
import { addColumnVolatileDefault } from "./add-column-volatile-default.ts";
import { alterColumnType } from "./alter-column-type.ts";
import { checkNotValid } from "./check-not-valid.ts";
import { cluster } from "./cluster.ts";
import { concurrentlyInPrismaFile } from "./concurrently-in-prisma-file.ts";
import { concurrentlyInTransaction } from "./concurrently-in-transaction.ts";
import { dropColumn } from "./drop-column.ts";
import { dropIndexNotConcurrent } from "./drop-index-not-concurrent.ts";
import { dropTable } from "./drop-table.ts";
import { foreignKeyNotValid } from "./foreign-key-not-valid.ts";
import { indexNotConcurrent } from "./index-not-concurrent.ts";
import { lockTable } from "./lock-table.ts";
import { missingLockTimeout } from "./missing-lock-timeout.ts";
import { preferJsonb } from "./prefer-jsonb.ts";
import { prismaRules } from "./prisma.ts";
import { reindexNotConcurrent } from "./reindex-not-concurrent.ts";
import { renameColumn } from "./rename-column.ts";
import { renameTable } from "./rename-table.ts";
import { setNotNull } from "./set-not-null.ts";
import { truncate } from "./truncate.ts";
import { unbatchedUpdate } from "./unbatched-update.ts";
import { uniqueWithoutIndex } from "./unique-without-index.ts";
import { vacuumFull } from "./vacuum-full.ts";

export const genericRules: Rule[] = [
  indexNotConcurrent,
  concurrentlyInTransaction,
  concurrentlyInPrismaFile,
  foreignKeyNotValid,
  checkNotValid,
  setNotNull,
  addColumnVolatileDefault,
  addColumnNotNull,
  addColumnRewrite,
  alterColumnType,
  uniqueWithoutIndex,
  dropColumn,
  dropTable,
  renameColumn,
  renameTable,
  missingLockTimeout,
  vacuumFull,
  cluster,
  reindexNotConcurrent,
  truncate,
  preferJsonb,
  dropIndexNotConcurrent,
  unbatchedUpdate,
  lockTable,
];

export const allRules: Rule[] = [...genericRules, ...prismaRules];
