// Without a config file, commands use the defaults without loading the validator (zod): those
// defaults must be exactly what the validator makes of an empty config, and a config file is
// still validated.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { resolveConfig } from "../../packages/breakwater/src/config/config.ts";
import { loadConfig } from "../../packages/breakwater/src/config/resolved.ts";
import { runCli, tempProject } from "../harness.ts";

describe("the config without a config file", () => {
  it("is what the validator makes of an empty config", async () => {
    const dir = await tempProject();
    const env = { DATABASE_URL: "postgres://u@h/db", DIRECT_URL: "postgres://u@h:5432/db" };
    const saved = { DATABASE_URL: process.env.DATABASE_URL, DIRECT_URL: process.env.DIRECT_URL };
    Object.assign(process.env, env);
    try {
      assert.deepEqual(await loadConfig({ cwd: dir }), resolveConfig({}, dir, null, env));
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it("a config file is still validated: an unknown setting is refused (exit 2)", async () => {
    const dir = await tempProject();
    await writeFile(path.join(dir, "breakwater.config.mjs"), "export default { lock: { timeoutMs: 0 }, nope: true };\n");
    const result = await runCli(["status"], { cwd: dir, env: { DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /Invalid configuration in breakwater\.config\.mjs/);
    assert.match(result.stderr, /nope/);
  });
});
