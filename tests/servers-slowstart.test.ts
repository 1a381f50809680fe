import { expect, test } from "bun:test";
import { MIN_STEP_MS, nextStep, RAMP_STEPS, rampSteps, rampWeight, Ramps, type Ramping } from "../src/servers/slowstart.ts";

test("a ramp has 20 steps, fewer when they would be under 100 ms apart, and none under 200 ms", () => {
  expect([RAMP_STEPS, MIN_STEP_MS]).toEqual([20, 100]);
  expect(rampSteps(30_000)).toBe(20);
  expect(rampSteps(2000)).toBe(20);
  expect(rampSteps(1999)).toBe(19);
  expect(rampSteps(1000)).toBe(10);
  expect(rampSteps(250)).toBe(2);
  expect(rampSteps(199)).toBe(1);
  expect(rampSteps(1)).toBe(1);
});

test("the weight starts at one step (5 %), grows by a step every slowstart/20 and is whole from slowstart on", () => {
  const ms = 30_000;
  expect(rampWeight(1, 0, ms)).toBe(0.05);
  expect(rampWeight(1, 1499, ms)).toBe(0.05);
  expect(rampWeight(1, 3000, ms)).toBe(0.1);
  expect(rampWeight(1, 15_000, ms)).toBe(0.5);
  expect(rampWeight(1, 29_999, ms)).toBe(0.95);
  expect(rampWeight(1, 30_000, ms)).toBe(1);
  expect(rampWeight(1, 90_000, ms)).toBe(1);
  // a share of the weight, never rounded to 0; weight 0 stays 0
  expect(rampWeight(3, 0, ms)).toBe(0.15);
  expect(rampWeight(3, 10_500, ms)).toBe(1.05);
  expect(rampWeight(256, 0, ms)).toBe(12.8);
  expect(rampWeight(0, 1000, ms)).toBe(0);
  // off, and a clock that went back
  expect(rampWeight(2, 0, 0)).toBe(2);
  expect(rampWeight(1, -500, ms)).toBe(0.05);
  // 20 distinct values, rising
  const seen = Array.from({ length: 31 }, (_, s) => rampWeight(1, s * 1000, ms));
  for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
  expect(new Set(seen).size).toBe(20);
});

test("nextStep is the first moment the weight changes, up to slowstart itself", () => {
  const ms = 2000;
  expect(nextStep(0, ms)).toBe(200); // steps 0 and 1 are both 5 %
  expect(nextStep(199, ms)).toBe(200);
  expect(nextStep(200, ms)).toBe(300);
  expect(nextStep(1950, ms)).toBe(2000);
  for (const e of [0, 200, 250, 1000, 1900]) expect(rampWeight(1, nextStep(e, ms), ms)).toBeGreaterThan(rampWeight(1, e, ms));
  // a length the steps do not divide: still the first moment of the next step
  expect(nextStep(0, 2050)).toBe(205);
  expect(rampWeight(1, 204, 2050)).toBe(0.05);
  expect(rampWeight(1, 205, 2050)).toBe(0.1);
});

interface S extends Ramping {
  name: string;
}
const server = (name: string): S => ({ name, rampSince: 0 });

test("Ramps: off until it has a length; start and stop; tick steps every ramping server and ends those that are over", () => {
  const steps: string[] = [];
  const ramps = new Ramps<S>((s, now, done) => steps.push(`${s.name}@${now}${done ? " done" : ""}`), () => 0);
  const a = server("a");
  const b = server("b");
  expect(ramps.start(a, 1000)).toBe(false); // slow start off
  expect([a.rampSince, ramps.size]).toEqual([0, 0]);
  ramps.setDuration(2000, 1000);
  expect(ramps.duration).toBe(2000);
  expect(ramps.start(a, 1000)).toBe(true);
  expect(ramps.start(b, 1500)).toBe(true);
  expect([a.rampSince, b.rampSince, ramps.size]).toEqual([1000, 1500, 2]);
  expect(ramps.weight(a, 4, 1000)).toBe(0.2);
  expect(ramps.weight(a, 4, 2000)).toBe(2);
  expect(ramps.weight(server("c"), 4, 2000)).toBe(4); // not ramping
  ramps.tick(3000);
  expect(steps).toEqual(["a@3000 done", "b@3000"]);
  expect([a.rampSince, b.rampSince, ramps.size]).toEqual([0, 1500, 1]);
  expect(ramps.stop(a)).toBe(false);
  expect(ramps.stop(b)).toBe(true);
  expect([b.rampSince, ramps.size]).toEqual([0, 0]);
});

test("Ramps: a clock that went back does not hold a ramp at its first step until it catches up", () => {
  const ramps = new Ramps<S>(() => {}, () => 0);
  const a = server("a");
  ramps.setDuration(2000, 500_000);
  ramps.start(a, 500_000);
  ramps.tick(100_000); // the clock went back 400 s
  expect(a.rampSince).toBe(100_000);
  ramps.tick(101_000);
  expect(ramps.weight(a, 1, 101_000)).toBe(0.5);
  ramps.tick(102_000);
  expect([a.rampSince, ramps.size]).toEqual([0, 0]);
});

test("Ramps: a new length applies to ramps under way, and 0 ends them at once", () => {
  const steps: string[] = [];
  const ramps = new Ramps<S>((s, now, done) => steps.push(`${s.name}@${now}${done ? " done" : ""}`), () => 0);
  const a = server("a");
  const t = 100_000;
  ramps.setDuration(10_000, t);
  ramps.start(a, t);
  expect(ramps.weight(a, 1, t + 4000)).toBe(0.4);
  ramps.setDuration(20_000, t + 4000);
  expect(steps).toEqual([`a@${t + 4000}`]);
  expect(ramps.weight(a, 1, t + 4000)).toBe(0.2);
  ramps.setDuration(0, t + 5000);
  expect(steps).toEqual([`a@${t + 4000}`, `a@${t + 5000} done`]);
  expect([a.rampSince, ramps.size]).toEqual([0, 0]);
});

test("Ramps: its one timer fires at each step on its own and stops once no server ramps", async () => {
  const weights: number[] = [];
  const a = server("a");
  let ended = 0;
  const ramps: Ramps<S> = new Ramps<S>((s, now, done) => {
    const w = ramps.weight(s, 1, now);
    if (weights.at(-1) !== w) weights.push(w);
    if (done) ended = now;
  }, Date.now);
  ramps.setDuration(400, Date.now());
  const started = Date.now();
  ramps.start(a, started);
  weights.push(ramps.weight(a, 1, started));
  const deadline = started + 5000;
  while (ended === 0 && Date.now() < deadline) await Bun.sleep(20);
  expect(ended - started).toBeGreaterThanOrEqual(400);
  expect(weights[0]).toBe(0.25);
  expect(weights.at(-1)).toBe(1);
  for (let i = 1; i < weights.length; i++) expect(weights[i]).toBeGreaterThan(weights[i - 1]);
  expect(ramps.size).toBe(0);
  // nothing runs any more: no step is reported after the end
  const count = weights.length;
  await Bun.sleep(250);
  expect(weights.length).toBe(count);
});
