/**
 * systemd's notify protocol (sd_notify(3)) without libsystemd: datagrams of
 * `KEY=value` lines sent over an AF_UNIX SOCK_DGRAM socket to
 * `$NOTIFY_SOCKET`, a path or an abstract name (`@name`: sun_path starts
 * with a NUL byte). Without NOTIFY_SOCKET (not under systemd, or not
 * Type=notify / notify-reload) every call here does nothing.
 *
 * - `initNotify()` reads NOTIFY_SOCKET, removes it from process.env (like
 *   sd_notify's unset_environment: nothing plb might start later should
 *   talk to systemd in plb's name; Bun.spawn without an `env` option passes
 *   on the environment plb started with, so pass `env: process.env`),
 *   opens the socket and connects it.
 *   Call it before chroot: a connected socket keeps reaching systemd when
 *   its path no longer resolves. When connecting fails, each message is
 *   sent to the address instead (which works without a chroot).
 * - `notifyReady()` (READY=1), `notifyReloading()` (RELOADING=1 with
 *   MONOTONIC_USEC from clock_gettime(CLOCK_MONOTONIC), as Type=notify-reload
 *   requires), `notifyStatus()`, `notifyStopping()`, and `notify(fields)`.
 *   A reload sends notifyReloading() first, then notifyReady() when done
 *   (and notifyStatus("reload failed: …") when it failed).
 *
 * Nothing here throws into its caller, and nothing blocks (MSG_DONTWAIT):
 * the first failure is logged as a warning, later ones at debug level.
 *
 * --daemonize: the parent never reads NOTIFY_SOCKET, so the daemon child
 * inherits it; that child is not the process systemd started, so systemd
 * accepts its messages only with NotifyAccess=all (READY=1 then carries
 * MAINPID= of the child). Under Type=notify run plb in the foreground.
 *
 * Linux is what matters; the BSD sockaddr_un layout comes from
 * platform.ts too. Where there is no C library (Windows) a set
 * NOTIFY_SOCKET is warned about and ignored.
 */
import { logger } from "../log.ts";
import * as libc from "./libc.ts";
import { PLATFORM, sockaddrUn } from "./platform.ts";

const log = logger("notify");

export type NotifyFields = Readonly<Record<string, string | number | bigint>>;

interface Target {
  /** NOTIFY_SOCKET as given. */
  readonly socket: string;
  readonly fd: number;
  readonly addr: Uint8Array;
  readonly length: number;
  readonly connected: boolean;
}

let target: Target | undefined;
let warned = false;

function describe(err: unknown): string {
  return err instanceof libc.SyscallError ? libc.strerror(err.errno) : (err as Error).message;
}

/** The first problem is a warning, the next ones debug lines (a broken socket must not flood the log). */
function problem(text: string): void {
  if (warned) return void log.debug(text);
  warned = true;
  log.warn(`${text} (systemd notifications; further problems are logged at debug level)`);
}

function closeTarget(): void {
  if (target === undefined) return;
  try {
    libc.close(target.fd);
  } catch {
    // already closed
  }
  target = undefined;
}

/**
 * Reads NOTIFY_SOCKET from `env` (and deletes it there), opens and connects
 * the socket. Returns the socket's name, or undefined when there is none to
 * notify. Call before chroot. Never throws; calling again starts over.
 */
export function initNotify(env: Record<string, string | undefined> = process.env): string | undefined {
  closeTarget();
  warned = false;
  const socket = env.NOTIFY_SOCKET;
  delete env.NOTIFY_SOCKET;
  if (socket === undefined || socket === "") return undefined;
  if (!socket.startsWith("/") && !socket.startsWith("@")) {
    problem(`NOTIFY_SOCKET=${JSON.stringify(socket)} ignored: only an absolute path or an @abstract name is supported`);
    return undefined;
  }
  if (!libc.available()) {
    problem(`NOTIFY_SOCKET=${JSON.stringify(socket)} ignored: no C library on ${PLATFORM.os}`);
    return undefined;
  }
  let fd = -1;
  try {
    const abstract = socket.startsWith("@");
    const { addr, length } = sockaddrUn(abstract ? socket.slice(1) : socket, abstract);
    fd = libc.socket(libc.AF_UNIX, libc.SOCK_DGRAM | libc.SOCK_CLOEXEC);
    let connected = true;
    try {
      libc.connect(fd, addr, length, socket);
    } catch (err) {
      connected = false;
      problem(`cannot connect to NOTIFY_SOCKET ${socket}: ${describe(err)}; will send to the address`);
    }
    target = { socket, fd, addr, length, connected };
    log.debug(`notifying systemd at ${socket}${connected ? "" : " (not connected)"}`);
    return socket;
  } catch (err) {
    if (fd >= 0) libc.close(fd);
    problem(`NOTIFY_SOCKET ${socket} ignored: ${describe(err)}`);
    return undefined;
  }
}

/** The socket notifications go to (undefined: none). */
export function notifySocket(): string | undefined {
  return target?.socket;
}

/** `KEY=value` lines; a newline in a value becomes a space (it would end the field). */
export function formatFields(fields: NotifyFields): string {
  return Object.entries(fields)
    .map(([key, value]) => {
      if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new RangeError(`bad notify field name ${JSON.stringify(key)}`);
      return `${key}=${String(value).replace(/[\r\n]+/g, " ")}`;
    })
    .join("\n");
}

/**
 * Sends one datagram with `fields`; returns whether it was sent. False,
 * without a word, when there is no NOTIFY_SOCKET. Never throws.
 */
export function notify(fields: NotifyFields): boolean {
  if (target === undefined) return false;
  let text: string;
  try {
    text = formatFields(fields);
  } catch (err) {
    problem((err as Error).message);
    return false;
  }
  const data = Buffer.from(text, "utf8");
  const flags = libc.MSG_NOSIGNAL | libc.MSG_DONTWAIT;
  const { fd, addr, length, socket } = target;
  try {
    if (target.connected) {
      try {
        libc.send(fd, data, flags);
      } catch (err) {
        // systemd made a new socket (it works where the path still resolves)
        log.debug(`send to ${socket}: ${describe(err)}; trying the address`);
        libc.sendto(fd, data, flags, addr, length, socket);
      }
    } else {
      libc.sendto(fd, data, flags, addr, length, socket);
    }
  } catch (err) {
    problem(`cannot notify ${socket} of ${text.split("\n")[0]}: ${describe(err)}`);
    return false;
  }
  log.debug(`notified ${socket}: ${text.replaceAll("\n", ", ")}`);
  return true;
}

/** CLOCK_MONOTONIC in microseconds (what MONOTONIC_USEC carries). Throws without a C library. */
export function monotonicUsec(): bigint {
  return libc.monotonicMicroseconds();
}

/**
 * READY=1: serving (after start, and again after a reload, done or
 * failed). With `status`, STATUS= too; with `mainPid`, MAINPID= (the
 * daemon child of --daemonize names itself).
 */
export function notifyReady(status?: string, mainPid?: number): boolean {
  return notify({ READY: 1, ...(status === undefined ? {} : { STATUS: status }), ...(mainPid === undefined ? {} : { MAINPID: mainPid }) });
}

/** RELOADING=1 with MONOTONIC_USEC=now: a reload begins (follow with notifyReady() when it is over). */
export function notifyReloading(status?: string): boolean {
  if (target === undefined) return false;
  let now: bigint;
  try {
    now = monotonicUsec();
  } catch (err) {
    problem(`cannot read CLOCK_MONOTONIC: ${describe(err)}`);
    return false;
  }
  return notify({ RELOADING: 1, MONOTONIC_USEC: now, ...(status === undefined ? {} : { STATUS: status }) });
}

/** STATUS=text: a line `systemctl status` shows. */
export function notifyStatus(text: string): boolean {
  return notify({ STATUS: text });
}

/** STOPPING=1: a stop begins. */
export function notifyStopping(status?: string): boolean {
  return notify({ STOPPING: 1, ...(status === undefined ? {} : { STATUS: status }) });
}
