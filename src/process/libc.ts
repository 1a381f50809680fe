/**
 * The one bun:ffi binding to libc.so.6 (glibc, Linux): the few system calls
 * Bun does not expose (chroot, setgroups, setres[ug]id, listen on an
 * existing socket, dup of a listening socket, the open-file limit, *at
 * calls on a kept directory descriptor).
 *
 * The library is opened on first use, and all symbols are bound in that one
 * dlopen(). Once anything here has been called, nothing more is read from
 * disk, so the functions keep working after chroot (privileges.ts calls
 * chroot through this module, which loads it before the root changes).
 * `dlopen("libc.so.6")` also works in a `bun build --compile` binary.
 *
 * Failures throw SyscallError ("FFI") with a message in the usual form:
 * `chroot("/var/empty"): Operation not permitted`. errno is read right after
 * the failing call, on the same (JS) thread, before anything else can run.
 *
 * glibc's set*id / setgroups wrappers apply the change to every thread of the
 * process (Bun runs several), unlike the raw system calls.
 */
import { CString, dlopen, FFIType, read } from "bun:ffi";
import { PlbError } from "../errors.ts";

const { i32, u32, u64, ptr: P } = FFIType;

const SYMBOLS = {
  chroot: { args: [P], returns: i32 },
  chdir: { args: [P], returns: i32 },
  setgroups: { args: [u64, P], returns: i32 },
  getgroups: { args: [i32, P], returns: i32 },
  setresgid: { args: [u32, u32, u32], returns: i32 },
  setresuid: { args: [u32, u32, u32], returns: i32 },
  getresgid: { args: [P, P, P], returns: i32 },
  getresuid: { args: [P, P, P], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  getsockname: { args: [i32, P, P], returns: i32 },
  getsockopt: { args: [i32, i32, i32, P, P], returns: i32 },
  // open/openat are variadic in C; the mode is always passed, which is
  // harmless on x86-64 and aarch64 Linux.
  open: { args: [P, i32, u32], returns: i32 },
  openat: { args: [i32, P, i32, u32], returns: i32 },
  unlinkat: { args: [i32, P, i32], returns: i32 },
  close: { args: [i32], returns: i32 },
  dup: { args: [i32], returns: i32 },
  getrlimit: { args: [i32, P], returns: i32 },
  setrlimit: { args: [i32, P], returns: i32 },
  __errno_location: { args: [], returns: P },
  strerror: { args: [i32], returns: P },
} as const;

type Lib = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];
let lib: Lib | undefined;

/** Opens libc now (call before chroot if nothing else has used it yet). */
export function loadLibc(): void {
  if (lib) return;
  try {
    lib = dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (err) {
    throw new PlbError("FFI", `cannot load libc.so.6: ${(err as Error).message}`, { cause: err });
  }
}

function libc(): Lib {
  loadLibc();
  return lib as Lib;
}

export const EPERM = 1;
export const ENOENT = 2;
export const EBADF = 9;
export const EACCES = 13;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOTSOCK = 88;

export const O_RDONLY = 0;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;
export const AT_FDCWD = -100;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOL_SOCKET = 1;
export const SO_ACCEPTCONN = 30;
/** getrlimit(2) resource: the open-file limit (Linux numbering). */
export const RLIMIT_NOFILE = 7;

/** A failed libc call; `errno` is the C errno. */
export class SyscallError extends PlbError {
  readonly errno: number;
  readonly syscall: string;
  constructor(call: string, errno: number) {
    super("FFI", `${call}: ${strerror(errno)}`);
    this.errno = errno;
    this.syscall = call.slice(0, call.indexOf("("));
  }
}

function errno(): number {
  const at = libc().__errno_location();
  return at === null ? 0 : read.i32(at, 0);
}

export function strerror(code: number): string {
  const at = libc().strerror(code);
  return at === null ? `errno ${code}` : new CString(at).toString();
}

/** NUL-terminated bytes for a `const char *` argument. */
function cstr(text: string): Buffer {
  return Buffer.from(`${text}\0`, "utf8");
}

/** Throws SyscallError when `rc` is -1; `call` names the call for the message. */
function check(rc: number, call: () => string): number {
  if (rc === -1) throw new SyscallError(call(), errno());
  return rc;
}

const q = (s: string): string => JSON.stringify(s);

export function chroot(path: string): void {
  check(libc().chroot(cstr(path)), () => `chroot(${q(path)})`);
}

export function chdir(path: string): void {
  check(libc().chdir(cstr(path)), () => `chdir(${q(path)})`);
}

/** setgroups(2); an empty list clears the supplementary groups. */
export function setgroups(gids: readonly number[]): void {
  const list = new Uint32Array(Math.max(gids.length, 1));
  list.set(gids);
  check(libc().setgroups(gids.length, list), () => `setgroups([${gids.join(", ")}])`);
}

export function getgroups(): number[] {
  const count = check(libc().getgroups(0, null), () => "getgroups()");
  const list = new Uint32Array(Math.max(count, 1));
  const n = check(libc().getgroups(count, list), () => "getgroups()");
  return Array.from(list.subarray(0, n));
}

export function setresgid(rgid: number, egid: number, sgid: number): void {
  check(libc().setresgid(rgid, egid, sgid), () => `setresgid(${rgid}, ${egid}, ${sgid})`);
}

export function setresuid(ruid: number, euid: number, suid: number): void {
  check(libc().setresuid(ruid, euid, suid), () => `setresuid(${ruid}, ${euid}, ${suid})`);
}

/** [real, effective, saved] ids. */
export function getresuid(): [number, number, number] {
  const [r, e, s] = [new Uint32Array(1), new Uint32Array(1), new Uint32Array(1)];
  check(libc().getresuid(r, e, s), () => "getresuid()");
  return [r[0], e[0], s[0]];
}

export function getresgid(): [number, number, number] {
  const [r, e, s] = [new Uint32Array(1), new Uint32Array(1), new Uint32Array(1)];
  check(libc().getresgid(r, e, s), () => "getresgid()");
  return [r[0], e[0], s[0]];
}

export function listen(fd: number, backlog: number): void {
  check(libc().listen(fd, backlog), () => `listen(${fd}, ${backlog})`);
}

export interface SockName {
  family: number;
  /** 4 (AF_INET) or 16 (AF_INET6) address bytes; empty for other families. */
  address: Uint8Array;
  port: number;
}

export function getsockname(fd: number): SockName {
  const buf = new Uint8Array(128);
  const len = new Uint32Array([buf.length]);
  check(libc().getsockname(fd, buf, len), () => `getsockname(${fd})`);
  const view = new DataView(buf.buffer);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2, false);
  if (family === AF_INET) return { family, port, address: buf.slice(4, 8) };
  if (family === AF_INET6) return { family, port, address: buf.slice(8, 24) };
  return { family, port: 0, address: new Uint8Array(0) };
}

/** An int-valued socket option. */
export function getsockoptInt(fd: number, level: number, name: number): number {
  const value = new Int32Array(1);
  const len = new Uint32Array([4]);
  check(libc().getsockopt(fd, level, name, value, len), () => `getsockopt(${fd}, ${level}, ${name})`);
  return value[0];
}

/** open(2) / openat(2); returns the new descriptor. */
export function open(path: string, flags: number, mode = 0): number {
  return check(libc().open(cstr(path), flags, mode), () => `open(${q(path)})`);
}

export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(libc().openat(dirfd, cstr(path), flags, mode), () => `openat(${dirfd}, ${q(path)})`);
}

export function unlinkat(dirfd: number, path: string, flags = 0): void {
  check(libc().unlinkat(dirfd, cstr(path), flags), () => `unlinkat(${dirfd}, ${q(path)})`);
}

export function close(fd: number): void {
  check(libc().close(fd), () => `close(${fd})`);
}

/** A second descriptor for the same open file (a listening socket kept while Bun's is closed). */
export function dup(fd: number): number {
  return check(libc().dup(fd), () => `dup(${fd})`);
}

/** [soft, hard] of a resource limit; Infinity for RLIM_INFINITY. */
export function getrlimit(resource: number): [number, number] {
  const lim = new BigUint64Array(2);
  check(libc().getrlimit(resource, lim), () => `getrlimit(${resource})`);
  const num = (v: bigint) => (v >= 0x7fffffffffffffffn ? Infinity : Number(v));
  return [num(lim[0]), num(lim[1])];
}

export function setrlimit(resource: number, soft: number, hard: number): void {
  const big = (v: number) => (v === Infinity ? 0xffffffffffffffffn : BigInt(v));
  const lim = new BigUint64Array([big(soft), big(hard)]);
  check(libc().setrlimit(resource, lim), () => `setrlimit(${resource}, ${soft}, ${hard})`);
}
