#!/usr/bin/env node
// Loads TypeScript (breakwater's own sources, plans and breakwater.config.ts) through tsx.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
