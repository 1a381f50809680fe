import { expect, test } from "bun:test";
import { createRandom, random } from "../src/balance/random.ts";
import { Driver, makeServers, name } from "./balance-support.ts";

function counts(d: Driver, picks: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const got = name(d.pick());
    out[got] = (out[got] ?? 0) + 1;
  }
  return out;
}

test("of two servers, always picks the less loaded", () => {
  const servers = makeServers([{}, {}]);
  servers[0].active = 5;
  const d = new Driver(random, servers);
  expect(counts(d, 500)).toEqual({ b: 500 });
});

test("never picks the most loaded server while another is eligible", () => {
  const servers = makeServers([{}, {}, {}]);
  servers[1].active = 10;
  const got = counts(new Driver(random, servers), 3000);
  expect(got.b).toBeUndefined();
  expect(got.a).toBeGreaterThan(1000);
  expect(got.c).toBeGreaterThan(1000);
});

test("compares load per weight", () => {
  const servers = makeServers([{ weight: 4 }, { weight: 1 }]);
  servers[0].active = 4; // 1 per weight unit
  servers[1].active = 2; // 2 per weight unit
  expect(counts(new Driver(random, servers), 500)).toEqual({ a: 500 });
});

test("draws by weight, the second draw excluding the first; ties go to the first drawn", () => {
  const draws = [0.1, 0.9];
  let calls = 0;
  const rng = () => draws[calls++ % draws.length];
  const servers = makeServers([{ weight: 1 }, { weight: 1 }, { weight: 2 }]);
  const b = createRandom(servers, rng);
  // 0.1 × 4 → a; then 0.9 × 3 = 2.7 over b, c (a skipped) → c; both idle → a.
  expect(name(b.pick({}))).toBe("a");
  servers[0].active = 1;
  // a: 1 per weight unit, c: 0 → c.
  expect(name(b.pick({}))).toBe("c");
  expect(calls).toBe(4);
});

test("a single eligible server is returned without a second draw", () => {
  let calls = 0;
  const servers = makeServers([{}, { up: false }, { backup: true }]);
  const b = createRandom(servers, () => (calls++, 0.5));
  expect(name(b.pick({}))).toBe("a");
  expect(calls).toBe(1);
});
