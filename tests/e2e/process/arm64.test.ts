/**
 * The linux-arm64 binary, run here under qemu-user (Debian's
 * qemu-user-static, with libc6-arm64-cross for its loader and libc): its
 * FFI constants and struct layouts are aarch64's, not x86-64's (issue 9:
 * started as root it could not open the pid file's directory, because
 * O_DIRECTORY differs). --version, --check, and a real start as root: pid
 * file, a drop to nobody (setgroups, setresgid, setresuid, getres*id) and
 * a tcp relay.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../../support/backends.ts";
import { freePorts } from "../../support/ports.ts";
import { BUN, ROOT, tempDir, writeConfig } from "../../support/plb.ts";
import { RawClient } from "../../support/raw-client.ts";

const QEMU = "/usr/bin/qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu";
const out = tempDir("plb-arm64-");
const binary = join(out, "plb-linux-arm64");
const run = (args: string[]) => [QEMU, "-L", SYSROOT, binary, ...args];

beforeAll(() => {
  const r = Bun.spawnSync([BUN, join(ROOT, "build.ts"), "linux-arm64"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, PLB_DIST: out } });
  if (r.exitCode !== 0) throw new Error(`bun build.ts linux-arm64 failed:\n${r.stderr}`);
}, 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

test("the arm64 binary runs under qemu: --version names the commit, --check reads a configuration", async () => {
  expect(existsSync(QEMU)).toBe(true); // tests/install-peers.sh installs it
  const v = Bun.spawnSync(run(["--version"]), { stdout: "pipe", stderr: "pipe" });
  expect(v.stdout.toString()).toMatch(/^plb \d+\.\d+\.\d+ \([0-9a-f]{7,}(, modified)?\)\n$/);
  const [port] = await freePorts(1);
  const config = writeConfig(`[[service]]\nname = "arm"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:9"]\n`);
  const c = Bun.spawnSync(run(["--check", "--config", config]), { stdout: "pipe", stderr: "pipe" });
  expect(c.stderr.toString()).toBe("");
  expect(c.stdout.toString()).toContain("configuration OK: 1 service(s)");
  expect(c.exitCode).toBe(0);
}, 30_000);

test.skipIf(process.getuid?.() !== 0)("started as root under qemu: pid file written and removed, privileges dropped to nobody, bytes relayed", async () => {
  const echo = backend("echo");
  const [port] = await freePorts(1);
  const runDir = tempDir("plb-arm64-run-");
  chmodSync(runDir, 0o755);
  chownSync(runDir, 65534, 65534); // nobody may remove the pid file after the drop
  const pidfile = join(runDir, "plb.pid");
  const config = writeConfig(`user = "nobody"\n[[service]]\nname = "arm"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:${echo.port}"]\n`);
  const proc = Bun.spawn(run(["--config", config, "--pidfile", pidfile, "--logfile", "-"]), { stdout: "ignore", stderr: "pipe" });
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  try {
    const deadline = Date.now() + 20_000;
    while (!/ready \(pid/.test(log) && proc.exitCode === null && Date.now() < deadline) await Bun.sleep(50);
    expect(log).toMatch(/running as nobody \(65534:65534\) \(no chroot_dir\)/);
    expect(log).toMatch(/ready \(pid/);
    expect(Number(readFileSync(pidfile, "utf8"))).toBe(proc.pid);
    const uid = readFileSync(`/proc/${proc.pid}/status`, "utf8").match(/^Uid:\s+(.*)$/m)![1];
    expect(uid.split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
    const c = await RawClient.open(port);
    c.write("through arm64\n");
    expect(await c.until(() => c.text === "through arm64\n", 5000)).toBe(true);
    c.close();
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(log).toMatch(/stopped/);
    expect(existsSync(pidfile)).toBe(false); // removed through the directory kept open (openat/unlinkat)
  } finally {
    proc.kill("SIGKILL");
    echo.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
}, 60_000);
