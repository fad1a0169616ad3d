// What runner.ts imports, re-exported until its import lines name the modules below (then this
// file goes): step.ts, checks.ts, actions.ts, snapshot.ts, transform.ts.
export { executeAction } from "./actions.ts";
export { CheckFailure, evaluateChecks, scalar } from "./checks.ts";
export { executeSnapshot, restoreSnapshot } from "./snapshot.ts";
export type { ExecutionContext, StepResult } from "./step.ts";
export { executeTransform } from "./transform.ts";
