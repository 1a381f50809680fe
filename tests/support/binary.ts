/**
 * The shipped artifact, dist/plb, built once per test process (by whichever
 * test file asks first) with the project's own build script.
 */
import { join } from "node:path";
import { BUN, ROOT } from "./plb.ts";

export const BINARY = join(ROOT, "dist", "plb");
let built = false;

export function builtBinary(): string {
  if (built) return BINARY;
  const r = Bun.spawnSync([BUN, join(ROOT, "build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`bun build.ts failed:\n${r.stderr}`);
  built = true;
  return BINARY;
}
