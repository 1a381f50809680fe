/**
 * A coarse clock for idle bookkeeping: hot paths call `now()` (a cached
 * value) instead of Date.now() per chunk.
 *
 * The cache is refreshed by its own timer every CLOCK_RESOLUTION_MS while
 * the clock is being read. A period without reads stops the timer, and the
 * next read refreshes the cache before it answers and starts the timer
 * again, so a read is never staler than one resolution (plus event-loop
 * lag), however long the process was quiet. The timer is unref'd: it never
 * keeps the process alive by itself.
 */

/** At most this stale; at most the smallest sweep interval (50 ms). */
export const CLOCK_RESOLUTION_MS = 50;

let cached = Date.now();
let timer: ReturnType<typeof setInterval> | undefined;
let read = false;

function refresh(): void {
  if (!read) {
    clearInterval(timer);
    timer = undefined;
    return;
  }
  read = false;
  cached = Date.now();
}

/** The time in ms, at most CLOCK_RESOLUTION_MS old. */
export function now(): number {
  if (timer === undefined) {
    cached = Date.now();
    timer = setInterval(refresh, CLOCK_RESOLUTION_MS);
    timer.unref?.();
  }
  read = true;
  return cached;
}

/** The exact time, also stored as the coarse one (the sweeper's tick). */
export function tick(): number {
  cached = Date.now();
  return cached;
}
