/**
 * The one bun:ffi binding to the C library: the few system calls Bun does
 * not expose (chroot, setgroups, set*id, listen on an existing socket, dup
 * of a listening socket, the open-file limit, *at calls on a kept directory
 * descriptor). Which library, how errno is read, and every constant and
 * struct layout come from process/platform.ts, per OS and CPU.
 *
 * The library is opened on first use, and all symbols are bound in that one
 * dlopen(). Once anything here has been called, nothing more is read from
 * disk, so the functions keep working after chroot (privileges.ts calls
 * chroot through this module, which loads it before the root changes).
 * dlopen also works in a `bun build --compile` binary. On Windows there is
 * none: `available()` is false and every call throws PlbError("FFI").
 *
 * Failures throw SyscallError ("FFI") with a message in the usual form:
 * `chroot("/var/empty"): Operation not permitted`. errno is read right after
 * the failing call, on the same (JS) thread, before anything else can run.
 *
 * The C library's set*id / setgroups wrappers apply the change to every
 * thread of the process (Bun runs several), unlike the raw system calls.
 */
import { CString, dlopen, FFIType, read } from "bun:ffi";
import { PlbError } from "../errors.ts";
import { PLATFORM } from "./platform.ts";

export { EACCES, EBADF, EMFILE, ENFILE, ENOENT, EPERM } from "./platform.ts";

const { i32, u32, u64, i64_fast, ptr: P } = FFIType;

const COMMON = {
  chroot: { args: [P], returns: i32 },
  chdir: { args: [P], returns: i32 },
  // size_t on Linux, int on the BSDs: the low 32 bits are what both read.
  setgroups: { args: [u64, P], returns: i32 },
  getgroups: { args: [i32, P], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  getsockname: { args: [i32, P, P], returns: i32 },
  getsockopt: { args: [i32, i32, i32, P, P], returns: i32 },
  // open/openat are variadic in C; the mode is always passed, which is
  // harmless on x86-64 and aarch64 (Linux, FreeBSD; macOS arm64 passes
  // variadic arguments on the stack, so there a mode of 0 is read as 0 too).
  open: { args: [P, i32, u32], returns: i32 },
  openat: { args: [i32, P, i32, u32], returns: i32 },
  unlinkat: { args: [i32, P, i32], returns: i32 },
  close: { args: [i32], returns: i32 },
  dup: { args: [i32], returns: i32 },
  socket: { args: [i32, i32, i32], returns: i32 },
  connect: { args: [i32, P, u32], returns: i32 },
  send: { args: [i32, P, u64, i32], returns: i64_fast },
  sendto: { args: [i32, P, u64, i32, P, u32], returns: i64_fast },
  clock_gettime: { args: [i32, P], returns: i32 },
  getrlimit: { args: [i32, P], returns: i32 },
  setrlimit: { args: [i32, P], returns: i32 },
  strerror: { args: [i32], returns: P },
  setuid: { args: [u32], returns: i32 },
  setgid: { args: [u32], returns: i32 },
  getuid: { args: [], returns: u32 },
  geteuid: { args: [], returns: u32 },
  getgid: { args: [], returns: u32 },
  getegid: { args: [], returns: u32 },
} as const;

const RES_IDS = {
  setresgid: { args: [u32, u32, u32], returns: i32 },
  setresuid: { args: [u32, u32, u32], returns: i32 },
  getresgid: { args: [P, P, P], returns: i32 },
  getresuid: { args: [P, P, P], returns: i32 },
} as const;

const ERRNO = { errno: { args: [], returns: P } } as const;

// The bound functions, typed by hand: the symbol table is built per platform.
interface Lib {
  chroot(p: Buffer): number;
  chdir(p: Buffer): number;
  setgroups(n: number, list: Uint32Array): number;
  getgroups(n: number, list: Uint32Array | null): number;
  listen(fd: number, backlog: number): number;
  getsockname(fd: number, buf: Uint8Array, len: Uint32Array): number;
  getsockopt(fd: number, level: number, name: number, value: Int32Array, len: Uint32Array): number;
  open(p: Buffer, flags: number, mode: number): number;
  openat(dirfd: number, p: Buffer, flags: number, mode: number): number;
  unlinkat(dirfd: number, p: Buffer, flags: number): number;
  close(fd: number): number;
  dup(fd: number): number;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number | bigint;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number): number | bigint;
  clock_gettime(clock: number, ts: BigInt64Array): number;
  getrlimit(resource: number, lim: BigUint64Array): number;
  setrlimit(resource: number, lim: BigUint64Array): number;
  strerror(code: number): ReturnType<typeof read.ptr> | null;
  setuid(id: number): number;
  setgid(id: number): number;
  getuid(): number;
  geteuid(): number;
  getgid(): number;
  getegid(): number;
  setresgid?(r: number, e: number, s: number): number;
  setresuid?(r: number, e: number, s: number): number;
  getresgid?(r: Uint32Array, e: Uint32Array, s: Uint32Array): number;
  getresuid?(r: Uint32Array, e: Uint32Array, s: Uint32Array): number;
  errno(): ReturnType<typeof read.ptr> | null;
}

let lib: Lib | undefined;
let unavailable: string | undefined;

function bind(): Lib {
  const table: Record<string, { args: readonly FFIType[]; returns: FFIType }> = { ...COMMON, ...(PLATFORM.resIds ? RES_IDS : {}) };
  const errnoName = PLATFORM.errnoFunction;
  const why: string[] = [];
  for (const name of PLATFORM.libc) {
    try {
      const { symbols } = dlopen(name, { ...table, [errnoName]: ERRNO.errno });
      const s = symbols as unknown as Record<string, unknown>;
      return { ...(s as unknown as Lib), errno: s[errnoName] as Lib["errno"] };
    } catch (err) {
      why.push(`${name}: ${(err as Error).message}`);
    }
  }
  throw new Error(PLATFORM.libc.length === 0 ? `no C library on ${PLATFORM.os}` : why.join("; "));
}

/** Opens the C library now (call before chroot if nothing else has used it yet). */
export function loadLibc(): void {
  if (lib) return;
  if (unavailable) throw new PlbError("FFI", `cannot load the C library: ${unavailable}`);
  try {
    lib = bind();
  } catch (err) {
    unavailable = (err as Error).message;
    throw new PlbError("FFI", `cannot load the C library: ${unavailable}`, { cause: err });
  }
}

/** Whether the C library can be used here (false on Windows). */
export function available(): boolean {
  try {
    loadLibc();
    return true;
  } catch {
    return false;
  }
}

function libc(): Lib {
  loadLibc();
  return lib as Lib;
}

export const ENOTSOCK = PLATFORM.ENOTSOCK;
export const O_RDONLY = PLATFORM.O_RDONLY;
export const O_DIRECTORY = PLATFORM.O_DIRECTORY;
export const O_CLOEXEC = PLATFORM.O_CLOEXEC;
export const O_WRONLY = PLATFORM.O_WRONLY;
export const O_CREAT = PLATFORM.O_CREAT;
export const O_APPEND = PLATFORM.O_APPEND;
export const AT_FDCWD = PLATFORM.AT_FDCWD;
export const AF_INET = PLATFORM.AF_INET;
export const AF_INET6 = PLATFORM.AF_INET6;
export const SOL_SOCKET = PLATFORM.SOL_SOCKET;
export const SO_ACCEPTCONN = PLATFORM.SO_ACCEPTCONN;
export const AF_UNIX = PLATFORM.AF_UNIX;
export const SOCK_DGRAM = PLATFORM.SOCK_DGRAM;
export const SOCK_CLOEXEC = PLATFORM.SOCK_CLOEXEC;
export const MSG_NOSIGNAL = PLATFORM.MSG_NOSIGNAL;
export const MSG_DONTWAIT = PLATFORM.MSG_DONTWAIT;
/** getrlimit(2) resource: the open-file limit. */
export const RLIMIT_NOFILE = PLATFORM.RLIMIT_NOFILE;

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
  const at = libc().errno();
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

/**
 * setresgid(2). Without it (macOS) only r = e = s can be asked for, done
 * with setgid(2), which as root sets all three.
 */
export function setresgid(rgid: number, egid: number, sgid: number): void {
  const c = libc();
  const call = () => `setresgid(${rgid}, ${egid}, ${sgid})`;
  if (c.setresgid) check(c.setresgid(rgid, egid, sgid), call);
  else if (rgid === egid && egid === sgid) check(c.setgid(rgid), call);
  else throw new PlbError("FFI", `${call()}: not available on ${PLATFORM.os}`);
}

export function setresuid(ruid: number, euid: number, suid: number): void {
  const c = libc();
  const call = () => `setresuid(${ruid}, ${euid}, ${suid})`;
  if (c.setresuid) check(c.setresuid(ruid, euid, suid), call);
  else if (ruid === euid && euid === suid) check(c.setuid(ruid), call);
  else throw new PlbError("FFI", `${call()}: not available on ${PLATFORM.os}`);
}

/** [real, effective, saved] ids (saved = effective where the OS cannot tell, macOS). */
export function getresuid(): [number, number, number] {
  const c = libc();
  if (!c.getresuid) return [c.getuid(), c.geteuid(), c.geteuid()];
  const [r, e, s] = [new Uint32Array(1), new Uint32Array(1), new Uint32Array(1)];
  check(c.getresuid(r, e, s), () => "getresuid()");
  return [r[0], e[0], s[0]];
}

export function getresgid(): [number, number, number] {
  const c = libc();
  if (!c.getresgid) return [c.getgid(), c.getegid(), c.getegid()];
  const [r, e, s] = [new Uint32Array(1), new Uint32Array(1), new Uint32Array(1)];
  check(c.getresgid(r, e, s), () => "getresgid()");
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

/** The family of a sockaddr: a 16-bit field (Linux) or the byte after sa_len (BSD). */
export function sockaddrFamily(buf: Uint8Array, layout = PLATFORM.sockaddr): number {
  return layout === "bsd" ? buf[1] : new DataView(buf.buffer, buf.byteOffset).getUint16(0, true);
}

/** Decode a sockaddr_in / sockaddr_in6 (ports in network order; addresses at the same offsets everywhere). */
export function decodeSockaddr(buf: Uint8Array, layout = PLATFORM.sockaddr, inet = AF_INET, inet6 = AF_INET6): SockName {
  const family = sockaddrFamily(buf, layout);
  const port = (buf[2] << 8) | buf[3];
  if (family === inet) return { family, port, address: buf.slice(4, 8) };
  if (family === inet6) return { family, port, address: buf.slice(8, 24) };
  return { family, port: 0, address: new Uint8Array(0) };
}

export function getsockname(fd: number): SockName {
  const buf = new Uint8Array(128);
  const len = new Uint32Array([buf.length]);
  check(libc().getsockname(fd, buf, len), () => `getsockname(${fd})`);
  return decodeSockaddr(buf);
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

/** socket(2); returns the new descriptor. */
export function socket(domain: number, type: number, protocol = 0): number {
  return check(libc().socket(domain, type, protocol), () => `socket(${domain}, ${type}, ${protocol})`);
}

export function connect(fd: number, addr: Uint8Array, length: number, what = "address"): void {
  check(libc().connect(fd, addr, length), () => `connect(${fd}, ${what})`);
}

/** send(2) on a connected socket; returns the bytes sent. */
export function send(fd: number, data: Uint8Array, flags = 0): number {
  return check(Number(libc().send(fd, data, data.length, flags)), () => `send(${fd})`);
}

export function sendto(fd: number, data: Uint8Array, flags: number, addr: Uint8Array, length: number, what = "address"): number {
  return check(Number(libc().sendto(fd, data, data.length, flags, addr, length)), () => `sendto(${fd}, ${what})`);
}

/** CLOCK_MONOTONIC in microseconds (clock_gettime(2); struct timespec is two 64-bit fields on every 64-bit system). */
export function monotonicMicroseconds(): bigint {
  const ts = new BigInt64Array(2);
  check(libc().clock_gettime(PLATFORM.CLOCK_MONOTONIC, ts), () => "clock_gettime(CLOCK_MONOTONIC)");
  return ts[0] * 1_000_000n + ts[1] / 1000n;
}

/** A resource limit as the kernel gives it (rlim_t is 64 bits on every 64-bit system plb runs on). */
export interface RawLimit {
  soft: bigint;
  hard: bigint;
}

export function getrlimitRaw(resource: number): RawLimit {
  const lim = new BigUint64Array(2);
  check(libc().getrlimit(resource, lim), () => `getrlimit(${resource})`);
  return { soft: lim[0], hard: lim[1] };
}

/** Sets a limit to values read with getrlimitRaw (RLIM_INFINITY differs between systems: pass it back as read). */
export function setrlimitRaw(resource: number, limit: RawLimit): void {
  const lim = new BigUint64Array([limit.soft, limit.hard]);
  check(libc().setrlimit(resource, lim), () => `setrlimit(${resource}, ${limit.soft}, ${limit.hard})`);
}

/** [soft, hard] of a resource limit; Infinity for RLIM_INFINITY (any value of 2^63 - 1 or more). */
export function getrlimit(resource: number): [number, number] {
  const { soft, hard } = getrlimitRaw(resource);
  const num = (v: bigint) => (v >= 0x7fffffffffffffffn ? Infinity : Number(v));
  return [num(soft), num(hard)];
}
