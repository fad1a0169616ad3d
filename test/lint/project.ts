// A throwaway project holding the given files (paths relative to it), for the lint tests.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempProject } from "../harness.ts";

export async function project(files: Record<string, string>): Promise<string> {
  const dir = await tempProject();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}
