/**
 * Small async process and file helpers shared by the SMTP peers (never
 * Bun.spawnSync: tests run servers in the same event loop).
 */
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Debian's python: the one that sees python3-aiosmtpd (not pyenv's). */
export const PYTHON = "/usr/bin/python3";
export const HERE = import.meta.dir;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to its end (async), with an optional stdin and timeout. */
export async function run(
  cmd: string[],
  opts: { stdin?: string | Uint8Array; timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    stdin: opts.stdin === undefined ? "ignore" : "pipe",
    stdout: "pipe",
    stderr: "pipe",
    cwd: opts.cwd,
    env: opts.env ? { ...process.env, ...opts.env } : undefined,
  });
  if (opts.stdin !== undefined) {
    const w = proc.stdin as import("bun").FileSink;
    w.write(opts.stdin);
    await w.end();
  }
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  if (timedOut) throw new Error(`${cmd.join(" ")}: no end within ${timeoutMs} ms (stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)})`);
  return { code, stdout, stderr };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `probe` until it returns something other than undefined. */
export async function pollFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Read a child's stdout line by line; resolves with the first line (JSON
 * parsed) or rejects with the child's stderr when it exits first.
 */
export async function firstJsonLine<T>(proc: import("bun").Subprocess<any, "pipe", "pipe">, timeoutMs = 15_000): Promise<T> {
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let text = "";
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    while (!text.includes("\n")) {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) {
        const err = await new Response(proc.stderr).text().catch(() => "");
        throw new Error(`exited before ready (code ${await proc.exited}): ${err.trim() || text}`);
      }
      text += dec.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return JSON.parse(text.slice(0, text.indexOf("\n"))) as T;
}
