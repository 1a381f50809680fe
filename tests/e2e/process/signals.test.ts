/**
 * Signals from the first milliseconds: handlers are installed before plb
 * loads anything (issue 8: a SIGHUP 20 ms after exec killed it; systemd
 * sends SIGHUP on `reload` right after `start`).
 *
 * 30 ms, not less: Bun itself takes 11-14 ms here before any JavaScript
 * runs (`bun -e 'process.on("SIGHUP", …)'` reaches its handler at
 * performance.now() 11-14), and `bun src/cli.ts` has its handlers in place
 * 18-21 ms after the spawn (a SIGHUP at 15 ms killed 9 runs in 10, at 18 ms
 * 5, at 21 ms none); at 15 ms a fresh-clone run lost all three. Still long
 * before plb has loaded its configuration (ready comes after ~90 ms).
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { earlySignal } from "../../support/early-signal.ts";
import { freePort } from "../../support/ports.ts";

async function config(): Promise<string> {
  const port = await freePort();
  return `
[[service]]
name = "sig"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:9"]
`;
}

for (const [sig, at] of [["SIGHUP", 30], ["SIGUSR1", 30], ["SIGUSR2", 35], ["SIGHUP", 45]] as const) {
  test(`${sig} ${at} ms after exec does not kill plb: it starts and handles the signal`, async () => {
    const run = await earlySignal(await config(), sig, at);
    try {
      expect(run.signalCode).toBeNull();
      expect(run.exitCode).toBeNull();
      expect(run.log).toMatch(/ready \(pid/);
      const handled = {
        SIGHUP: /SIGHUP: reloading [\s\S]*reload: no changes/,
        // logging to stderr here (--logfile -): nothing to reopen
        SIGUSR1: /SIGUSR1: reopening the log file\n.*logging to standard error: no log file to reopen/,
        SIGUSR2: /SIGUSR2 ignored/,
      }[sig];
      expect(run.log).toMatch(handled);
    } finally {
      await run.stop();
    }
  });
}

test("SIGTERM 30 ms after exec: plb finishes starting, then stops cleanly (exit 0, pid file removed)", async () => {
  const run = await earlySignal(await config(), "SIGTERM", 30);
  await run.stop();
  expect(run.signalCode).toBeNull();
  expect(run.exitCode).toBe(0);
  expect(run.log).toMatch(/SIGTERM: stopping/);
  expect(existsSync(run.pidfile)).toBe(false);
});
