/**
 * Slow start (HAProxy's `slowstart`): the clock of the ramps. A server that
 * is back in service (healthy again after being down, out of maintenance,
 * or through its first check after joining by a reload) gets a weight that
 * grows linearly, in steps, from one step's share of its weight to all of it
 * over the service's `slowstart`, so a server with cold caches is not
 * flooded. Not at plb's start: every server starts at full weight, as in
 * HAProxy ("it only applies when a server has been previously seen as
 * failed").
 *
 * This module only keeps the time: which servers ramp, since when, and one
 * timer per pool that fires at the next step of any of them (none while no
 * server ramps; never per request). servers/state owns the weights: it asks
 * `rampWeight` for a ramping server's weight and is called back (`onStep`)
 * at each step, and it tells the balancer.
 */

/** Steps of a ramp (5 % each), unless they would be closer than MIN_STEP_MS. */
export const RAMP_STEPS = 20;
/** Steps are at least this far apart (so a short ramp has fewer of them). */
export const MIN_STEP_MS = 100;

/** Steps of a ramp over `ms`: 20, fewer when they would be under 100 ms apart (1 under 200 ms: no ramp). */
export function rampSteps(ms: number): number {
  return Math.max(1, Math.min(RAMP_STEPS, Math.floor(ms / MIN_STEP_MS)));
}

/** The step a ramp over `ms` is at, `elapsed` ms in: 1..n (never 0: a ramp starts at one step). */
function stepAt(elapsed: number, ms: number, n: number): number {
  return Math.max(1, Math.floor((Math.max(0, elapsed) * n) / ms));
}

/**
 * A server's weight `elapsed` ms into a ramp over `ms` towards `weight`:
 * weight × k / n at step k of n (never below one step: 5 % of it), `weight`
 * itself from `ms` on. Weight 0 stays 0.
 */
export function rampWeight(weight: number, elapsed: number, ms: number): number {
  if (ms <= 0 || elapsed >= ms) return weight;
  const n = rampSteps(ms);
  return (weight * stepAt(elapsed, ms, n)) / n;
}

/** How long into a ramp over `ms` its weight next changes, from `elapsed` ms in (`ms` at the last step). */
export function nextStep(elapsed: number, ms: number): number {
  const n = rampSteps(ms);
  return Math.ceil(((stepAt(elapsed, ms, n) + 1) * ms) / n);
}

/** What a ramp needs of a server: when its ramp began (epoch ms; 0: not ramping). */
export interface Ramping {
  rampSince: number;
}

/** The ramping servers of one pool, and the one timer that steps them. */
export class Ramps<S extends Ramping> {
  private ms = 0;
  private readonly ramping = new Set<S>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * `onStep(server, now, done)` is called for every ramping server at each
   * tick (its weight may have moved a step), and once with `done` when its
   * ramp is over (`rampSince` is 0 again by then).
   */
  constructor(
    private readonly onStep: (server: S, now: number, done: boolean) => void,
    private readonly clock: () => number,
  ) {}

  /** The ramp length in ms (0: slow start is off). */
  get duration(): number {
    return this.ms;
  }

  /** Servers ramping now. */
  get size(): number {
    return this.ramping.size;
  }

  /** `server`'s weight now: a share of `weight` while it ramps, else `weight`. */
  weight(server: S, weight: number, now: number): number {
    return server.rampSince === 0 ? weight : rampWeight(weight, now - server.rampSince, this.ms);
  }

  /** `server` ramps from `now` (again, if it already did); false when slow start is off. */
  start(server: S, now: number): boolean {
    if (this.ms === 0) return false;
    server.rampSince = now;
    this.ramping.add(server);
    this.schedule(now);
    return true;
  }

  /** `server` stops ramping (down, in maintenance, removed); false when it did not ramp. */
  stop(server: S): boolean {
    if (!this.ramping.delete(server)) return false;
    server.rampSince = 0;
    if (this.ramping.size === 0) this.cancel();
    return true;
  }

  /** A new ramp length (a reload): ramps under way go on with it; 0 ends them now. */
  setDuration(ms: number, now: number): void {
    if (ms === this.ms) return;
    this.ms = ms;
    if (this.ramping.size > 0) this.tick(now);
  }

  /** Step every ramping server to `now`, end the ramps that are over, and wait for the next step. */
  tick(now: number): void {
    try {
      for (const server of [...this.ramping]) {
        // The clock went back: ramp on from now rather than wait for it to catch up.
        if (now < server.rampSince) server.rampSince = now;
        const done = now - server.rampSince >= this.ms;
        if (done) {
          this.ramping.delete(server);
          server.rampSince = 0;
        }
        this.onStep(server, now, done);
      }
    } finally {
      this.schedule(now);
    }
  }

  private schedule(now: number): void {
    this.cancel();
    if (this.ramping.size === 0) return;
    let next = Infinity;
    for (const s of this.ramping) next = Math.min(next, s.rampSince + nextStep(now - s.rampSince, this.ms));
    this.timer = setTimeout(() => this.tick(this.clock()), Math.max(1, next - now));
    this.timer.unref?.();
  }

  private cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
