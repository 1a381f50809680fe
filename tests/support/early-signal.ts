/**
 * Start plb and send it `signal` `afterMs` after the spawn, before it can
 * have loaded its configuration; then wait until it is ready (or exits).
 */
import { join } from "node:path";
import { BUN, CLI, tempDir, writeConfig } from "./plb.ts";

export interface EarlySignalRun {
  /** Exit code, or undefined while still running at the end. */
  exitCode: number | null;
  signalCode: NodeJS.Signals | number | null;
  log: string;
  pidfile: string;
  stop(): Promise<void>;
}

export async function earlySignal(toml: string, signal: NodeJS.Signals, afterMs: number, binary?: string): Promise<EarlySignalRun> {
  const pidfile = join(tempDir(), "plb.pid");
  const cmd = binary ? [binary] : [BUN, CLI];
  const proc = Bun.spawn([...cmd, "--config", writeConfig(toml), "--logfile", "-", "--pidfile", pidfile], { stdout: "ignore", stderr: "pipe" });
  await Bun.sleep(afterMs);
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
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await proc.exited;
      await reading;
    },
  };
}
