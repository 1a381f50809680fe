/**
 * --daemonize without fork(): the parent re-executes the same program as a
 * child in a new session (Bun.spawn `detached: true` calls setsid()), with
 * stdin/stdout/stderr on /dev/null (or a log descriptor) and one extra
 * descriptor, fd 3, as a readiness channel. The child writes exactly one
 * line on it, `READY` or `ERROR <json string>`, then closes it; the parent
 * waits for that line (or the child's death, or a timeout) and returns.
 *
 * The child's standard streams never point at the parent, so the parent
 * exiting cannot hurt it; a write to the closed channel only fails with
 * EPIPE (Bun ignores SIGPIPE) and is caught.
 *
 * Only the CLI calls process.exit(): startDaemon() returns the outcome.
 */
import { closeSync, fstatSync, writeSync } from "node:fs";

/** Environment variable naming the readiness descriptor in the child. */
export const DAEMON_ENV = "PLB_DAEMON_CHILD";
const CHANNEL_FD = 3;

export type DaemonResult = { ok: true; pid: number } | { ok: false; message: string };

export interface DaemonOptions {
  /** Give up (and kill the child) after this long without a report; default 60 s. */
  timeoutMs?: number;
  /** Descriptor for the child's stdout and stderr (e.g. an open log file); default /dev/null. */
  output?: number;
}

/** True when running from a `bun build --compile` executable. */
function compiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(Bun.main);
}

/**
 * The command line that re-runs this program with `args` (the arguments
 * after the script: process.argv.slice(2) minus --daemonize): a compiled
 * binary is its own interpreter; otherwise bun runs the same entry script.
 */
export function daemonCommand(args: readonly string[]): string[] {
  return compiled()
    ? [process.execPath, ...args]
    : [process.execPath, ...process.execArgv, Bun.main, ...args];
}

function describeExit(proc: Bun.Subprocess): string {
  if (proc.signalCode) return `daemon was killed by ${proc.signalCode} before it was ready`;
  return `daemon exited with status ${proc.exitCode} before it was ready`;
}

/** Reads the child's one report line; resolves "" at EOF without one. */
async function readReport(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "";
      text += decoder.decode(value, { stream: true });
      const end = text.indexOf("\n");
      if (end >= 0) return text.slice(0, end);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * Parent side: starts the daemon child and waits until it reports. Returns
 * its pid once it is serving, or the child's own error message.
 */
export async function startDaemon(args: readonly string[], options: DaemonOptions = {}): Promise<DaemonResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const out = options.output ?? "ignore";
  let proc: Bun.Subprocess<"ignore", "ignore" | number, "ignore" | number>;
  try {
    proc = Bun.spawn(daemonCommand(args), {
      env: { ...process.env, [DAEMON_ENV]: String(CHANNEL_FD) },
      stdio: ["ignore", out, out, "pipe"],
      detached: true,
    }) as typeof proc;
  } catch (err) {
    return { ok: false, message: `cannot start daemon: ${(err as Error).message}` };
  }
  const channel = proc.stdio[CHANNEL_FD];
  if (typeof channel !== "number") {
    proc.kill("SIGKILL");
    return { ok: false, message: "cannot start daemon: no readiness channel" };
  }

  let timer: Timer | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const line = await Promise.race([readReport(Bun.file(channel).stream()), timeout]);
  clearTimeout(timer);

  if (line === "READY") {
    proc.unref();
    return { ok: true, pid: proc.pid };
  }
  if (line === "timeout") {
    proc.kill("SIGKILL");
    return { ok: false, message: `daemon did not report ready within ${timeoutMs} ms (killed)` };
  }
  if (line.startsWith("ERROR ")) {
    // The child exits after reporting; do not leave a half-started one behind.
    const exited = await Promise.race([proc.exited, Bun.sleep(2000).then(() => undefined)]);
    if (exited === undefined) proc.kill("SIGKILL");
    try {
      return { ok: false, message: String(JSON.parse(line.slice(6))) };
    } catch {
      return { ok: false, message: line.slice(6) };
    }
  }
  await proc.exited;
  return { ok: false, message: describeExit(proc) };
}

// ---- child side ------------------------------------------------------------

let channelFd: number | undefined | null = null; // null: not looked at yet
let child = false;

function channel(): number | undefined {
  if (channelFd === null) {
    const fd = Number(process.env[DAEMON_ENV]);
    delete process.env[DAEMON_ENV]; // not inherited by our own children
    channelFd = undefined;
    try {
      if (Number.isInteger(fd) && fd > 2 && fstatSync(fd).isSocket()) channelFd = fd;
    } catch {
      // not open: not a daemon child
    }
    child = channelFd !== undefined;
  }
  return channelFd;
}

/** Whether this process was started by startDaemon() (true even after reporting). */
export function isDaemonChild(): boolean {
  channel();
  return child;
}

function report(line: string): void {
  const fd = channel();
  if (fd === undefined) return;
  channelFd = undefined; // report once
  try {
    writeSync(fd, `${line}\n`);
  } catch {
    // The parent is gone (EPIPE): nobody to tell.
  }
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Child: every listener is bound; the parent may exit now. */
export function reportReady(): void {
  report("READY");
}

/** Child: start-up failed with `message`; the caller then exits. */
export function reportFailure(message: string): void {
  report(`ERROR ${JSON.stringify(message)}`);
}
