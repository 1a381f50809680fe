/**
 * A coarse clock for idle bookkeeping: hot paths read `clock.now` (a field)
 * instead of calling Date.now() per chunk. The sweeper advances it.
 */
export const clock = { now: Date.now() };

export function tick(): number {
  clock.now = Date.now();
  return clock.now;
}
