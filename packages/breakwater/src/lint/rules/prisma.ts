// The rules for what Prisma's migrations do that nobody flags well (one module each, listed here).
import type { Rule } from "../types.ts";
import { enumAddValueInTransaction } from "./prisma-enum-add-value-in-transaction.ts";
import { prismaEnumSwap } from "./prisma-enum-swap.ts";
import { prismaEnumValueAddedAndUsed } from "./prisma-enum-value-added-and-used.ts";
import { enumValueAddedUnreadable } from "./prisma-enum-value-added-unreadable.ts";
import { prismaRenameAsDropAdd } from "./prisma-rename-as-drop-add.ts";

export const prismaRules: Rule[] = [prismaEnumSwap, prismaEnumValueAddedAndUsed, enumAddValueInTransaction, prismaRenameAsDropAdd, enumValueAddedUnreadable];
