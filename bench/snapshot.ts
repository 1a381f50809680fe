/** The copy of src/ the http and smtp modes run plb from, and its description in the tables. */
import { cpSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./peers.ts";

/**
 * A copy of src/ (and package.json, node_modules linked) taken when the bench
 * starts: every plb run of every round then runs the same code, even while
 * src/ is being edited. Returns the copy's root.
 */
export function snapshotSource(dir: string): string {
  const snap = join(dir, "plb-src");
  mkdirSync(snap);
  cpSync(join(ROOT, "src"), join(snap, "src"), { recursive: true });
  for (const f of ["package.json", "bunfig.toml", "tsconfig.json"]) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(snap, f));
  symlinkSync(join(ROOT, "node_modules"), join(snap, "node_modules"));
  return snap;
}

/** Where plb came from, for the table: the binary, or the snapshot of src/ at HEAD (+ uncommitted changes). */
export function plbSource(binary: boolean, profile?: string): string {
  if (binary) return "dist/plb (bun build --compile)";
  const git = (args: string[]) => Bun.spawnSync(["git", ...args], { cwd: ROOT, stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
  const dirty = git(["status", "--porcelain", "--", "src"]);
  return `src/cli.ts (bun; a copy of src/ taken at start) at ${git(["rev-parse", "--short", "HEAD"]) || "?"}${dirty ? " + uncommitted changes in src/" : ""}${
    profile ? ", under --cpu-prof-md" : ""
  }`;
}
