/**
 * The process's open-file limit, read once at start (before any chroot).
 * Bun reports a connect that failed for lack of file descriptors as
 * ECONNREFUSED; near the limit such a failure is plb's own, not the
 * server's, and must not count toward taking the server down.
 */
import { readFileSync } from "node:fs";
import { logger } from "../log.ts";
import { now } from "./clock.ts";

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

let lastWarning = 0;

/**
 * A connect failure that is plb's own (out of descriptors, reported by Bun
 * as "refused") rather than the server's: true after logging it (at most
 * every 10 s). Callers then refuse the client and report nothing.
 */
export function localConnectFailure(reason: string, sessions: number): boolean {
  if (reason !== "refused" || !nearFdLimit(sessions * 2)) return false;
  if (now() - lastWarning >= 10_000) {
    lastWarning = now();
    logger("net").warn(`out of file descriptors (${sessions} connections, limit ${fdLimit}): refusing new clients; raise the limit (ulimit -n)`);
  }
  return true;
}
