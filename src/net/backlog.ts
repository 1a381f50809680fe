/**
 * Honour a configured listen backlog. Bun.listen always calls
 * listen(fd, 512); Linux lets listen() be called again on a listening socket
 * and then just updates its accept-queue limit, so we call libc listen()
 * on the bound descriptor with the configured value.
 *
 * The descriptor: Bun 1.4 listeners have an (untyped) `fd` property; it is
 * used after checking that it is a listening socket on the expected port.
 * Without it, descriptors are scanned (the entries of /proc/self/fd, or
 * 0..4095 when /proc is missing, e.g. in a chroot) for a socket with
 * SO_ACCEPTCONN whose getsockname() matches the listener's address and port.
 * Accepted connections share the local address but are not listening, so
 * they never match. Several matches (reusePort) all get the backlog.
 *
 * The kernel silently caps the value at net.core.somaxconn.
 */
import { readdirSync, readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { PlbError } from "../errors.ts";
import { logger } from "../log.ts";
import * as libc from "../process/libc.ts";
import { PLATFORM } from "../process/platform.ts";

const log = logger("listen");

export interface BacklogTarget {
  hostname: string;
  port: number;
  /** Bun's listener exposes its descriptor here (not in the types). */
  fd?: unknown;
}

/** IPv4 / IPv6 literal to its 4 or 16 bytes; undefined for anything else. */
export function addressBytes(host: string): Uint8Array | undefined {
  let text = host.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (isIPv4(text)) return Uint8Array.from(text.split(".").map(Number));
  if (!isIPv6(text)) return undefined;
  // A trailing dotted quad ("::ffff:1.2.3.4") becomes two hex words.
  text = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const words = (part: string): number[] => (part === "" ? [] : part.split(":").map((w) => parseInt(w, 16)));
  const [head = "", tail] = text.split("::");
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Whether `fd` is a listening socket bound to `want` (undefined: any address) and `port`. */
function isListener(fd: number, want: Uint8Array | undefined, port: number): boolean {
  try {
    const name = libc.getsockname(fd);
    if (name.port !== port || name.address.length === 0) return false;
    if (want && !equalBytes(name.address, want)) return false;
    return libc.getsockoptInt(fd, libc.SOL_SOCKET, libc.SO_ACCEPTCONN) === 1;
  } catch {
    return false; // not a socket, not open, not an inet socket
  }
}

function openDescriptors(): number[] {
  try {
    if (PLATFORM.fdDir) return readdirSync(PLATFORM.fdDir).map(Number).filter(Number.isInteger);
  } catch {
    // no /proc (a chroot), or no fdescfs
  }
  return Array.from({ length: 4096 }, (_, i) => i);
}

let warnedNoLibc = false;

/** The descriptors of the listening socket(s) behind `target`. */
export function findListenerFds(target: BacklogTarget): number[] {
  const want = addressBytes(target.hostname);
  const own = target.fd;
  if (typeof own === "number" && own >= 0 && isListener(own, want, target.port)) return [own];
  return openDescriptors().filter((fd) => isListener(fd, want, target.port));
}

function somaxconn(): number | undefined {
  try {
    return Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8").trim()) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sets the accept-queue length of a Bun listener to `backlog`. Throws
 * PlbError("LISTEN_FAILED") when the socket cannot be found or listen() fails.
 */
export function setBacklog(listener: BacklogTarget, backlog: number): void {
  const where = `${listener.hostname.includes(":") ? `[${listener.hostname}]` : listener.hostname}:${listener.port}`;
  if (!libc.available()) {
    // Windows: no listen(2) to call again; Bun's own queue length stays.
    if (!warnedNoLibc) log.warn(`backlog ${backlog} not applied on ${PLATFORM.os}: the listen queue length is Bun's (512)`);
    warnedNoLibc = true;
    return;
  }
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 0x7fffffff) {
    throw new PlbError("LISTEN_FAILED", `backlog for ${where} must be a positive integer, not ${backlog}`);
  }
  let fds: number[];
  try {
    fds = findListenerFds(listener);
  } catch (err) {
    throw new PlbError("LISTEN_FAILED", `cannot set backlog on ${where}: ${(err as Error).message}`, { cause: err });
  }
  if (fds.length === 0) {
    throw new PlbError("LISTEN_FAILED", `cannot set backlog on ${where}: no listening socket found for it`);
  }
  for (const fd of fds) {
    try {
      libc.listen(fd, backlog);
    } catch (err) {
      throw new PlbError("LISTEN_FAILED", `cannot set backlog ${backlog} on ${where}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const cap = somaxconn();
  if (cap !== undefined && backlog > cap) {
    log.warn(`backlog ${backlog} on ${where} is capped by the kernel at ${cap} (net.core.somaxconn)`);
  }
}
