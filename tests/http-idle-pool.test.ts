import { expect, test } from "bun:test";
import { IdlePool, type Poolable } from "../src/http/idle-pool.ts";

class Conn implements Poolable {
  closed = false;
  idleUntil = 0;
  onClose: (() => void) | undefined;
  constructor(readonly id: number) {}
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
  }
}

function pooled(pool: IdlePool<string, Conn>, key: string, c: Conn): Conn {
  c.onClose = () => pool.remove(key, c); // as the http session wires it
  return c;
}

test("take gives the newest idle connection first and skips closed ones", () => {
  const pool = new IdlePool<string, Conn>(8, 1000);
  const [a, b, c] = [1, 2, 3].map((i) => pooled(pool, "s", new Conn(i)));
  for (const x of [a, b, c]) expect(pool.put("s", x, 0)).toBe(true);
  c.closed = true; // closed without telling the pool
  expect(pool.take("s", 10)?.id).toBe(2);
  expect(pool.take("s", 10)?.id).toBe(1);
  expect(pool.take("s", 10)).toBeUndefined();
  expect(pool.take("other", 10)).toBeUndefined();
});

test("a connection past its deadline is closed by take, never handed out", () => {
  const pool = new IdlePool<string, Conn>(8, 1000);
  const a = pooled(pool, "s", new Conn(1));
  pool.put("s", a, 0);
  expect(a.idleUntil).toBe(1000);
  expect(pool.take("s", 1000)).toBeUndefined();
  expect(a.closed).toBe(true);
  expect(pool.size).toBe(0);
});

test("a shorter limit from the server (Keep-Alive: timeout) wins over the pool's idle time, a longer one does not", () => {
  const pool = new IdlePool<string, Conn>(8, 1500);
  const a = pooled(pool, "s", new Conn(1));
  const b = pooled(pool, "s", new Conn(2));
  pool.put("s", a, 100, 750);
  pool.put("s", b, 100, 60_000);
  expect(a.idleUntil).toBe(850);
  expect(b.idleUntil).toBe(1600);
  pool.prune(900);
  expect(a.closed).toBe(true);
  expect(b.closed).toBe(false);
  expect(pool.size).toBe(1);
  expect(pool.take("s", 900)?.id).toBe(2);
});

test("a limit of 0 (Keep-Alive: timeout=0) and a full pool close the connection instead of keeping it", () => {
  const pool = new IdlePool<string, Conn>(1, 1500);
  const a = pooled(pool, "s", new Conn(1));
  expect(pool.put("s", a, 0, 0)).toBe(false);
  expect(a.closed).toBe(true);
  const b = pooled(pool, "s", new Conn(2));
  const c = pooled(pool, "s", new Conn(3));
  expect(pool.put("s", b, 0)).toBe(true);
  expect(pool.put("s", c, 0)).toBe(false);
  expect(c.closed).toBe(true);
  expect(pool.size).toBe(1);
});

test("prune closes every expired connection whatever their order, even when closing removes them from the pool", () => {
  const pool = new IdlePool<string, Conn>(8, 10_000);
  const conns = [5000, 100, 9000, 200, 300].map((limit, i) => {
    const c = pooled(pool, "s", new Conn(i));
    pool.put("s", c, 0, limit);
    return c;
  });
  pool.prune(1000);
  expect(conns.map((c) => c.closed)).toEqual([false, true, false, true, true]);
  expect(pool.size).toBe(2);
  expect(pool.take("s", 1000)?.id).toBe(2);
  expect(pool.take("s", 1000)?.id).toBe(0);
});

test("a pool with max 0 keeps nothing; closeAll closes everything", () => {
  const none = new IdlePool<string, Conn>(0, 1000);
  const a = new Conn(1);
  expect(none.put("s", a, 0)).toBe(false);
  expect(a.closed).toBe(true);
  const pool = new IdlePool<string, Conn>(8, 1000);
  const xs = [1, 2, 3].map((i) => pooled(pool, i % 2 ? "x" : "y", new Conn(i)));
  xs.forEach((c, i) => pool.put(i % 2 ? "y" : "x", c, 0));
  pool.closeAll();
  expect(xs.every((c) => c.closed)).toBe(true);
  expect(pool.size).toBe(0);
});

test("the pool's timer closes expired connections by itself", async () => {
  const pool = new IdlePool<string, Conn>(8, 120);
  const a = pooled(pool, "s", new Conn(1));
  pool.put("s", a, Date.now());
  await Bun.sleep(300);
  expect(a.closed).toBe(true);
  expect(pool.size).toBe(0);
});

test("configure (a reload) applies new limits to connections put from now on; those kept keep their deadlines", () => {
  const pool = new IdlePool<string, Conn>(1, 1000);
  const a = pooled(pool, "s", new Conn(1));
  expect(pool.put("s", a, 0)).toBe(true);
  expect(a.idleUntil).toBe(1000);
  pool.configure(2, 300);
  expect(a.idleUntil).toBe(1000);
  const b = pooled(pool, "s", new Conn(2));
  expect(pool.put("s", b, 0)).toBe(true); // room for two now
  expect(b.idleUntil).toBe(300);
  expect(pool.put("s", pooled(pool, "s", new Conn(3)), 0)).toBe(false);
  pool.closeAll();
});
