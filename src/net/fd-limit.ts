/**
 * The process's open-file limit, read once at start (before any chroot).
 * Bun reports a connect that failed for lack of file descriptors as
 * ECONNREFUSED; near the limit such a failure is plb's own, not the
 * server's, and must not count toward taking the server down.
 */
import { readFileSync } from "node:fs";

/** Descriptors kept for listeners, probes, DNS, the log file and Bun itself. */
export const FD_RESERVE = 64;

function readLimit(): number {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? Infinity : Number(soft) || Infinity;
  } catch {
    return Infinity; // no /proc: assume no limit rather than refuse traffic
  }
}

export const fdLimit: number = readLimit();

/** True when `sockets` open sockets leave no room for another one. */
export function nearFdLimit(sockets: number): boolean {
  return sockets + FD_RESERVE >= fdLimit;
}
