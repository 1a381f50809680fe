/**
 * The log file: an append-mode descriptor, and its directory kept open so
 * that the file can be opened again by name after logrotate renamed it,
 * also after chroot (the path no longer resolves there) and after
 * privileges were dropped.
 *
 * As for the pid file (process/pidfile.ts), the directory is opened with
 * O_DIRECTORY | O_CLOEXEC when the file is set; `reopen()` opens
 * `openat(dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)` and
 * only then swaps the descriptor and closes the old one, so a failure leaves
 * the old descriptor in use. Creating the new file needs write permission on
 * the directory for the user plb runs as by then; opening one that logrotate
 * created (`create 0640 <user> <group>`) only needs write permission on the
 * file. Where there is no C library (Windows: no chroot either), or the
 * directory cannot be opened, the file is reopened by its absolute path.
 */
import { closeSync, openSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import * as libc from "./process/libc.ts";

const MODE = 0o640;

export class LogFile {
  /** Absolute path (relative paths are resolved when set: plb later chdirs to /). */
  readonly path: string;
  readonly directory: string;
  private current: number;
  private readonly dirfd: number;
  private readonly name: string;

  /** Opens `path` for appending (creating it, mode 0640 less the umask); throws like fs.openSync. */
  constructor(path: string) {
    this.path = resolve(path);
    this.directory = dirname(this.path);
    this.name = basename(this.path);
    this.current = openSync(this.path, "a", MODE);
    let dirfd = -1;
    if (libc.available()) {
      try {
        dirfd = libc.open(this.directory, libc.O_RDONLY | libc.O_DIRECTORY | libc.O_CLOEXEC);
      } catch {
        // not readable as a directory (odd permissions): reopen by path
      }
    }
    this.dirfd = dirfd;
  }

  get fd(): number {
    return this.current;
  }

  /** Whether reopen() works through the kept directory (and so after chroot). */
  get keepsDirectory(): boolean {
    return this.dirfd >= 0;
  }

  /**
   * Opens the file by its name again and writes there from now on; the old
   * descriptor is closed. Throws (libc.SyscallError, or an fs error without
   * a kept directory) and keeps the old descriptor when that fails.
   */
  reopen(): void {
    const next =
      this.dirfd >= 0
        ? libc.openat(this.dirfd, this.name, libc.O_WRONLY | libc.O_APPEND | libc.O_CREAT | libc.O_CLOEXEC, MODE)
        : openSync(this.path, "a", MODE);
    const old = this.current;
    this.current = next;
    closeQuietly(old);
  }

  close(): void {
    closeQuietly(this.current);
    if (this.dirfd >= 0) libc.close(this.dirfd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
