/**
 * Idle keep-alive connections per server, for reuse by later requests.
 * Bounded per server (`max`), closed after `idleMs` without use, newest
 * reused first (the one least likely to have been closed by the server).
 */
export interface Poolable {
  readonly closed: boolean;
  /** Coarse time it became idle. */
  idleSince: number;
  /** Close it (it leaves the pool through `remove`). */
  close(): void;
}

export class IdlePool<K, C extends Poolable> {
  private readonly idle = new Map<K, C[]>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly max: number,
    private readonly idleMs: number,
  ) {}

  /** An idle open connection to `key`, or undefined. */
  take(key: K): C | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const c = list.pop()!;
      if (!c.closed) return c;
    }
    return undefined;
  }

  /** Keep `c` for reuse; false (and closed) when the pool for `key` is full. */
  put(key: K, c: C, now: number): boolean {
    if (this.max === 0 || c.closed) {
      c.close();
      return false;
    }
    let list = this.idle.get(key);
    if (list === undefined) this.idle.set(key, (list = []));
    if (list.length >= this.max) {
      c.close();
      return false;
    }
    c.idleSince = now;
    list.push(c);
    this.startTimer();
    return true;
  }

  /** Forget `c` (it closed while idle). */
  remove(key: K, c: C): void {
    const list = this.idle.get(key);
    const i = list?.indexOf(c) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  get size(): number {
    let n = 0;
    for (const l of this.idle.values()) n += l.length;
    return n;
  }

  /** Close connections idle for longer than `idleMs`. */
  prune(now: number): void {
    for (const list of this.idle.values()) {
      // oldest first: stop at the first one still fresh
      while (list.length > 0 && (list[0].closed || now - list[0].idleSince >= this.idleMs)) list.shift()!.close();
    }
  }

  /** Close every idle connection (shutdown). */
  closeAll(): void {
    for (const list of this.idle.values()) for (const c of list.splice(0)) c.close();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private startTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.prune(Date.now());
      if (this.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, Math.max(100, Math.min(1000, this.idleMs / 4)));
    this.timer.unref?.();
  }
}
