/**
 * Retrying a failed order: growing delays that never give up, and a
 * ledger of recent failures per name that keeps plb under a CA's limit on
 * failed validations (Let's Encrypt: 5 per name per account per hour).
 * Pure: times come in as numbers.
 */

export interface BackoffOptions {
  /** The delay after the first failure; default 1 min. */
  readonly firstMs: number;
  /** The longest delay; default 6 h (then every 6 h, forever). */
  readonly maxMs: number;
  /** Failed attempts allowed per name within `windowMs`; default 3 (Let's Encrypt allows 5). */
  readonly perWindow: number;
  /** Default 1 h. */
  readonly windowMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { firstMs: 60_000, maxMs: 6 * 3_600_000, perWindow: 3, windowMs: 3_600_000 };

/**
 * The delay after the `failures`-th failure in a row (1, 2, …): first ×
 * 2^(n−1) up to max, each with up to +10 % jitter (`random` in [0, 1)) so
 * that many names do not retry in step.
 */
export function backoffDelay(failures: number, o: BackoffOptions = DEFAULT_BACKOFF, random = Math.random()): number {
  const n = Math.max(1, Math.floor(failures));
  const base = Math.min(o.maxMs, o.firstMs * 2 ** Math.min(n - 1, 40));
  return Math.round(base * (1 + 0.1 * random));
}

/** Failure times per name (ms since the epoch), oldest first. */
export type FailureRecord = Record<string, number[]>;

export class FailureLedger {
  private readonly byName = new Map<string, number[]>();

  constructor(
    private readonly o: BackoffOptions = DEFAULT_BACKOFF,
    saved: FailureRecord = {},
  ) {
    for (const [name, times] of Object.entries(saved)) {
      if (Array.isArray(times)) this.byName.set(name, times.filter((t) => typeof t === "number").sort((a, b) => a - b));
    }
  }

  record(names: readonly string[], at: number): void {
    for (const n of names) {
      const list = this.byName.get(n) ?? [];
      list.push(at);
      this.byName.set(n, list);
    }
  }

  /** Failures of `name` within the window before `now`. */
  recent(name: string, now: number): number[] {
    return (this.byName.get(name) ?? []).filter((t) => t > now - this.o.windowMs);
  }

  /** The earliest time at which every one of `names` has fewer than `perWindow` failures in the window. */
  allowedAt(names: readonly string[], now: number): number {
    let at = now;
    for (const n of names) {
      const r = this.recent(n, now);
      if (r.length >= this.o.perWindow) at = Math.max(at, r[r.length - this.o.perWindow] + this.o.windowMs);
    }
    return at;
  }

  /** The record to store (only failures still inside the window). */
  toJSON(now: number): FailureRecord {
    const out: FailureRecord = {};
    for (const [n] of this.byName) {
      const r = this.recent(n, now);
      if (r.length > 0) out[n] = r;
    }
    return out;
  }
}
