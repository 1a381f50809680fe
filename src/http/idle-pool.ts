/**
 * Idle keep-alive connections per server, for reuse by later requests.
 * Bounded per server (`max`), each kept until its own deadline: the pool's
 * idle time, or less when the server announced a shorter keep-alive
 * timeout. Newest reused first (the one least likely to have been closed by
 * the server); one that reached its deadline is closed, never handed out.
 */
export interface Poolable {
  readonly closed: boolean;
  /** Time after which it is not reused (set by the pool). */
  idleUntil: number;
  /** Close it (it leaves the pool through `remove`). */
  close(): void;
}

export class IdlePool<K, C extends Poolable> {
  private readonly idle = new Map<K, C[]>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private max: number,
    /** Longest idle time of a pooled connection, ms. */
    public idleMs: number,
  ) {}

  /** New limits (a reload): connections put from now on get them; those kept keep their deadlines. */
  configure(max: number, idleMs: number): void {
    this.max = max;
    this.idleMs = idleMs;
  }

  /** An idle open connection to `key` still within its deadline, or undefined. */
  take(key: K, now: number): C | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const c = list.pop()!;
      if (c.closed) continue;
      if (now < c.idleUntil) return c;
      c.close();
    }
    return undefined;
  }

  /**
   * Keep `c` for reuse for up to `idleMs` (or `limitMs` when shorter); false
   * (and closed) when the pool for `key` is full or the time left is nil.
   */
  put(key: K, c: C, now: number, limitMs = Infinity): boolean {
    const keep = Math.min(this.idleMs, limitMs);
    if (this.max === 0 || c.closed || !(keep > 0)) {
      c.close();
      return false;
    }
    let list = this.idle.get(key);
    if (list === undefined) this.idle.set(key, (list = []));
    if (list.length >= this.max) {
      c.close();
      return false;
    }
    c.idleUntil = now + keep;
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

  /** Close connections past their deadline. */
  prune(now: number): void {
    const expired: C[] = [];
    for (const list of this.idle.values()) {
      let kept = 0;
      for (const c of list) {
        if (c.closed) continue;
        if (now >= c.idleUntil) expired.push(c);
        else list[kept++] = c;
      }
      list.length = kept;
    }
    // Closed once out of the lists: closing calls `remove`.
    for (const c of expired) c.close();
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
    }, Math.max(50, Math.min(1000, this.idleMs / 4)));
    this.timer.unref?.();
  }
}
