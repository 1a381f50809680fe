/**
 * Run the real plb CLI as a child process on a config written by the test,
 * and read its log lines as they come.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = join(import.meta.dir, "..", "..");
export const CLI = join(ROOT, "src", "cli.ts");
export const BUN = process.execPath;

export function tempDir(prefix = "plb-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeConfig(toml: string): string {
  const file = join(tempDir(), "plb.toml");
  writeFileSync(file, toml);
  return file;
}

export interface PlbProcess {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly pid: number;
  /** All stderr text so far. */
  log(): string;
  /** Resolves with the first log line matching `re` (already seen or future). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  exited: Promise<number>;
}

/** Start plb on `toml` and wait until it logs that it is ready. */
export interface StartOptions {
  /** Wait for the "ready" log line (default true). */
  waitReady?: boolean;
  /** Extra environment (PLB_NAMESERVERS, …). */
  env?: Record<string, string>;
  /** Run this executable (a compiled dist/plb) instead of `bun src/cli.ts`. */
  binary?: string;
  /** Start plb with this open-file limit (ulimit -n). */
  maxFiles?: number;
  /** Run plb under this command: ["ip", "netns", "exec", NAME] (a network namespace). */
  prefix?: string[];
}

export async function startPlb(toml: string, extraArgs: string[] = [], opts: StartOptions = {}): Promise<PlbProcess> {
  const config = writeConfig(toml);
  return startPlbFile(config, extraArgs, opts);
}

export async function startPlbFile(config: string, extraArgs: string[] = [], opts: StartOptions = {}): Promise<PlbProcess> {
  const waitReady = opts.waitReady ?? true;
  // As root plb writes /var/run/plb.pid by default: give each run its own.
  const pid = extraArgs.includes("--pidfile") ? [] : ["--pidfile", join(tempDir(), "plb.pid")];
  const plbCmd = opts.binary ? [opts.binary] : [BUN, CLI];
  const limited = opts.maxFiles ? ["bash", "-c", `ulimit -n ${opts.maxFiles} && exec "$@"`, "plb", ...plbCmd] : plbCmd;
  const cmd = [...(opts.prefix ?? []), ...limited];
  const proc = Bun.spawn([...cmd, "--config", config, "--logfile", "-", "--loglevel", "debug", ...pid, ...extraArgs], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...opts.env },
  });
  let text = "";
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const check = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const m = text.split("\n").find((l) => waiters[i].re.test(l));
      if (m !== undefined) {
        waiters[i].resolve(m);
        waiters.splice(i, 1);
      }
    }
  };
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) {
      text += dec.decode(chunk, { stream: true });
      check();
    }
  })();
  const p: PlbProcess = {
    proc,
    pid: proc.pid,
    log: () => text,
    waitForLog(re, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in plb log:\n${text}`)), timeoutMs);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        check();
      });
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      const code = await proc.exited;
      // plb survives exceptions in handlers, but none should ever happen
      if (/unexpected (error|rejection)/.test(text)) throw new Error(`plb logged an unexpected error:\n${text}`);
      return code;
    },
    exited: proc.exited,
  };
  if (waitReady) {
    await Promise.race([
      p.waitForLog(/ready \(pid/, 15_000),
      proc.exited.then((code) => {
        throw new Error(`plb exited with ${code} before ready:\n${text}`);
      }),
    ]);
  }
  return p;
}
