/**
 * Start plb and send it `signal` early, before it can have loaded its
 * configuration; then wait until it is ready (or exits).
 *
 * When: a number of ms after the spawn, or "caught": as soon as the kernel
 * shows a handler for the signal (SigCgt in /proc/PID/status), which does not
 * depend on how busy the machine is (a fixed delay does: Bun alone may need
 * more than 30 ms to start on a loaded machine, and a signal before any
 * JavaScript runs kills any Bun program).
 */
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { BUN, CLI, tempDir, writeConfig } from "./plb.ts";

/** True once process `pid` catches `signal` (its bit in SigCgt), false if it is gone. */
function catches(pid: number, signal: NodeJS.Signals): boolean | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return false;
  }
  const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (mask === undefined) return undefined;
  return ((BigInt(`0x${mask}`) >> BigInt(constants.signals[signal] - 1)) & 1n) === 1n;
}

export interface EarlySignalRun {
  /** Exit code, or undefined while still running at the end. */
  exitCode: number | null;
  signalCode: NodeJS.Signals | number | null;
  log: string;
  pidfile: string;
  /** When the signal was sent, in ms after the spawn. */
  sentAtMs: number;
  stop(): Promise<void>;
}

export async function earlySignal(toml: string, signal: NodeJS.Signals, when: number | "caught", binary?: string): Promise<EarlySignalRun> {
  const pidfile = join(tempDir(), "plb.pid");
  const cmd = binary ? [binary] : [BUN, CLI];
  const config = writeConfig(toml);
  const t0 = performance.now();
  const proc = Bun.spawn([...cmd, "--config", config, "--logfile", "-", "--pidfile", pidfile], { stdout: "ignore", stderr: "pipe" });
  if (when === "caught") {
    const until = Date.now() + 10_000;
    while (catches(proc.pid, signal) === false && proc.exitCode === null && Date.now() < until) await Bun.sleep(1);
    if (catches(proc.pid, signal) !== true) {
      proc.kill("SIGKILL");
      throw new Error(`plb (pid ${proc.pid}) did not catch ${signal} within 10 s (exit ${proc.exitCode})`);
    }
  } else await Bun.sleep(when);
  const sentAtMs = performance.now() - t0;
  proc.kill(signal);
  let log = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) log += dec.decode(chunk, { stream: true });
  })();
  const deadline = Date.now() + 10_000;
  while (proc.exitCode === null && proc.signalCode === null && !/ready \(pid/.test(log) && Date.now() < deadline) await Bun.sleep(10);
  await Bun.sleep(200); // let a queued signal be handled after ready
  return {
    get exitCode() {
      return proc.exitCode;
    },
    get signalCode() {
      return proc.signalCode;
    },
    get log() {
      return log;
    },
    pidfile,
    sentAtMs,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await proc.exited;
      await reading;
    },
  };
}
