/**
 * The version, and the git commit plb was built from. A compiled binary has
 * the commit embedded by build.ts (`--define PLB_COMMIT`); run from source,
 * it is read from git when asked. A tree with uncommitted changes says so.
 */
import { dirname } from "node:path";
import pkg from "../package.json" with { type: "json" };

declare const PLB_COMMIT: string | undefined;

export const VERSION: string = pkg.version;

/** "abc1234", "abc1234, modified" (uncommitted changes), or undefined (no git). */
export function commitOf(dir: string): string | undefined {
  try {
    const rev = Bun.spawnSync(["git", "-C", dir, "rev-parse", "--short", "HEAD"], { stdout: "pipe", stderr: "ignore" });
    if (rev.exitCode !== 0) return undefined;
    const changed = Bun.spawnSync(["git", "-C", dir, "status", "--porcelain", "--untracked-files=no"], { stdout: "pipe", stderr: "ignore" });
    const short = rev.stdout.toString().trim();
    return changed.stdout.toString().trim() === "" ? short : `${short}, modified`;
  } catch {
    return undefined; // no git
  }
}

/** `plb 0.4.0 (abc1234)`. */
export function versionLine(): string {
  const commit = typeof PLB_COMMIT === "string" ? PLB_COMMIT : commitOf(dirname(import.meta.dir));
  return commit ? `plb ${VERSION} (${commit})` : `plb ${VERSION}`;
}
