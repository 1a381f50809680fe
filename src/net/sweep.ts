/**
 * One coarse interval timer for every idle timeout: connections register
 * themselves and are asked to check their own deadlines on each tick. The
 * timer also advances the coarse clock and is unref'd so it never keeps the
 * process alive by itself.
 */
import { tick } from "./clock.ts";

export interface Sweepable {
  /** Close yourself if a deadline has passed. */
  sweep(now: number): void;
  /** Close now (shutdown deadline passed). */
  abort(): void;
}

export class Sweeper {
  private readonly items = new Set<Sweepable>();
  private timer: ReturnType<typeof setInterval> | undefined;
  readonly intervalMs: number;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  /** The tick for a set of timeouts: a quarter of the smallest, 50 ms..1 s. */
  static intervalFor(timeoutsMs: number[]): number {
    const min = Math.min(...timeoutsMs.filter((t) => t > 0), 4000);
    return Math.max(50, Math.min(1000, Math.floor(min / 4)));
  }

  add(item: Sweepable): void {
    this.items.add(item);
    if (this.timer === undefined) this.start();
  }

  delete(item: Sweepable): void {
    this.items.delete(item);
  }

  get size(): number {
    return this.items.size;
  }

  /** Every registered item (shutdown closes them). */
  all(): Sweepable[] {
    return [...this.items];
  }

  private start(): void {
    this.timer = setInterval(() => {
      const now = tick();
      for (const item of this.items) item.sweep(now);
      if (this.items.size === 0) this.stop();
    }, this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
