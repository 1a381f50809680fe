/**
 * Signals from the first milliseconds: handlers are installed before plb
 * loads anything (issue 8: a SIGHUP 20 ms after exec killed it; systemd
 * sends SIGHUP on `reload` right after `start`), and a signal that comes
 * before plb can act on it is kept and handled once it is ready.
 *
 * The signal is sent as soon as the kernel shows plb's handler for it
 * (SigCgt), not at a fixed delay: at idle that is 18-21 ms after the spawn
 * (Bun itself takes 11-14 ms before any JavaScript runs), long before plb
 * is ready (~90 ms), but on a loaded machine Bun's own start can take more
 * than 30 ms, and no program can catch a signal before its first line runs.
 * That plb's first line installs the handlers is pinned by the structure of
 * its entry point (the first test).
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { earlySignal } from "../../support/early-signal.ts";
import { ROOT } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";
import { until } from "../../support/until.ts";

async function config(): Promise<string> {
  const port = await freePort();
  return `
[[service]]
name = "sig"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:9"]
`;
}

/** The modules a file imports statically (`import … from "x"`, `import "x"`), in order. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^import\s+(?:[^"';]*\s+from\s+)?["']([^"']+)["']/gm)].map((m) => m[1]);
}

test("the entry point installs the handlers before it loads anything: cli.ts imports only process/signals.ts (which imports nothing) and calls catchSignals() first", () => {
  const cli = join(ROOT, "src", "cli.ts");
  expect(staticImports(cli)).toEqual(["./process/signals.ts"]);
  expect(staticImports(join(ROOT, "src", "process", "signals.ts"))).toEqual([]);
  const code = readFileSync(cli, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const statements = code.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("import ") && !l.startsWith("#!"));
  expect(statements[0]).toBe("catchSignals();");
});

const HANDLED = {
  SIGHUP: /SIGHUP: reloading [\s\S]*reload: no changes/,
  // logging to stderr here (--logfile -): nothing to reopen
  SIGUSR1: /SIGUSR1: reopening the log file\n.*logging to standard error: no log file to reopen/,
  SIGUSR2: /SIGUSR2 ignored/,
} as const;

for (const sig of ["SIGHUP", "SIGUSR1", "SIGUSR2"] as const) {
  test(`${sig} as soon as plb catches it, long before it is ready, does not kill plb: it starts and handles the signal`, async () => {
    const run = await earlySignal(await config(), sig, "caught");
    try {
      console.log(`${sig} sent ${run.sentAtMs.toFixed(0)} ms after the spawn`);
      expect(run.signalCode).toBeNull();
      expect(run.exitCode).toBeNull();
      expect(run.log).toMatch(/ready \(pid/);
      await until(() => HANDLED[sig].test(run.log), `${sig} to be handled`, 10_000);
    } finally {
      await run.stop();
    }
  });
}

test("SIGTERM as soon as plb catches it: plb finishes starting, then stops cleanly (exit 0, pid file removed)", async () => {
  const run = await earlySignal(await config(), "SIGTERM", "caught");
  await run.stop();
  expect(run.signalCode).toBeNull();
  expect(run.exitCode).toBe(0);
  expect(run.log).toMatch(/SIGTERM: stopping/);
  expect(existsSync(run.pidfile)).toBe(false);
});
