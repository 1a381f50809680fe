/**
 * dropPrivileges() with real system calls: a child process binds a port
 * below 1024 as root, drops to nobody:nogroup inside a chroot, and must keep
 * serving with no way back to root.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPrivileges } from "../src/process/privileges.ts";
import { accepts, BUN, echoOnce, JsonLines, threadStatus } from "./support/child.ts";
import { compiledForNobody } from "./support/for-nobody.ts";

const CHILD = join(import.meta.dir, "support", "drop-child.ts");
const SETPRIV = "/usr/bin/setpriv";
const isRoot = process.getuid?.() === 0;
const children: Bun.Subprocess[] = [];
const dirs: string[] = [];

interface ChildLine {
  event: "ready" | "error";
  port: number;
  code?: string;
  message?: string;
  etcVisible?: boolean;
  lowBind?: string;
  summary?: { startedAsRoot: boolean; uid: number; gid: number; chroot?: string; warnings: string[] };
}

function start(options: Record<string, unknown>, prefix: string[] = [], program = [BUN, CHILD]) {
  const proc = Bun.spawn([...prefix, ...program, JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, HOME: "/tmp" },
  });
  children.push(proc);
  const lines = new JsonLines(proc.stdout);
  return { proc, lines, line: lines.next<ChildLine>() };
}

function tempDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "plb-chroot-")));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)("dropPrivileges as root", () => {
  test("drops to nobody:nogroup in a chroot and keeps serving a port below 1024", async () => {
    const root = tempDir();
    // Start with supplementary groups (when setpriv exists) so clearing them is observable.
    const withGroups = existsSync(SETPRIV) ? [SETPRIV, "--groups=4,27"] : [];
    const { proc, line } = start({ user: "nobody", group: "nogroup", chroot_dir: root, lowPort: true }, withGroups);
    const ready = await line;
    expect(ready.event).toBe("ready");
    expect(ready.port).toBeLessThan(1024);
    expect(ready.summary).toMatchObject({ startedAsRoot: true, uid: 65534, gid: 65534, chroot: root, warnings: [] });

    // Every thread, not only the main one, has dropped all ids and groups.
    const threads = threadStatus(proc.pid);
    expect(threads.length).toBeGreaterThan(1);
    for (const status of threads) {
      expect(status.Uid?.split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
      expect(status.Gid?.split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
      expect(status.Groups).toBe("");
      expect(status.CapEff).toBe("0000000000000000");
    }
    expect(readlinkSync(`/proc/${proc.pid}/root`)).toBe(root);
    expect(ready.etcVisible).toBe(false); // the empty chroot hides /etc
    expect(ready.lowBind).toBe("EACCES"); // a new port below 1024 is refused

    // The listener bound before the drop still works.
    expect(await echoOnce("127.0.0.1", ready.port, "ping after drop")).toBe("ping after drop");
  });

  test("the pid file is removed after chroot through the kept directory descriptor", async () => {
    const runDir = tempDir();
    chownSync(runDir, 65534, 65534); // nobody may unlink in it
    const pidfile = join(runDir, "plb.pid");
    const { proc, lines, line } = start({ user: "nobody", chroot_dir: tempDir(), pidfile });
    expect((await line).event).toBe("ready");
    expect(readFileSync(pidfile, "utf8")).toBe(`${proc.pid}\n`);
    proc.kill("SIGTERM");
    expect(await lines.next()).toEqual({ event: "exit", pidfile: "removed" });
    expect(await proc.exited).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  });

  test("a pid file in a directory the dropped user cannot write is left, with a warning", async () => {
    const pidfile = join(tempDir(), "plb.pid"); // root-owned directory
    const { proc, lines, line } = start({ user: "nobody", chroot_dir: tempDir(), pidfile });
    expect((await line).event).toBe("ready");
    proc.kill("SIGTERM");
    expect(await lines.next()).toEqual({ event: "exit", pidfile: "failed" });
    expect(await proc.exited).toBe(0);
    expect(existsSync(pidfile)).toBe(true);
  });

  test("a nonexistent user is a clear error and the child stops serving", async () => {
    const { proc, line } = start({ user: "plb-no-such-user", chroot_dir: tempDir(), lowPort: true });
    const failed = await line;
    expect(failed).toMatchObject({ event: "error", code: "PRIVILEGES" });
    expect(failed.message).toBe('user "plb-no-such-user" not found in /etc/passwd');
    expect(await proc.exited).toBe(3);
    expect(await accepts("127.0.0.1", failed.port)).toBe(false);
  });

  test("a nonexistent group is a clear error", async () => {
    const { proc, line } = start({ user: "nobody", group: "plb-no-such-group" });
    expect(await line).toMatchObject({ event: "error", message: 'group "plb-no-such-group" not found in /etc/group' });
    expect(await proc.exited).toBe(3);
  });

  test("a missing chroot directory reports the system error", async () => {
    const missing = join(tempDir(), "missing");
    const { proc, line } = start({ user: "nobody", chroot_dir: missing });
    const failed = await line;
    expect(failed.code).toBe("PRIVILEGES");
    expect(failed.message).toBe(`cannot chroot: chroot(${JSON.stringify(missing)}): No such file or directory`);
    expect(await proc.exited).toBe(3);
  });

  test("chroot_dir without user is refused (root would stay root)", async () => {
    const { proc, line } = start({ chroot_dir: tempDir() });
    const failed = await line;
    expect(failed.code).toBe("PRIVILEGES");
    expect(failed.message).toBe('"chroot_dir" needs "user" when started as root');
    expect(await proc.exited).toBe(3);
  });

  test("numeric ids are accepted; the group defaults to the user's primary group", async () => {
    const { proc, line } = start({ user: "65534" });
    const ready = await line;
    expect(ready.summary).toMatchObject({ uid: 65534, gid: 65534 });
    expect(threadStatus(proc.pid)[0]?.Uid).toBe("65534\t65534\t65534\t65534");
    expect(ready.etcVisible).toBe(true); // no chroot_dir: no chroot
  });

  test("nothing configured: stays root with a warning", async () => {
    const { proc, line } = start({});
    const ready = await line;
    expect(ready.summary).toMatchObject({ startedAsRoot: true, uid: 0 });
    expect(ready.summary?.warnings[0]).toContain("running as root");
    expect(threadStatus(proc.pid)[0]?.Uid).toBe("0\t0\t0\t0");
  });

  test.skipIf(!existsSync(SETPRIV))("not root (via setpriv): settings ignored with warnings", async () => {
    const setpriv = [SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups"];
    // compiled outside the checkout: nobody may not be able to enter it
    const { proc, line } = start({ user: "nobody", chroot_dir: tempDir() }, setpriv, [compiledForNobody(CHILD)]);
    const ready = await line;
    expect(ready.event).toBe("ready");
    expect(ready.summary).toMatchObject({ startedAsRoot: false, uid: 65534, gid: 65534 });
    expect(ready.summary?.warnings).toEqual(['"user" and "chroot_dir" ignored: not started as root']);
    expect(readlinkSync(`/proc/${proc.pid}/root`)).toBe("/");
    expect(await echoOnce("127.0.0.1", ready.port, "unprivileged")).toBe("unprivileged");
  });

  test("compiled binary: the same drop works (libc via bun:ffi, no /proc in the chroot)", async () => {
    const root = tempDir();
    const binary = join(tempDir(), "plb-drop-test");
    const build = Bun.spawnSync([BUN, "build", "--compile", CHILD, "--outfile", binary], { stderr: "pipe" });
    expect(build.exitCode).toBe(0);
    const { proc, line } = start({ user: "nobody", group: "nogroup", chroot_dir: root, lowPort: true }, [], [binary]);
    const ready = await line;
    expect(ready.summary).toMatchObject({ uid: 65534, gid: 65534, chroot: root });
    expect(threadStatus(proc.pid)[0]?.Uid).toBe("65534\t65534\t65534\t65534");
    expect(readlinkSync(`/proc/${proc.pid}/root`)).toBe(root);
    expect(await echoOnce("127.0.0.1", ready.port, "compiled")).toBe("compiled");
  });
});

// What a start checks before binding (and --check whoever runs it): no system call changes anything.
describe("checkPrivileges", () => {
  test("known user, group and an existing chroot directory: no problem", () => {
    expect(checkPrivileges({ user: "nobody", group: "nogroup", chroot_dir: tmpdir() })).toEqual([]);
    expect(checkPrivileges({})).toEqual([]);
    expect(checkPrivileges({ user: "65534" })).toEqual([]); // numeric, the primary group from /etc/passwd
  });

  test("every problem at once, each with its key", () => {
    const file = join(tempDir(), "file");
    writeFileSync(file, "");
    expect(checkPrivileges({ user: "plb-no-such-user", group: "plb-no-such-group", chroot_dir: file })).toEqual([
      { key: "user", message: 'user "plb-no-such-user" not found in /etc/passwd' },
      { key: "group", message: 'group "plb-no-such-group" not found in /etc/group' },
      { key: "chroot_dir", message: `chroot_dir ${JSON.stringify(file)} is not a directory` },
    ]);
    expect(checkPrivileges({ user: "nobody", chroot_dir: join(file, "sub") })).toEqual([
      { key: "chroot_dir", message: `chroot_dir ${JSON.stringify(join(file, "sub"))} is not a directory` },
    ]);
    expect(checkPrivileges({ user: "nobody", chroot_dir: "/plb-no-such-dir" })).toEqual([
      { key: "chroot_dir", message: 'chroot_dir "/plb-no-such-dir" does not exist' },
    ]);
  });

  test("the rules of a start as root: user root, group or chroot_dir without user, a uid without an entry and no group", () => {
    expect(checkPrivileges({ user: "root" })).toEqual([{ key: "user", message: 'user "root" is root (uid 0): choose an unprivileged user' }]);
    expect(checkPrivileges({ group: "nogroup", chroot_dir: tmpdir() })).toEqual([
      { key: "group", message: '"group" and "chroot_dir" need "user" when started as root' },
    ]);
    expect(checkPrivileges({ user: "4000000000" })).toEqual([{ key: "user", message: 'user 4000000000 has no /etc/passwd entry: set "group" too' }]);
    expect(checkPrivileges({ user: "4000000000", group: "nogroup" })).toEqual([]);
  });
});
