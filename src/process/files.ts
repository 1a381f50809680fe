/**
 * Files the configuration names (the configuration itself, TLS certificates
 * and keys, error pages), readable again after the chroot.
 *
 * A reload reads them again, but after `chroot_dir` their paths no longer
 * resolve. So before the chroot, `keepDirectories` opens each of their
 * directories (O_DIRECTORY | O_CLOEXEC; descriptors survive chroot, as the
 * pid file's does) and, once `chrooted` is called, `readConfigured` opens a
 * file through its directory's descriptor (openat). A file in a directory
 * that was not kept cannot be read after the chroot: the error says so.
 * Permissions are checked as the user plb runs as by then (after the
 * privilege drop a key readable only by root cannot be read again).
 *
 * Trade-off, documented in the README: a kept directory descriptor is a way
 * out of the chroot for a process that is already compromised (fchdir);
 * plb keeps only the directories its configuration reads from.
 */
import { closeSync, fstatSync, readdirSync, readFileSync, readSync } from "node:fs";
import { constants } from "node:os";
import { basename, dirname, resolve } from "node:path";
import * as libc from "./libc.ts";

/** Kept directory descriptors, by absolute path. */
const kept = new Map<string, number>();
/** Where relative paths resolve (the working directory at start). */
let base = process.cwd();
/** The chroot in force, or undefined. */
let root: string | undefined;

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n as number, name]));

/**
 * An Error as node:fs would throw it (with `code`), for fileErrorReason; a
 * permission refused after the privilege drop says who was refused.
 */
function fsError(err: unknown): Error {
  const code = err instanceof libc.SyscallError ? ERRNO_NAMES.get(err.errno) : (err as NodeJS.ErrnoException).code;
  if (code === "EACCES" && dropped()) {
    return new Error(`permission denied (EACCES) to uid ${process.geteuid!()}, which plb runs as since it dropped privileges`);
  }
  if (!(err instanceof libc.SyscallError)) return err as Error;
  const e = new Error(err.message) as NodeJS.ErrnoException;
  e.code = code;
  e.errno = err.errno;
  return e;
}

let startedAsRoot = process.geteuid?.() === 0;
const dropped = (): boolean => startedAsRoot && process.geteuid?.() !== 0;

/** Keep the directories of `paths` open for reading after a chroot (before it; no-op without a C library). */
export function keepDirectories(paths: readonly string[]): void {
  base = process.cwd();
  startedAsRoot = process.geteuid?.() === 0;
  if (!libc.available()) return;
  for (const p of paths) {
    const dir = dirname(resolve(base, p));
    if (kept.has(dir)) continue;
    try {
      kept.set(dir, libc.open(dir, libc.O_RDONLY | libc.O_DIRECTORY | libc.O_CLOEXEC));
    } catch {
      // unreadable now: a reload says so when it needs it
    }
  }
}

/** The process chrooted to `dir`: configured paths are reached through kept directories from now on. */
export function chrooted(dir: string): void {
  root = dir;
}

/**
 * Read configured file `path` (relative paths from the start directory).
 * Throws an Error with a node:fs `code` (ENOENT, EACCES, …) or, after a
 * chroot, one that says the file's directory was not kept.
 */
export function readConfigured(path: string): Buffer {
  const abs = resolve(base, path);
  if (root === undefined) {
    try {
      return readFileSync(abs);
    } catch (err) {
      throw fsError(err);
    }
  }
  const dirfd = kept.get(dirname(abs));
  if (dirfd === undefined) {
    throw new Error(`outside chroot_dir ${root}, in a directory plb did not read from at start (restart plb to use it)`);
  }
  let fd: number;
  try {
    fd = libc.openat(dirfd, basename(abs), libc.O_RDONLY | libc.O_CLOEXEC);
  } catch (err) {
    throw fsError(err);
  }
  try {
    const size = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.max(4096, size - total + 1));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** Names found in each listed directory (absolute path), for listing again after the chroot. */
const listed = new Map<string, string[]>();

/**
 * The entries of configured directory `path` (a certificate directory),
 * sorted. After the chroot the directory cannot be listed by path: through
 * its kept descriptor via /proc/self/fd when the chroot has /proc, else the
 * names it held when last listed before the chroot (a file added since
 * needs a restart; files already known are read again).
 */
export function listConfiguredDir(path: string): string[] {
  const abs = resolve(base, path);
  if (root === undefined) {
    try {
      const names = readdirSync(abs).sort();
      listed.set(abs, names);
      return names;
    } catch (err) {
      throw fsError(err);
    }
  }
  const dirfd = kept.get(abs);
  if (dirfd === undefined) throw new Error(`outside chroot_dir ${root}, in a directory plb did not read from at start (restart plb to use it)`);
  try {
    return readdirSync(`/proc/self/fd/${dirfd}`).sort();
  } catch {
    const known = listed.get(abs);
    if (known === undefined) throw new Error(`cannot be listed inside chroot_dir ${root} (no /proc there) and was not listed before (restart plb)`);
    return known;
  }
}
