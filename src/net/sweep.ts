/**
 * One coarse interval timer for every idle timeout: connections register
 * themselves and are asked to check their own deadlines on each tick. The
 * timer also advances the coarse clock and is unref'd so it never keeps the
 * process alive by itself.
 *
 * Registered items form an intrusive doubly linked list (two fields on each
 * item) rather than a Set: a Set entry costs ~130 bytes per connection, a
 * large share of an idle connection's memory.
 */
import { tick } from "./clock.ts";

export interface Sweepable {
  /** Close yourself if a deadline has passed. */
  sweep(now: number): void;
  /** Close now (shutdown deadline passed). */
  abort(): void;
  /**
   * Shutting down: finish the work in hand but take no more (an idle
   * keep-alive connection closes at once). Tunnels have nothing to do here.
   */
  drain?(): void;
  /**
   * Since when (ms) this session depends on something a reload removed (its
   * service, or the server it is connected to), or 0: it may finish on its
   * own until timeout_shutdown has passed since.
   */
  retiredSince?(): number;
  /** The service it belongs to: once a reload removed it, the session is drained. */
  readonly service?: { readonly removedAt: number };
  /** List links owned by the Sweeper (declare them, initialised to null). */
  sweepPrev?: Sweepable | null;
  sweepNext?: Sweepable | null;
}

/** The earlier of two times where 0 means none. */
export function earliest(a: number, b: number): number {
  return a === 0 ? b : b === 0 ? a : Math.min(a, b);
}

export class Sweeper {
  private head: Sweepable | null = null;
  private tail: Sweepable | null = null;
  private count = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  intervalMs: number;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  /** Tick every `ms` from now on (a reload changed the timeouts). */
  setInterval(ms: number): void {
    if (ms === this.intervalMs) return;
    this.intervalMs = ms;
    if (this.timer !== undefined) {
      this.stop();
      this.start();
    }
  }

  /** The tick for a set of timeouts: a quarter of the smallest, 50 ms..1 s. */
  static intervalFor(timeoutsMs: number[]): number {
    const min = Math.min(...timeoutsMs.filter((t) => t > 0), 4000);
    return Math.max(50, Math.min(1000, Math.floor(min / 4)));
  }

  /** Register `item`; false when it already was. */
  add(item: Sweepable): boolean {
    if (this.has(item)) return false;
    item.sweepNext = null;
    item.sweepPrev = this.tail;
    if (this.tail) this.tail.sweepNext = item;
    else this.head = item;
    this.tail = item;
    this.count++;
    if (this.timer === undefined) this.start();
    return true;
  }

  /** Unregister `item`; false when it was not registered. */
  delete(item: Sweepable): boolean {
    if (!this.has(item)) return false;
    const { sweepPrev: prev, sweepNext: next } = item;
    if (prev) prev.sweepNext = next ?? null;
    else this.head = next ?? null;
    if (next) next.sweepPrev = prev ?? null;
    else this.tail = prev ?? null;
    item.sweepPrev = item.sweepNext = null;
    this.count--;
    return true;
  }

  private has(item: Sweepable): boolean {
    return this.head === item || (item.sweepPrev !== null && item.sweepPrev !== undefined);
  }

  get size(): number {
    return this.count;
  }

  /** Every registered item, oldest first (shutdown closes them). */
  all(): Sweepable[] {
    const out: Sweepable[] = [];
    for (let it = this.head; it; it = it.sweepNext ?? null) out.push(it);
    return out;
  }

  private start(): void {
    this.timer = setInterval(() => {
      const now = tick();
      for (let it = this.head; it; ) {
        const next = it.sweepNext ?? null; // `it` may leave the list
        it.sweep(now);
        it = next;
      }
      if (this.count === 0) this.stop();
    }, this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
