/**
 * Programs for tests that run as nobody: compiled with `bun build --compile`
 * into a world-readable temporary folder, so they never depend on where the
 * checkout is (a clone in a mode-700 home or a `mktemp -d` folder is out of
 * nobody's reach, and so are the bun binary and the sources in it).
 */
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { BUN } from "./plb.ts";

const built = new Map<string, string>();

/** A standalone executable of `entry` (cached per test process), mode 0755 in a 0755 folder. */
export function compiledForNobody(entry: string, ...more: string[]): string {
  const key = [entry, ...more].join("\0");
  const have = built.get(key);
  if (have) return have;
  const dir = mkdtempSync(join(tmpdir(), "plb-nobody-"));
  chmodSync(dir, 0o755);
  const out = join(dir, basename(entry).replace(/\.ts$/, ""));
  const r = Bun.spawnSync([BUN, "build", "--compile", entry, ...more, "--outfile", out], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`bun build --compile ${entry} failed:\n${r.stderr}`);
  chmodSync(out, 0o755);
  built.set(key, out);
  return out;
}
