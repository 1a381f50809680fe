import { expect, test } from "bun:test";
import { VNODES } from "../src/balance/_private.ts";
import { findAlgorithm } from "../src/balance/index.ts";
import type { BalancedServer } from "../src/balance/types.ts";
import { uri } from "../src/balance/uri.ts";
import { Driver, makeServers, name, ratios } from "./balance-support.ts";

const PATHS = 4000;
const path = (i: number): string => `/static/${i % 7}/img-${i}.png`;

function mapping(d: Driver, tried?: ReadonlySet<BalancedServer>): string[] {
  const out: string[] = [];
  for (let i = 0; i < PATHS; i++) out.push(name(d.pick({ key: path(i), tried })));
  return out;
}

test("registered as a path-hashing algorithm that does not need the client address", () => {
  expect(findAlgorithm("uri")).toBe(uri);
  expect(uri.hashes).toBe("path");
  expect(uri.usesClient).toBeUndefined();
});

test("a path always gets the same server, across balancer instances too; the client does not matter", () => {
  const one = new Driver(uri, makeServers([{}, {}, {}, {}]));
  const two = new Driver(uri, makeServers([{}, {}, {}, {}]));
  const first = mapping(one);
  expect(mapping(one)).toEqual(first);
  expect(mapping(two)).toEqual(first);
  expect(new Set(first)).toEqual(new Set(["a", "b", "c", "d"]));
  for (let i = 0; i < 200; i++) expect(name(one.pick({ key: path(i), client: `10.9.${i}.1` }))).toBe(first[i]);
});

test("only the paths of a server that goes down move, spread over the others, and they come back", () => {
  const servers = makeServers([{}, {}, {}, {}]);
  const d = new Driver(uri, servers);
  const before = mapping(d);
  d.setUp(servers[1], false);
  const during = mapping(d);
  let moved = 0;
  for (let i = 0; i < PATHS; i++) {
    if (before[i] === "b") {
      expect(during[i]).not.toBe("b");
      moved++;
    } else {
      expect(during[i]).toBe(before[i]);
    }
  }
  expect(moved).toBeGreaterThan(PATHS / 8);
  expect(new Set(during.filter((_, i) => before[i] === "b"))).toEqual(new Set(["a", "c", "d"]));
  d.setUp(servers[1], true);
  expect(mapping(d)).toEqual(before);
});

test("a tried server moves only its own paths, like a down one", () => {
  const servers = makeServers([{}, {}, {}, {}]);
  const d = new Driver(uri, servers);
  const before = mapping(d);
  const during = mapping(d, new Set([servers[3]]));
  for (let i = 0; i < PATHS; i++) {
    if (before[i] === "d") expect(during[i]).not.toBe("d");
    else expect(during[i]).toBe(before[i]);
  }
});

test("spreads distinct paths by weight", () => {
  const d = new Driver(uri, makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]));
  const counts = [0, 0, 0];
  for (let i = 0; i < 6000; i++) counts[d.pick({ key: path(i) })!.index]++;
  for (const r of ratios(counts, [1, 2, 3])) expect(Math.abs(r - 1)).toBeLessThanOrEqual(0.25);
});

test("the path is hashed as given (no case folding); \"\" is a key like any other", () => {
  const d = new Driver(uri, makeServers([{}, {}, {}, {}, {}, {}, {}, {}]));
  const differs = Array.from({ length: 200 }, (_, i) => name(d.pick({ key: `/a${i}` })) !== name(d.pick({ key: `/A${i}` })));
  expect(differs.some(Boolean)).toBe(true);
  // "" is a key like any other (a request path is never empty; "/" is the shortest).
  const empty = name(d.pick({ key: "" }));
  for (let i = 0; i < 20; i++) expect(name(d.pick({ key: "" }))).toBe(empty);
});

test("without a key it walks the ring like source without a client: exact weighted shares per turn", () => {
  const d = new Driver(uri, makeServers([{ weight: 1 }, { weight: 3 }]));
  const counts: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 4 * VNODES; i++) counts[name(d.pick({}))]++;
  expect(counts).toEqual({ a: VNODES, b: 3 * VNODES });
});

test("backups have their own ring, used only while no primary is eligible", () => {
  const servers = makeServers([{}, { backup: true }, { backup: true }, {}]);
  const d = new Driver(uri, servers);
  d.setUp(servers[0], false);
  d.setUp(servers[3], false);
  const onBackups = mapping(d);
  expect(new Set(onBackups)).toEqual(new Set(["b", "c"]));
  d.setUp(servers[0], true);
  expect(new Set(mapping(d))).toEqual(new Set(["a"]));
  d.setUp(servers[0], false);
  expect(mapping(d)).toEqual(onBackups);
});
