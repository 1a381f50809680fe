import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { now, tick } from "../src/net/clock.ts";
import { Sweeper, type Sweepable } from "../src/net/sweep.ts";

const sweepers: Sweeper[] = [];

afterEach(() => {
  for (const s of sweepers.splice(0)) s.stop();
});

function sweeper(ms: number): Sweeper {
  const s = new Sweeper(ms);
  sweepers.push(s);
  return s;
}

function item(onSweep: (now: number) => void = () => {}): Sweepable & { sweeps: number[]; aborted: number } {
  const it = {
    sweeps: [] as number[],
    aborted: 0,
    sweep(now: number) {
      it.sweeps.push(now);
      onSweep(now);
    },
    abort() {
      it.aborted++;
    },
  };
  return it;
}

function hasTimer(s: Sweeper): boolean {
  return (s as unknown as { timer: unknown }).timer !== undefined;
}

test("tick() sets the coarse clock to Date.now() and returns it", async () => {
  const before = Date.now();
  await Bun.sleep(5);
  now(); // the clock is being read (after a quiet spell the first read refreshes it: net-clock.test.ts)
  const t = tick();
  expect(now()).toBe(t);
  expect(t).toBeGreaterThanOrEqual(before + 4);
  expect(Math.abs(t - Date.now())).toBeLessThanOrEqual(2);
});

test("every item is swept once per interval with the advanced coarse clock", async () => {
  const s = sweeper(50);
  const a = item();
  const b = item();
  s.add(a);
  s.add(b);
  const t0 = Date.now();
  await Bun.sleep(330);
  // ~6 ticks in 330 ms at 50 ms
  expect(a.sweeps.length).toBeGreaterThanOrEqual(4);
  expect(a.sweeps.length).toBeLessThanOrEqual(7);
  expect(Math.abs(a.sweeps.length - b.sweeps.length)).toBeLessThanOrEqual(1);
  // each sweep gets the clock value just set, advancing tick by tick
  expect(a.sweeps[0]).toBeGreaterThanOrEqual(t0 + 40);
  for (let i = 1; i < a.sweeps.length; i++) expect(a.sweeps[i] - a.sweeps[i - 1]).toBeGreaterThanOrEqual(40);
  expect(a.aborted).toBe(0);
});

test("a deleted item is no longer swept", async () => {
  const s = sweeper(20);
  const keep = item();
  const gone = item();
  s.add(keep);
  s.add(gone);
  await Bun.sleep(50);
  s.delete(gone);
  const n = gone.sweeps.length;
  expect(n).toBeGreaterThan(0);
  await Bun.sleep(70);
  expect(gone.sweeps.length).toBe(n);
  expect(keep.sweeps.length).toBeGreaterThan(n);
});

test("an item may remove itself while being swept without disturbing the others", async () => {
  const s = sweeper(20);
  const items = [item(), item(), item()];
  const self: Sweepable & { sweeps: number[] } = item(() => s.delete(self));
  s.add(items[0]);
  s.add(self);
  s.add(items[1]);
  s.add(items[2]);
  await Bun.sleep(75);
  expect(self.sweeps.length).toBe(1);
  for (const it of items) expect(it.sweeps.length).toBeGreaterThanOrEqual(2);
  expect(s.size).toBe(3);
});

test("size and all() list the registered items; adding one twice counts once", () => {
  const s = sweeper(1000);
  const a = item();
  const b = item();
  expect(s.size).toBe(0);
  s.add(a);
  s.add(b);
  s.add(a);
  expect(s.size).toBe(2);
  expect(s.all()).toEqual([a, b]);
  s.delete(a);
  expect(s.all()).toEqual([b]);
  // all() is a copy
  s.all().length = 0;
  expect(s.size).toBe(1);
});

test("no timer runs until the first item is added", async () => {
  const s = sweeper(20);
  expect(hasTimer(s)).toBe(false);
  await Bun.sleep(60);
  expect(hasTimer(s)).toBe(false);
  s.add(item());
  expect(hasTimer(s)).toBe(true);
});

test("the timer stops on the first tick that finds no item, and the coarse clock stays fresh without it", async () => {
  const s = sweeper(20);
  const a = item();
  s.add(a);
  await Bun.sleep(30);
  s.delete(a);
  await Bun.sleep(50);
  expect(hasTimer(s)).toBe(false);
  await Bun.sleep(300);
  // a session opened now must not start with the time of the last tick
  expect(Date.now() - now()).toBeLessThanOrEqual(5);
});

test("adding an item after the timer stopped starts it again", async () => {
  const s = sweeper(20);
  const a = item();
  s.add(a);
  await Bun.sleep(30);
  s.delete(a);
  await Bun.sleep(50);
  expect(hasTimer(s)).toBe(false);
  const b = item();
  s.add(b);
  await Bun.sleep(70);
  expect(b.sweeps.length).toBeGreaterThanOrEqual(2);
});

test("stop() ends the ticks while items remain", async () => {
  const s = sweeper(20);
  const a = item();
  s.add(a);
  await Bun.sleep(50);
  s.stop();
  const n = a.sweeps.length;
  await Bun.sleep(60);
  expect(a.sweeps.length).toBe(n);
  expect(s.size).toBe(1);
  expect(hasTimer(s)).toBe(false);
});

test("intervalFor is a quarter of the smallest positive timeout, within 50 ms..1 s", () => {
  expect(Sweeper.intervalFor([1000])).toBe(250);
  expect(Sweeper.intervalFor([2000, 1000, 3000])).toBe(250);
  expect(Sweeper.intervalFor([1003])).toBe(250);
  expect(Sweeper.intervalFor([401])).toBe(100);
  // lower bound
  expect(Sweeper.intervalFor([199])).toBe(50);
  expect(Sweeper.intervalFor([100])).toBe(50);
  expect(Sweeper.intervalFor([1])).toBe(50);
  // upper bound
  expect(Sweeper.intervalFor([4000])).toBe(1000);
  expect(Sweeper.intervalFor([4004])).toBe(1000);
  expect(Sweeper.intervalFor([60_000, 30_000])).toBe(1000);
});

test("intervalFor ignores zero and negative timeouts (disabled) and defaults to 1 s", () => {
  expect(Sweeper.intervalFor([])).toBe(1000);
  expect(Sweeper.intervalFor([0])).toBe(1000);
  expect(Sweeper.intervalFor([0, -5, 800])).toBe(200);
  expect(Sweeper.intervalFor([0, 0, 120])).toBe(50);
});

test("intervalMs is the interval given", () => {
  expect(new Sweeper(75).intervalMs).toBe(75);
});

const CHILD = `
import { Sweeper } from ${JSON.stringify(join(import.meta.dir, "../src/net/sweep.ts"))};
const s = new Sweeper(50);
let sweeps = 0;
s.add({ sweep() { sweeps++; }, abort() {} });
setTimeout(() => console.log("swept", sweeps > 0), 180);
`;

test("a sweeper with items never keeps the process alive by itself", async () => {
  const proc = Bun.spawn([process.execPath, "-e", CHILD], { stdout: "pipe", stderr: "inherit" });
  const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(2000).then(() => false)]);
  if (!exited) proc.kill("SIGKILL");
  await proc.exited;
  expect(await new Response(proc.stdout).text()).toBe("swept true\n");
  expect(exited).toBe(true);
});

test("deleting from the middle, the tail and the head keeps the list whole and in order", () => {
  const s = new Sweeper(1000);
  const [a, b, c, d] = [item(), item(), item(), item()];
  s.add(a);
  s.add(b);
  s.add(c);
  s.delete(b);
  expect(s.all()).toEqual([a, c]);
  s.delete(c);
  s.add(d);
  expect(s.all()).toEqual([a, d]);
  s.delete(a);
  expect(s.all()).toEqual([d]);
  s.delete(a); // not a member any more: no effect
  expect(s.size).toBe(1);
  s.delete(d);
  expect(s.all()).toEqual([]);
  expect(s.size).toBe(0);
  s.stop();
});

test("setInterval (a reload changed the timeouts) re-times a running sweep", async () => {
  const s = sweeper(400);
  const a = item();
  s.add(a);
  s.setInterval(40);
  expect(s.intervalMs).toBe(40);
  await Bun.sleep(230);
  // at 400 ms there would be none yet; at 40 ms about five
  expect(a.sweeps.length).toBeGreaterThanOrEqual(3);
});

test("earliest() is the earlier of two times where 0 means none", async () => {
  const { earliest } = await import("../src/net/sweep.ts");
  expect([earliest(0, 0), earliest(5, 0), earliest(0, 7), earliest(9, 4)]).toEqual([0, 5, 7, 4]);
});
