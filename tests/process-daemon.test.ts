/**
 * startDaemon(): re-exec in a new session, wait for the child's report.
 * A helper script (tests/support/daemon-child.ts) is the program being
 * daemonized: run by bun, and compiled with `bun build --compile`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { accepts, BUN, echoOnce } from "./support/child.ts";

const SCRIPT = join(import.meta.dir, "support", "daemon-child.ts");
const daemons: number[] = [];
const tmp = mkdtempSync(join(tmpdir(), "plb-daemon-"));

afterAll(() => {
  for (const pid of daemons) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

type Result = { ok: true; pid: number } | { ok: false; message: string };

/** Runs the parent side to completion: its exit status, result line and duration. */
async function runParent(command: string[]): Promise<{ status: number; result: Result; ms: number }> {
  const started = performance.now();
  const parent = Bun.spawn(command, { stdio: ["ignore", "pipe", "inherit"] });
  const status = await parent.exited;
  const ms = performance.now() - started;
  const result = JSON.parse((await new Response(parent.stdout).text()).trim()) as Result;
  if (result.ok) daemons.push(result.pid);
  return { status, result, ms };
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** pid, ppid, process group and session of `pid` from /proc/<pid>/stat. */
function stat(pid: number): { state: string; ppid: number; pgrp: number; session: number; tty: number } {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: f[0] ?? "", ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]), tty: Number(f[4]) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return stat(pid).state !== "Z";
  } catch {
    return false;
  }
}

/** Waits (5 ms steps, at most 1 s) until `/proc/<pid>/fd/<fd>` is gone. */
async function fdClosed(pid: number, fd: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (!existsSync(`/proc/${pid}/fd/${fd}`)) return true;
    await Bun.sleep(5);
  }
  return false;
}

async function expectDaemonized(pid: number): Promise<void> {
  const s = stat(pid);
  expect(s.session).toBe(pid); // setsid(): leader of a new session
  expect(s.pgrp).toBe(pid);
  expect(s.tty).toBe(0); // no controlling terminal
  for (const fd of [0, 1, 2]) expect(readlinkSync(`/proc/${pid}/fd/${fd}`)).toBe("/dev/null");
  // The readiness channel gets closed (the parent may exit between the
  // child's write and its close; checked before any connection reuses fd 3).
  expect(await fdClosed(pid, 3)).toBe(true);
  expect(readFileSync(`/proc/${pid}/environ`, "utf8")).toContain("PLB_DAEMON_CHILD=3");
}

describe("startDaemon", () => {
  test("returns only once the child accepts connections; the child runs in its own session", async () => {
    const port = await freePort();
    const { status, result, ms } = await runParent([BUN, SCRIPT, String(port), "serve", "300"]);
    expect(result.ok).toBe(true);
    expect(status).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(300); // the child listens only after 300 ms
    if (!result.ok) return;
    await expectDaemonized(result.pid); // before any connection could take fd 3
    expect(await accepts("127.0.0.1", port)).toBe(true);
    // The parent is gone; the daemon keeps serving (and writing to /dev/null).
    await Bun.sleep(100);
    expect(alive(result.pid)).toBe(true);
    expect(await echoOnce("127.0.0.1", port, "still there")).toBe("still there");
  });

  test("a port already in use: the parent returns the child's own error", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const { status, result } = await runParent([BUN, SCRIPT, String(taken.port), "serve", "0"]);
      expect(status).toBe(1);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toBe(`cannot listen on 127.0.0.1:${taken.port}: EADDRINUSE Failed to listen at 127.0.0.1`);
    } finally {
      taken.stop(true);
    }
  });

  test("a child that dies before it is ready: exit status reported", async () => {
    const { status, result } = await runParent([BUN, SCRIPT, "0", "crash"]);
    expect(status).toBe(1);
    expect(result).toEqual({ ok: false, message: "daemon exited with status 7 before it was ready" });
  });

  test("a child that never reports is killed after the timeout", async () => {
    const { result, ms } = await runParent([BUN, SCRIPT, "0", "hang", "300"]);
    expect(result).toEqual({ ok: false, message: "daemon did not report ready within 300 ms (killed)" });
    expect(ms).toBeGreaterThanOrEqual(300);
  });

  test("compiled binary: re-executes itself (and its libc backlog call works)", async () => {
    const binary = join(tmp, "plb-daemon-test");
    const build = Bun.spawnSync([BUN, "build", "--compile", SCRIPT, "--outfile", binary], { stderr: "pipe" });
    expect(build.exitCode).toBe(0);
    const port = await freePort();
    const { status, result } = await runParent([binary, String(port), "serve", "0", "19"]);
    expect(status).toBe(0);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(readlinkSync(`/proc/${result.pid}/exe`)).toBe(binary);
    const argv = readFileSync(`/proc/${result.pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    expect(argv.slice(1)).toEqual([String(port), "serve", "0", "19"]);
    await expectDaemonized(result.pid);
    // (the daemon's own listener: another process may use the port at another address)
    const line = Bun.spawnSync(["ss", "-ltnpH", `sport = :${port}`]).stdout.toString().split("\n").find((l) => l.includes(`pid=${result.pid},`)) ?? "";
    expect(line.trim().split(/\s+/)[2]).toBe("19");
    expect(await echoOnce("127.0.0.1", port, "compiled")).toBe("compiled");
  });
});
