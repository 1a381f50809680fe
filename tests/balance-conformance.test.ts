/** One contract, every algorithm in the registry. */
import { describe, expect, test } from "bun:test";
import { algorithms, findAlgorithm } from "../src/balance/index.ts";
import type { BalancedServer, BalancerAlgorithm, PickContext } from "../src/balance/types.ts";
import { keyDef } from "../src/config/schema.ts";
import { clientAddress, Driver, makeServers, name, ratios, type TestServer } from "./balance-support.ts";

/** Allowed |share / expected share - 1| when spreading by weight. */
const TOLERANCE: Record<string, number> = {
  roundrobin: 0.02,
  leastconn: 0.02,
  random: 0.06,
  // A ring with 100 points per weight unit: arcs deviate by ~7% (rms) from exact.
  source: 0.25,
};
/** A slow start's ramp, in twentieths of the weight: 5 %, 25 %, 50 %, 100 % (servers/slowstart.ts). */
const SLOW_STEPS = [1, 5, 10, 20];
/** Algorithms with `hashes` use the same ring as source. */
const RING_TOLERANCE = 0.25;

/**
 * A Driver that, for algorithms hashing a per-request key (`hashes`), also
 * gives every pick with a client address a distinct key derived from it, so
 * the spread checks see distinct keys the way source sees distinct clients.
 * Picks without a client address get no key (the fallback path).
 */
class ConformanceDriver extends Driver {
  override pick(ctx: PickContext = {}): BalancedServer | undefined {
    if (this.algorithm.hashes === undefined || ctx.client === undefined) return super.pick(ctx);
    return super.pick({ ...ctx, key: `/k/${ctx.client}` });
  }
}

function driverFor(algorithm: BalancerAlgorithm, servers: TestServer[]): Driver {
  return new ConformanceDriver(algorithm, servers);
}

/** The contexts every "never" check is run with: with and without a client address. */
function picks(d: Driver, count: number, tried?: ReadonlySet<BalancedServer>): string[] {
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push(name(d.pick({ client: i % 4 === 0 ? undefined : clientAddress(i), tried })));
  return names;
}

test("registry: unique names, descriptions, default and lookup", () => {
  const names = algorithms.map((a) => a.name);
  expect(names).toEqual(["roundrobin", "leastconn", "source", "uri", "header", "random", "first"]);
  for (const a of algorithms) expect(a.description.length).toBeGreaterThan(10);
  // The default is written once, in the schema; the loader trusts it without a lookup.
  expect(findAlgorithm(String(keyDef("balance")?.default))?.name).toBe("roundrobin");
  expect(findAlgorithm("leastconn")).toBe(algorithms[1]);
  expect(findAlgorithm("LEASTCONN")).toBeUndefined();
  expect(findAlgorithm("hash")).toBeUndefined();
});

for (const algorithm of algorithms) {
  describe(`${algorithm.name} conformance`, () => {
    test("never picks a down server", () => {
      const servers = makeServers([{ weight: 1 }, { weight: 2, up: false }, { weight: 3 }, { weight: 1, up: false }]);
      const got = new Set(picks(driverFor(algorithm, servers), 2000));
      expect(got.has("b") || got.has("d") || got.has("-")).toBe(false);
      expect(got.size).toBeGreaterThan(0);
    });

    test("never picks a tried server", () => {
      const servers = makeServers([{}, {}, {}, {}]);
      const d = driverFor(algorithm, servers);
      const got = new Set(picks(d, 2000, new Set([servers[0], servers[2]])));
      expect([...got].sort()).toEqual(algorithm.name === "first" ? ["b"] : ["b", "d"]);
      expect(picks(d, 50, new Set([servers[0], servers[1], servers[2]]))).toEqual(Array(50).fill("d"));
    });

    test("returns undefined when no server is eligible", () => {
      expect(algorithm.create([]).pick({ client: "10.1.1.1" })).toBeUndefined();
      const servers = makeServers([{}, { weight: 2 }, { backup: true }]);
      const d = driverFor(algorithm, servers);
      expect(picks(d, 20, new Set(servers))).toEqual(Array(20).fill("-"));
      for (const s of servers) d.setUp(s, false);
      expect(picks(d, 20)).toEqual(Array(20).fill("-"));
      d.setUp(servers[2], true);
      expect(picks(d, 20)).toEqual(Array(20).fill("c"));
    });

    test("weight 0 drains a server", () => {
      const servers = makeServers([{}, {}, {}]);
      const d = driverFor(algorithm, servers);
      d.setWeight(servers[0], 0);
      const got = new Set(picks(d, 1000));
      expect(got.has("a") || got.has("-")).toBe(false);
      d.setWeight(servers[1], 0);
      d.setWeight(servers[2], 0);
      expect(picks(d, 10)).toEqual(Array(10).fill("-"));
    });

    test("uses backups only when every primary is down or tried", () => {
      const servers = makeServers([{}, { backup: true }, {}, { backup: true, weight: 3 }]);
      const [a, b, c, d] = servers;
      const driver = driverFor(algorithm, servers);
      const primaries = (names: string[]) => names.every((n) => n === "a" || n === "c");
      const backups = (names: string[]) => names.every((n) => n === "b" || n === "d");
      expect(primaries(picks(driver, 500))).toBe(true);
      driver.setUp(a, false);
      expect(picks(driver, 100)).toEqual(Array(100).fill("c"));
      expect(backups(picks(driver, 500, new Set([c])))).toBe(true);
      driver.setUp(c, false);
      expect(backups(picks(driver, 500))).toBe(true);
      expect(picks(driver, 50, new Set([d]))).toEqual(Array(50).fill("b"));
      driver.setUp(b, false);
      driver.setUp(d, false);
      expect(picks(driver, 10)).toEqual(Array(10).fill("-"));
      driver.setUp(c, true);
      driver.setUp(d, true);
      expect(picks(driver, 100)).toEqual(Array(100).fill("c"));
    });

    if (algorithm.name === "first") {
      test("fills in config order instead of spreading by weight (by design: no maxconn yet)", () => {
        const servers = makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
        const d = driverFor(algorithm, servers);
        expect(d.run(6000)).toEqual([6000, 0, 0]);
        d.setUp(servers[0], false);
        expect(d.run(600)).toEqual([0, 600, 0]);
        d.setUp(servers[0], true);
        expect(d.run(600)).toEqual([600, 0, 0]);
      });

      test("a weight ramping up through the weight hook (slow start) changes nothing: weights are not read", () => {
        const servers = makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
        const d = driverFor(algorithm, servers);
        for (const k of SLOW_STEPS) {
          d.setWeight(servers[0], k / 20);
          expect(d.run(600, 60, k * 10_000)).toEqual([600, 0, 0]);
        }
      });
      return;
    }

    const tolerance = TOLERANCE[algorithm.name] ?? (algorithm.hashes ? RING_TOLERANCE : undefined);
    if (tolerance === undefined) throw new Error(`no spread tolerance for ${algorithm.name}`);
    const near = (counts: number[], weights: number[], within = tolerance) => {
      for (const r of ratios(counts, weights)) expect(Math.abs(r - 1)).toBeLessThanOrEqual(within);
    };

    test("spreads picks by weight (1,2,3 over 6000 connections)", () => {
      const d = driverFor(algorithm, makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]));
      near(d.run(6000), [1, 2, 3]);
    });

    test("follows servers going down and up", () => {
      const servers = makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
      const d = driverFor(algorithm, servers);
      near(d.run(3000), [1, 2, 3]);
      d.setUp(servers[2], false);
      const without = d.run(3000, 60, 3000);
      expect(without[2]).toBe(0);
      near(without.slice(0, 2), [1, 2]);
      d.setUp(servers[2], true);
      near(d.run(6000, 60, 6000), [1, 2, 3]);
    });

    test("follows a weight ramping up through the weight hook (slow start): a small share first, rising, then the full one", () => {
      const servers = makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
      const d = driverFor(algorithm, servers);
      const shares: number[] = [];
      for (const k of SLOW_STEPS) {
        const w = (3 * k) / 20;
        d.setWeight(servers[2], w);
        const counts = d.run(6000, 60, k * 10_000);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(6000);
        // the others keep their proportions (leastconn: within a connection or two of its 60 open ones)
        near(counts.slice(0, 2), [1, 2], Math.max(tolerance, 0.05));
        shares.push(counts[2] / 6000);
        if (k === 20) near(counts, [1, 2, 3]);
        else {
          // 5 % of its weight: ~4.8 % of the picks; with a handful of open
          // connections or ring points the exact share is coarse, so within half of it
          const expected = w / (3 + w);
          expect(shares.at(-1)! / expected).toBeGreaterThanOrEqual(0.5);
          expect(shares.at(-1)! / expected).toBeLessThanOrEqual(1.5);
        }
      }
      for (let i = 1; i < shares.length; i++) expect(shares[i]).toBeGreaterThan(shares[i - 1]);
    });

    if (algorithm.usesClient || algorithm.hashes) {
      test("a ramping weight moves keys only to the ramping server, each once, and ends where the full weight maps them", () => {
        const servers = makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
        const d = driverFor(algorithm, servers);
        const clients = Array.from({ length: 3000 }, (_, i) => clientAddress(i));
        const map = () => clients.map((client) => name(d.pick({ client })));
        const full = map();
        let before: string[] | undefined;
        for (const k of SLOW_STEPS) {
          d.setWeight(servers[2], (3 * k) / 20);
          const now = map();
          if (before) for (let i = 0; i < clients.length; i++) if (now[i] !== before[i]) expect([before[i], now[i]]).toEqual([before[i], "c"]);
          before = now;
        }
        expect(before).toEqual(full);
      });
    }

    test("follows weight changes", () => {
      const servers = makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
      const d = driverFor(algorithm, servers);
      d.setWeight(servers[0], 3);
      d.setWeight(servers[2], 1);
      near(d.run(6000), [3, 2, 1]);
    });
  });
}
