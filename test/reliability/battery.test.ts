// A small fault battery in `npm test`: nine seeded trials (each fault kind three times, nine
// phases) on the battery's own PostgreSQL. `npm run battery -- --trials 100` runs many more.
// BATTERY_SEED sets another seed.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../harness.ts";
import {
  DEFAULT_SEED,
  describeTrial,
  finalStateDifferences,
  maintenanceFile,
  prepareTrial,
  runStatusOf,
  runTrial,
  startBattery,
  stopBattery,
  trialSpec,
  type Battery,
} from "./battery.ts";

const seed = process.env.BATTERY_SEED ? Number(process.env.BATTERY_SEED) : DEFAULT_SEED;
const trials = Array.from({ length: 9 }, (_, i) => trialSpec(seed, i + 1));

describe(`fault battery (seed ${seed}; reproduce one trial with npm run battery -- --seed ${seed} --only N)`, () => {
  let battery: Battery;
  before(async () => {
    battery = await startBattery();
  });
  after(async () => battery && stopBattery(battery));

  it("a run and its rollback without any fault end in the exact expected states (the control)", () => {
    assert.deepEqual(battery.control, []);
  });

  for (const spec of trials) {
    const expected = spec.scenario === "complete" ? "completed" : "rolled back";
    it(`trial ${spec.n}: ${spec.fault} aimed at ${spec.target} (${spec.scenario}), then recovery: ${expected}, every row exactly as expected, no fence, maintenance off`, async () => {
      const result = await runTrial(battery, spec);
      assert.deepEqual(result.problems, [], describeTrial(result));
    });
  }

  it("its final-state check catches a row changed twice, a fence and maintenance left behind, and the wrong end state", async () => {
    const trial = await prepareTrial(battery, "complete");
    try {
      const run = await runCli(["run", "plan.ts"], { cwd: trial.dir, databaseUrl: trial.t.url });
      assert.equal(run.code, 0, run.stderr);
      await trial.t.db.query(`UPDATE "Counter" SET hits = 2 WHERE id = 7`);
      await trial.t.db.query(`CREATE TRIGGER breakwater_write_fence BEFORE INSERT ON "User" FOR EACH STATEMENT EXECUTE FUNCTION breakwater.write_fence()`);
      await mkdir(path.dirname(maintenanceFile(trial.dir)), { recursive: true });
      await writeFile(maintenanceFile(trial.dir), "{}");
      const status = await runStatusOf(trial);
      assert.ok(!("error" in status), "status works");
      const completed = (await finalStateDifferences(trial.t.db, trial, "completed", battery, status.run)).join("\n");
      assert.match(completed, /Counter: every row hits = 1 \(changed exactly once\), found hits=1 ×19999, hits=2 ×1/);
      assert.match(completed, /write-fence trigger left on "User"/);
      assert.match(completed, /maintenance is still on/);
      const rolledBack = (await finalStateDifferences(trial.t.db, trial, "rolled_back", battery, status.run)).join("\n");
      assert.match(rolledBack, /is completed, expected rolled_back/);
      assert.match(rolledBack, /Role's values are EMPLOYEE, MANAGER, ADMIN, expected USER, ADMIN/);
    } finally {
      await trial.t.drop();
    }
  });
});
