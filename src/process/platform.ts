/**
 * What differs between the systems plb is built for, in one table: the C
 * library bun:ffi opens, how errno is read, and the numbers and layouts the
 * few libc calls plb makes depend on. bun:ffi passes numbers as they are,
 * so every value must be the one of that OS and CPU (O_DIRECTORY is
 * 0o200000 on x86-64 Linux and 0o40000 on aarch64 Linux).
 *
 * Sources: Linux uapi headers (asm-generic/fcntl.h, arch/arm64 fcntl.h,
 * socket.h, resource.h, time.h) and glibc's sys/un.h, FreeBSD sys/fcntl.h,
 * sys/socket.h, sys/resource.h, sys/un.h, sys/_clock_id.h, macOS
 * sys/fcntl.h, sys/socket.h, sys/resource.h, sys/un.h, time.h.
 * Windows has no libc that plb uses: no chroot, no privilege drop, no
 * daemon, no backlog change (Bun's own is kept).
 */

export type OsName = "linux" | "darwin" | "freebsd" | "win32";
export type CpuName = "x64" | "arm64";

export interface Platform {
  readonly os: OsName;
  readonly cpu: CpuName;
  /** C libraries to try with dlopen, in order; empty: none (Windows). */
  readonly libc: readonly string[];
  /** The function returning errno's address. */
  readonly errnoFunction: "__errno_location" | "__error";
  /** setresuid / setresgid / getresuid / getresgid exist (not on macOS). */
  readonly resIds: boolean;
  /** sockaddr starts with a length byte, then a one-byte family (BSD), or a two-byte family (Linux). */
  readonly sockaddr: "linux" | "bsd";
  readonly O_RDONLY: number;
  readonly O_DIRECTORY: number;
  readonly O_CLOEXEC: number;
  readonly O_WRONLY: number;
  readonly O_CREAT: number;
  readonly O_APPEND: number;
  readonly AT_FDCWD: number;
  readonly AF_INET: number;
  readonly AF_INET6: number;
  readonly SOL_SOCKET: number;
  readonly SO_ACCEPTCONN: number;
  readonly AF_UNIX: number;
  readonly SOCK_DGRAM: number;
  /** socket(2) type flag; 0 where there is none (macOS). */
  readonly SOCK_CLOEXEC: number;
  /** send(2) flag: no SIGPIPE; 0 where there is none (macOS). */
  readonly MSG_NOSIGNAL: number;
  /** send(2) flag: fail with EAGAIN rather than block. */
  readonly MSG_DONTWAIT: number;
  /** Size of sockaddr_un's sun_path (its offset is 2 everywhere: a 16-bit family, or sun_len and a byte of family). */
  readonly SUN_PATH: number;
  /** clock_gettime(2) clock id of CLOCK_MONOTONIC. */
  readonly CLOCK_MONOTONIC: number;
  readonly RLIMIT_NOFILE: number;
  readonly ENOTSOCK: number;
  /** Where a process's open descriptors are listed, if anywhere. */
  readonly fdDir: string | undefined;
  /** A chroot and a drop to user/group are possible. */
  readonly privileges: boolean;
  /** --daemonize is possible (a new session, setsid). */
  readonly daemon: boolean;
}

/** The same on every system: errno values plb looks at. */
export const EPERM = 1;
export const ENOENT = 2;
export const EBADF = 9;
export const EACCES = 13;
export const ENFILE = 23;
export const EMFILE = 24;

const LINUX = {
  os: "linux",
  errnoFunction: "__errno_location",
  resIds: true,
  sockaddr: "linux",
  O_RDONLY: 0,
  O_CLOEXEC: 0o2000000,
  O_WRONLY: 1,
  O_CREAT: 0o100,
  O_APPEND: 0o2000,
  AT_FDCWD: -100,
  AF_INET: 2,
  AF_INET6: 10,
  SOL_SOCKET: 1,
  SO_ACCEPTCONN: 30,
  AF_UNIX: 1,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0o2000000,
  MSG_NOSIGNAL: 0x4000,
  MSG_DONTWAIT: 0x40,
  SUN_PATH: 108,
  CLOCK_MONOTONIC: 1,
  RLIMIT_NOFILE: 7,
  ENOTSOCK: 88,
  fdDir: "/proc/self/fd",
  privileges: true,
  daemon: true,
} as const;

const FREEBSD = {
  os: "freebsd",
  libc: ["libc.so.7"],
  errnoFunction: "__error",
  resIds: true,
  sockaddr: "bsd",
  O_RDONLY: 0,
  O_DIRECTORY: 0x20000,
  O_CLOEXEC: 0x100000,
  O_WRONLY: 1,
  O_CREAT: 0x200,
  O_APPEND: 0x8,
  AT_FDCWD: -100,
  AF_INET: 2,
  AF_INET6: 28,
  SOL_SOCKET: 0xffff,
  SO_ACCEPTCONN: 0x0002,
  AF_UNIX: 1,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0x10000000,
  MSG_NOSIGNAL: 0x20000,
  MSG_DONTWAIT: 0x80,
  SUN_PATH: 104,
  CLOCK_MONOTONIC: 4,
  RLIMIT_NOFILE: 8,
  ENOTSOCK: 38,
  fdDir: "/dev/fd", // complete only with fdescfs mounted; plb also scans
  privileges: true,
  daemon: true,
} as const;

const DARWIN = {
  os: "darwin",
  libc: ["/usr/lib/libSystem.B.dylib", "libSystem.B.dylib"],
  errnoFunction: "__error",
  resIds: false,
  sockaddr: "bsd",
  O_RDONLY: 0,
  O_DIRECTORY: 0x100000,
  O_CLOEXEC: 0x1000000,
  O_WRONLY: 1,
  O_CREAT: 0x200,
  O_APPEND: 0x8,
  AT_FDCWD: -2,
  AF_INET: 2,
  AF_INET6: 30,
  SOL_SOCKET: 0xffff,
  SO_ACCEPTCONN: 0x0002,
  AF_UNIX: 1,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0,
  MSG_NOSIGNAL: 0,
  MSG_DONTWAIT: 0x80,
  SUN_PATH: 104,
  CLOCK_MONOTONIC: 6,
  RLIMIT_NOFILE: 8,
  ENOTSOCK: 38,
  fdDir: "/dev/fd",
  privileges: true,
  daemon: true,
} as const;

const WINDOWS = {
  ...LINUX, // numbers never used: there is no libc to pass them to
  os: "win32",
  libc: [],
  O_DIRECTORY: 0,
  fdDir: undefined,
  privileges: false,
  daemon: false,
} as const;

/** glibc first, then musl (Alpine names its libc after the CPU). */
const linuxLibc = (muslCpu: string) => ["libc.so.6", `libc.musl-${muslCpu}.so.1`, `/lib/ld-musl-${muslCpu}.so.1`];

export const PLATFORMS: readonly Platform[] = [
  { ...LINUX, cpu: "x64", libc: linuxLibc("x86_64"), O_DIRECTORY: 0o200000 },
  { ...LINUX, cpu: "arm64", libc: linuxLibc("aarch64"), O_DIRECTORY: 0o40000 },
  { ...FREEBSD, cpu: "x64" },
  { ...FREEBSD, cpu: "arm64" },
  { ...DARWIN, cpu: "x64" },
  { ...DARWIN, cpu: "arm64" },
  { ...WINDOWS, cpu: "x64" },
  { ...WINDOWS, cpu: "arm64" },
];

export function platformFor(os: string, cpu: string): Platform | undefined {
  return PLATFORMS.find((p) => p.os === os && p.cpu === cpu);
}

/** This process's platform (an unknown one gets Linux x64's table and no libc). */
export const PLATFORM: Platform = platformFor(process.platform, process.arch) ?? { ...PLATFORMS[0], libc: [] };

/**
 * A sockaddr_un for `path`, or for an abstract name (Linux: sun_path
 * starts with a NUL byte and the name is not NUL-terminated). Returns the
 * bytes and the length to pass (for a path: up to and including its NUL).
 * Throws when the name does not fit in sun_path.
 */
export function sockaddrUn(name: string, abstract: boolean, platform: Platform = PLATFORM): { addr: Uint8Array; length: number } {
  const bytes = Buffer.from(name, "utf8");
  const offset = 2; // after sun_family (Linux) or sun_len + sun_family (BSD)
  const used = abstract ? 1 + bytes.length : bytes.length + 1;
  const problem =
    bytes.length === 0 ? "is empty" : bytes.includes(0) ? "holds a NUL byte" : used > platform.SUN_PATH ? `is too long for sun_path (${platform.SUN_PATH} bytes)` : undefined;
  if (problem !== undefined) throw new RangeError(`unix socket address ${JSON.stringify(abstract ? `@${name}` : name)} ${problem}`);
  const addr = new Uint8Array(offset + platform.SUN_PATH);
  addr.set(bytes, offset + (abstract ? 1 : 0));
  const length = offset + used;
  if (platform.sockaddr === "bsd") {
    addr[0] = length;
    addr[1] = platform.AF_UNIX;
  } else {
    new DataView(addr.buffer).setUint16(0, platform.AF_UNIX, true);
  }
  return { addr, length };
}
