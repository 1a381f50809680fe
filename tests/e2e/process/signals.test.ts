/**
 * Signals from the first milliseconds: handlers are installed before plb
 * loads anything (issue 8: a SIGHUP 20 ms after exec killed it; systemd
 * sends SIGHUP on `reload` right after `start`).
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

for (const [sig, at] of [["SIGHUP", 15], ["SIGUSR1", 15], ["SIGUSR2", 25], ["SIGHUP", 40]] as const) {
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

test("SIGTERM 15 ms after exec: plb finishes starting, then stops cleanly (exit 0, pid file removed)", async () => {
  const run = await earlySignal(await config(), "SIGTERM", 15);
  await run.stop();
  expect(run.signalCode).toBeNull();
  expect(run.exitCode).toBe(0);
  expect(run.log).toMatch(/SIGTERM: stopping/);
  expect(existsSync(run.pidfile)).toBe(false);
});
