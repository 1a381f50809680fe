/** Reload a running plb test process: rewrite its file, send SIGHUP, wait for the outcome line. */
import { writeFileSync } from "node:fs";
import type { PlbProcess } from "./plb.ts";

const OUTCOME = /\[reload\] (reload: |reload failed)/;

/** Lines of `plb`'s log that report a reload's outcome so far. */
function outcomes(plb: PlbProcess): string[] {
  return plb.log().split("\n").filter((l) => OUTCOME.test(l));
}

/** Write `toml` to `file` (plb's configuration), SIGHUP, and return the outcome line ("reload: …" or "reload failed…"). */
export async function reloadWith(plb: PlbProcess, file: string, toml: string | undefined, timeoutMs = 10_000): Promise<string> {
  if (toml !== undefined) writeFileSync(file, toml);
  const before = outcomes(plb).length;
  process.kill(plb.pid, "SIGHUP");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const now = outcomes(plb);
    if (now.length > before) return now[before];
    await Bun.sleep(10);
  }
  throw new Error(`no reload outcome within ${timeoutMs} ms:\n${plb.log()}`);
}

/** The log text after the `n`th occurrence of `marker` (to look only at what a step caused). */
export function logSince(plb: PlbProcess, mark: number): string {
  return plb.log().slice(mark);
}
