/**
 * The per-OS table (src/process/platform.ts): an entry for every build
 * target, and on this machine every number checked against the kernel
 * itself, through the same libc calls plb makes.
 */
import { expect, test } from "bun:test";
import { readFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { TARGETS } from "../build.ts";
import * as libc from "../src/process/libc.ts";
import { PLATFORM, PLATFORMS, platformFor } from "../src/process/platform.ts";
import { checkPrivileges } from "../src/process/privileges.ts";

test("every build target has a platform entry, with a C library unless it is Windows", () => {
  for (const t of TARGETS) {
    const p = platformFor(t.os === "windows" ? "win32" : t.os, t.arch);
    expect(p, t.name).toBeDefined();
    expect(p!.libc.length > 0, t.name).toBe(t.os !== "windows");
    expect(p!.privileges && p!.daemon, t.name).toBe(t.os !== "windows");
  }
  expect(new Set(PLATFORMS.map((p) => `${p.os}-${p.cpu}`)).size).toBe(PLATFORMS.length);
});

test("the numbers that differ between systems, as their headers define them", () => {
  const lx = platformFor("linux", "x64")!;
  const la = platformFor("linux", "arm64")!;
  const fb = platformFor("freebsd", "x64")!;
  const mac = platformFor("darwin", "arm64")!;
  expect([lx.O_DIRECTORY, la.O_DIRECTORY, fb.O_DIRECTORY, mac.O_DIRECTORY]).toEqual([0o200000, 0o40000, 0x20000, 0x100000]);
  expect([lx.O_CLOEXEC, la.O_CLOEXEC, fb.O_CLOEXEC, mac.O_CLOEXEC]).toEqual([0o2000000, 0o2000000, 0x100000, 0x1000000]);
  expect([lx.O_CREAT, la.O_CREAT, fb.O_CREAT, mac.O_CREAT]).toEqual([0o100, 0o100, 0x200, 0x200]);
  expect([lx.O_APPEND, la.O_APPEND, fb.O_APPEND, mac.O_APPEND]).toEqual([0o2000, 0o2000, 0x8, 0x8]);
  expect([lx.O_WRONLY, fb.O_WRONLY, mac.O_WRONLY]).toEqual([1, 1, 1]);
  expect([lx.AF_INET6, fb.AF_INET6, mac.AF_INET6]).toEqual([10, 28, 30]);
  // systemd notify: a unix datagram socket, its sockaddr_un, send flags, and the monotonic clock
  expect([lx.AF_UNIX, la.AF_UNIX, fb.AF_UNIX, mac.AF_UNIX]).toEqual([1, 1, 1, 1]);
  expect([lx.SOCK_DGRAM, fb.SOCK_DGRAM, mac.SOCK_DGRAM]).toEqual([2, 2, 2]);
  expect([lx.SOCK_CLOEXEC, la.SOCK_CLOEXEC, fb.SOCK_CLOEXEC, mac.SOCK_CLOEXEC]).toEqual([0o2000000, 0o2000000, 0x10000000, 0]);
  expect([lx.MSG_NOSIGNAL, fb.MSG_NOSIGNAL, mac.MSG_NOSIGNAL]).toEqual([0x4000, 0x20000, 0]);
  expect([lx.MSG_DONTWAIT, fb.MSG_DONTWAIT, mac.MSG_DONTWAIT]).toEqual([0x40, 0x80, 0x80]);
  expect([lx.SUN_PATH, la.SUN_PATH, fb.SUN_PATH, mac.SUN_PATH]).toEqual([108, 108, 104, 104]);
  expect([lx.CLOCK_MONOTONIC, la.CLOCK_MONOTONIC, fb.CLOCK_MONOTONIC, mac.CLOCK_MONOTONIC]).toEqual([1, 1, 4, 6]);
  expect([lx.SOL_SOCKET, fb.SOL_SOCKET, mac.SOL_SOCKET]).toEqual([1, 0xffff, 0xffff]);
  expect([lx.RLIMIT_NOFILE, fb.RLIMIT_NOFILE, mac.RLIMIT_NOFILE]).toEqual([7, 8, 8]);
  expect([lx.errnoFunction, fb.errnoFunction, mac.errnoFunction]).toEqual(["__errno_location", "__error", "__error"]);
  expect([lx.resIds, fb.resIds, mac.resIds]).toEqual([true, true, false]);
  expect(fb.libc).toEqual(["libc.so.7"]);
  expect(lx.libc).toContain("libc.musl-x86_64.so.1");
});

test("sockaddr: Linux's 16-bit family and BSD's length byte then family byte", () => {
  // AF_INET6 (BSD 28), port 8080, ::1
  const bsd = new Uint8Array(28);
  bsd.set([28, 28, 0x1f, 0x90]);
  bsd[23] = 1;
  expect(libc.decodeSockaddr(bsd, "bsd", 2, 28)).toEqual({ family: 28, port: 8080, address: Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 1 : 0)) });
  const linux = new Uint8Array(16);
  linux.set([2, 0, 0x00, 0x50, 127, 0, 0, 1]);
  expect(libc.decodeSockaddr(linux, "linux", 2, 10)).toEqual({ family: 2, port: 80, address: Uint8Array.from([127, 0, 0, 1]) });
});

test.skipIf(process.platform !== "linux")("on this machine the table agrees with the kernel (open flags, socket options, families, rlimit)", async () => {
  expect(PLATFORM.os).toBe("linux");
  // O_DIRECTORY: a directory opens, a file is refused with ENOTDIR (20)
  const d = libc.open("/", libc.O_RDONLY | libc.O_DIRECTORY | libc.O_CLOEXEC);
  const flags = /flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${d}`, "utf8"))![1];
  expect(parseInt(flags, 8) & libc.O_CLOEXEC).toBe(libc.O_CLOEXEC);
  libc.close(d);
  let errno = 0;
  try {
    libc.open("/etc/hostname", libc.O_RDONLY | libc.O_DIRECTORY);
  } catch (err) {
    errno = (err as libc.SyscallError).errno;
  }
  expect(errno).toBe(20);
  // O_WRONLY | O_APPEND | O_CREAT (the log file's reopen) create a file opened for appending
  const dir = libc.open(tmpdir(), libc.O_RDONLY | libc.O_DIRECTORY | libc.O_CLOEXEC);
  const logName = `plb-platform-${process.pid}.log`;
  const f = libc.openat(dir, logName, libc.O_WRONLY | libc.O_APPEND | libc.O_CREAT | libc.O_CLOEXEC, 0o600);
  const fileFlags = parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${f}`, "utf8"))![1], 8);
  expect(fileFlags & (3 | libc.O_APPEND)).toBe(libc.O_WRONLY | libc.O_APPEND);
  libc.close(f);
  libc.unlinkat(dir, logName);
  libc.close(dir);
  // AF_UNIX / SOCK_DGRAM / SOCK_CLOEXEC: a close-on-exec unix datagram socket
  const u = libc.socket(libc.AF_UNIX, libc.SOCK_DGRAM | libc.SOCK_CLOEXEC);
  expect(readlinkSync(`/proc/self/fd/${u}`)).toMatch(/^socket:\[\d+\]$/);
  const uFlags = parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${u}`, "utf8"))![1], 8);
  expect(uFlags & libc.O_CLOEXEC).toBe(libc.O_CLOEXEC);
  expect(libc.getsockoptInt(u, libc.SOL_SOCKET, 3 /* SO_TYPE */)).toBe(libc.SOCK_DGRAM);
  libc.close(u);
  // AT_FDCWD resolves relative to the working directory
  libc.close(libc.openat(libc.AT_FDCWD, ".", libc.O_RDONLY | libc.O_DIRECTORY));
  // SOL_SOCKET / SO_ACCEPTCONN on a listener, AF_INET6 from getsockname
  const l = Bun.listen({ hostname: "::1", port: 0, socket: { data() {} } });
  const fd = (l as unknown as { fd: number }).fd;
  expect(libc.getsockoptInt(fd, libc.SOL_SOCKET, libc.SO_ACCEPTCONN)).toBe(1);
  const name = libc.getsockname(fd);
  expect(name.family).toBe(libc.AF_INET6);
  expect(name.port).toBe(l.port);
  l.stop(true);
  // RLIMIT_NOFILE is the "Max open files" limit
  const [soft] = libc.getrlimit(libc.RLIMIT_NOFILE);
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((x) => x.startsWith("Max open files"))!;
  expect(String(soft)).toBe(line.split(/\s{2,}/)[1]);
});

test("where a drop is impossible (Windows), user, group and chroot_dir are configuration errors, not silently ignored", () => {
  const win = platformFor("win32", "x64")!;
  expect(checkPrivileges({ user: "nobody", chroot_dir: "/var/empty" }, win)).toEqual([
    { key: "user", message: '"user" is not supported on win32 (no chroot or privilege drop there): remove it' },
    { key: "chroot_dir", message: '"chroot_dir" is not supported on win32 (no chroot or privilege drop there): remove it' },
  ]);
  expect(checkPrivileges({}, win)).toEqual([]);
});
