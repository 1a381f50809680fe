/**
 * The process's open-file limit. At start plb raises the soft limit to the
 * hard one (as nginx's worker_rlimit_nofile; Bun does it too today), and
 * keeps FD_RESERVE descriptors for listeners, probes, DNS, the log file and
 * Bun itself: admission (src/admission.ts) stops accepting clients before
 * they would use those.
 *
 * Bun reports a connect that failed for lack of file descriptors as
 * ECONNREFUSED; near the limit such a failure is plb's own, not the
 * server's, and must not count toward taking the server down.
 */
import { readFileSync } from "node:fs";
import { logger } from "../log.ts";
import * as libc from "../process/libc.ts";
import { now } from "./clock.ts";

/** Descriptors kept for listeners, probes, DNS, the log file and Bun itself. */
export const FD_RESERVE = 64;

function readLimit(): number {
  try {
    return libc.getrlimit(libc.RLIMIT_NOFILE)[0];
  } catch {
    // no libc binding (another OS): /proc, else assume no limit rather than refuse traffic
  }
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? Infinity : Number(soft) || Infinity;
  } catch {
    return Infinity;
  }
}

let limit: number = readLimit();

/** A descriptor of plb's own (the root directory) that `descriptorFree` duplicates; -1: none. */
let probeFd = -1;

/**
 * At start, before any chroot: raise the soft open-file limit to the hard
 * limit and open the descriptor `descriptorFree` checks with. Returns the
 * limits before and after (equal when there was nothing to raise or it
 * failed).
 */
export function raiseFdLimit(): { from: number; to: number } {
  const from = readLimit();
  try {
    const { soft, hard } = libc.getrlimitRaw(libc.RLIMIT_NOFILE);
    // macOS refuses an unlimited soft limit for files: OPEN_MAX (10240) then.
    for (const want of [hard, 10240n]) {
      if (soft >= want || want > hard) continue;
      try {
        libc.setrlimitRaw(libc.RLIMIT_NOFILE, { soft: want, hard });
        break;
      } catch {
        // try the next
      }
    }
    if (probeFd < 0) probeFd = libc.open("/", libc.O_RDONLY | libc.O_DIRECTORY | libc.O_CLOEXEC);
  } catch {
    // not permitted or not available (Windows): keep the limit there is
  }
  limit = readLimit();
  return { from, to: limit };
}

/** The client connections the descriptor limit allows: two descriptors each (client and server), after the reserve. */
export function maxconnForLimit(fds = limit): number {
  return fds === Infinity ? 1_000_000 : Math.max(1, Math.floor((fds - FD_RESERVE) / 2));
}

/** True when `sockets` open sockets leave no room for another one. */
export function nearFdLimit(sockets: number): boolean {
  return sockets + FD_RESERVE >= limit;
}

/**
 * Whether `n` more descriptors can be opened: dup that many and close them.
 * False only on EMFILE / ENFILE (true when the check is not available).
 */
export function descriptorsFree(n = 1): boolean {
  if (probeFd < 0) return true;
  const got: number[] = [];
  try {
    while (got.length < n) got.push(libc.dup(probeFd));
    return true;
  } catch (err) {
    const e = (err as { errno?: number }).errno;
    return e !== libc.EMFILE && e !== libc.ENFILE;
  } finally {
    for (const fd of got) libc.close(fd);
  }
}

/** Who is told that plb itself ran out of descriptors (admission). */
export interface DescriptorUsers {
  /** Client connections open. */
  readonly total: number;
  /** plb is out of descriptors: stop accepting for a while. */
  shortage(): void;
}

let lastWarning = 0;

/**
 * A connect failure that is plb's own (out of descriptors, reported by Bun
 * as "refused") rather than the server's: true after telling `users` and
 * logging it (at most every 10 s). Callers then refuse the client and
 * report nothing against the server.
 */
export function localConnectFailure(reason: string, users: DescriptorUsers): boolean {
  if (reason !== "refused" || !nearFdLimit(users.total * 2)) return false;
  users.shortage();
  const t = now();
  if (t - lastWarning >= 10_000) {
    lastWarning = t;
    logger("net").warn(`out of file descriptors (${users.total} connections, limit ${limit}): refusing this client, pausing new ones; raise the limit (ulimit -n) or lower maxconn`);
  }
  return true;
}
