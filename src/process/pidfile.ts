/**
 * The pid file: written atomically, refused while another plb owns it,
 * removed at exit only if it still holds our pid.
 *
 * After chroot the file's path no longer resolves, so writePidFile() keeps
 * its directory open (O_DIRECTORY | O_CLOEXEC; descriptors survive chroot)
 * and removePidFile() works through openat()/unlinkat() on that descriptor.
 * Removal still needs write permission on the directory for the user plb
 * runs as after dropping privileges; when that is missing it logs a warning
 * and leaves the file (the next start replaces a stale file). Where there is
 * no C library (Windows: no chroot either) the file is removed by its path.
 */
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, readFileSync, readlinkSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { PlbError } from "../errors.ts";
import { logger } from "../log.ts";
import * as libc from "./libc.ts";

const log = logger("pidfile");

/** Open directory descriptors of the pid files we wrote, by absolute path (-1: none kept, use the path). */
const written = new Map<string, { dirfd: number; name: string }>();

function parsePid(text: string): number | undefined {
  const match = /^\s*(\d{1,10})\s*$/.exec(text);
  const pid = match ? Number(match[1]) : 0;
  return pid > 0 && pid < 2 ** 31 ? pid : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether live process `pid` looks like a plb: its command line names plb,
 * or it runs our executable. When /proc cannot tell, assume it is (refusing
 * is safer than taking over a running instance's file).
 */
function looksLikePlb(pid: number): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, 2);
  } catch {
    return true;
  }
  if (argv.some((arg) => basename(arg).toLowerCase().includes("plb"))) return true;
  try {
    return readlinkSync(`/proc/${pid}/exe`) === readlinkSync("/proc/self/exe");
  } catch {
    return false;
  }
}

/**
 * The pid of the live plb that owns the pid file at `path` (plb --reload),
 * or a sentence saying why there is none.
 */
export function runningPid(path: string): { pid: number } | { error: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: e.code === "ENOENT" ? `no pid file ${path}: is plb running (with this pid file)?` : `cannot read pid file ${path}: ${e.message}` };
  }
  const pid = parsePid(text);
  if (pid === undefined) return { error: `pid file ${path} holds no pid` };
  if (!alive(pid)) return { error: `pid file ${path} names process ${pid}, which is gone` };
  if (!looksLikePlb(pid)) return { error: `pid file ${path} names process ${pid}, which is not plb` };
  return { pid };
}

/** Why the pid file at `path` must not be replaced, or undefined when it may. */
function ownerConflict(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PlbError("PIDFILE", `cannot read pid file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const pid = parsePid(text);
  if (pid === undefined) {
    log.warn(`replacing pid file ${path}: it holds no pid (${JSON.stringify(text.slice(0, 40))})`);
  } else if (pid === process.pid) {
    return undefined;
  } else if (!alive(pid)) {
    log.warn(`replacing stale pid file ${path}: process ${pid} is gone`);
  } else if (looksLikePlb(pid)) {
    return `pid file ${path} belongs to running plb process ${pid}`;
  } else {
    log.warn(`replacing stale pid file ${path}: process ${pid} is not plb`);
  }
  return undefined;
}

/**
 * Writes our pid to `path` (mode 0644, temp file + rename). Throws
 * PlbError("PIDFILE") if a live plb already owns the file.
 */
export function writePidFile(path: string): void {
  const abs = resolve(path);
  const dir = dirname(abs);
  const name = basename(abs);
  const tmp = `${dir}/.${name}.${process.pid}.tmp`;
  const fail = (what: string, err: unknown): PlbError =>
    new PlbError("PIDFILE", `${what} ${abs}: ${(err as Error).message}`, { cause: err });

  let dirfd = -1;
  if (libc.available()) {
    try {
      dirfd = libc.open(dir, libc.O_RDONLY | libc.O_DIRECTORY | libc.O_CLOEXEC);
    } catch (err) {
      throw fail("cannot open the directory of pid file", err);
    }
  }
  const closeDir = (fd: number) => fd >= 0 && libc.close(fd);
  try {
    const fd = openSync(tmp, "wx", 0o644);
    try {
      fchmodSync(fd, 0o644); // whatever the umask
      writeSync(fd, `${process.pid}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link() creates the file only if it does not exist: two starts cannot
    // both win. When it exists, check its owner, then replace it.
    let placed = false;
    try {
      linkSync(tmp, abs);
      placed = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" && (err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    }
    if (placed) {
      unlinkSync(tmp);
    } else {
      const conflict = ownerConflict(abs);
      if (conflict) throw new PlbError("PIDFILE", conflict);
      renameSync(tmp, abs);
    }
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never created
    }
    closeDir(dirfd);
    throw err instanceof PlbError ? err : fail("cannot write pid file", err);
  }
  const previous = written.get(abs);
  if (previous) closeDir(previous.dirfd);
  written.set(abs, { dirfd, name });
}

export type RemoveResult = "removed" | "missing" | "not-ours" | "failed";

/** Without a kept directory (no C library, no chroot): by the path, with node:fs. */
function removeByPath(abs: string): RemoveResult {
  try {
    if (parsePid(readFileSync(abs, "utf8")) !== process.pid) {
      log.warn(`pid file ${abs} no longer holds our pid: left in place`);
      return "not-ours";
    }
    unlinkSync(abs);
    return "removed";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    log.warn(`cannot remove pid file ${abs}: ${(err as Error).message}`);
    return "failed";
  }
}

/** Reads the pid in `name` under `dirfd` (works after chroot). */
function readPidAt(dirfd: number, name: string): number | undefined {
  const fd = libc.openat(dirfd, name, libc.O_RDONLY | libc.O_CLOEXEC);
  try {
    const buf = Buffer.alloc(64);
    return parsePid(buf.toString("utf8", 0, readSync(fd, buf, 0, buf.length, 0)));
  } finally {
    libc.close(fd);
  }
}

/**
 * Removes the pid file if it still holds our pid. Never throws: a failure
 * is logged and reported as "failed".
 */
export function removePidFile(path: string): RemoveResult {
  const abs = resolve(path);
  const kept = written.get(abs);
  written.delete(abs);
  if ((kept && kept.dirfd < 0) || !libc.available()) return removeByPath(abs);
  const dirfd = kept?.dirfd ?? libc.AT_FDCWD;
  const name = kept?.name ?? abs;
  try {
    if (readPidAt(dirfd, name) !== process.pid) {
      log.warn(`pid file ${abs} no longer holds our pid: left in place`);
      return "not-ours";
    }
    libc.unlinkat(dirfd, name);
    return "removed";
  } catch (err) {
    if (err instanceof libc.SyscallError && err.errno === libc.ENOENT) return "missing";
    log.warn(`cannot remove pid file ${abs}: ${(err as Error).message}`);
    return "failed";
  } finally {
    if (kept) libc.close(kept.dirfd);
  }
}
