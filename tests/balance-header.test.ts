import { expect, test } from "bun:test";
import { VNODES } from "../src/balance/_private.ts";
import { header } from "../src/balance/header.ts";
import { findAlgorithm } from "../src/balance/index.ts";
import { source } from "../src/balance/source.ts";
import type { BalancedServer } from "../src/balance/types.ts";
import { Driver, makeServers, name, ratios } from "./balance-support.ts";

const VALUES = 4000;
const tenant = (i: number): string => `tenant-${i}`;

function mapping(d: Driver, tried?: ReadonlySet<BalancedServer>): string[] {
  const out: string[] = [];
  for (let i = 0; i < VALUES; i++) out.push(name(d.pick({ key: tenant(i), tried })));
  return out;
}

test("registered as a header-hashing algorithm that does not need the client address", () => {
  expect(findAlgorithm("header")).toBe(header);
  expect(header.hashes).toBe("header");
  expect(header.usesClient).toBeUndefined();
});

test("a header value always gets the same server, across balancer instances and clients", () => {
  const one = new Driver(header, makeServers([{}, {}, {}, {}]));
  const two = new Driver(header, makeServers([{}, {}, {}, {}]));
  const first = mapping(one);
  expect(mapping(one)).toEqual(first);
  expect(mapping(two)).toEqual(first);
  expect(new Set(first)).toEqual(new Set(["a", "b", "c", "d"]));
  for (let i = 0; i < 200; i++) expect(name(one.pick({ key: tenant(i), client: `10.9.${i}.1` }))).toBe(first[i]);
});

test("hashes on the same ring as source: a value goes where source sends the same string", () => {
  const h = new Driver(header, makeServers([{}, { weight: 2 }, {}]));
  const s = new Driver(source, makeServers([{}, { weight: 2 }, {}]));
  for (let i = 0; i < 500; i++) expect(name(h.pick({ key: tenant(i) }))).toBe(name(s.pick({ client: tenant(i) })));
});

test("only the values of a server that goes down move, spread over the others, and they come back", () => {
  const servers = makeServers([{}, {}, {}, {}]);
  const d = new Driver(header, servers);
  const before = mapping(d);
  d.setUp(servers[0], false);
  const during = mapping(d);
  let moved = 0;
  for (let i = 0; i < VALUES; i++) {
    if (before[i] === "a") {
      expect(during[i]).not.toBe("a");
      moved++;
    } else {
      expect(during[i]).toBe(before[i]);
    }
  }
  expect(moved).toBeGreaterThan(VALUES / 8);
  expect(new Set(during.filter((_, i) => before[i] === "a"))).toEqual(new Set(["b", "c", "d"]));
  d.setUp(servers[0], true);
  expect(mapping(d)).toEqual(before);
});

test("a tried server moves only its own values, like a down one", () => {
  const servers = makeServers([{}, {}, {}, {}]);
  const d = new Driver(header, servers);
  const before = mapping(d);
  const during = mapping(d, new Set([servers[2]]));
  for (let i = 0; i < VALUES; i++) {
    if (before[i] === "c") expect(during[i]).not.toBe("c");
    else expect(during[i]).toBe(before[i]);
  }
});

test("spreads distinct values by weight", () => {
  const d = new Driver(header, makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]));
  const counts = [0, 0, 0];
  for (let i = 0; i < 6000; i++) counts[d.pick({ key: tenant(i) })!.index]++;
  for (const r of ratios(counts, [1, 2, 3])) expect(Math.abs(r - 1)).toBeLessThanOrEqual(0.25);
});

test('requests without the header ("") are spread round-robin by weight, not piled on one server', () => {
  const d = new Driver(header, makeServers([{ weight: 1 }, { weight: 3 }]));
  const counts: Record<string, number> = { a: 0, b: 0 };
  let longest = 0;
  let run = 0;
  let previous = "";
  for (let i = 0; i < 4 * VNODES; i++) {
    const got = name(d.pick({ key: "" }));
    counts[got]++;
    run = got === previous ? run + 1 : 1;
    longest = Math.max(longest, run);
    previous = got;
  }
  expect(counts).toEqual({ a: VNODES, b: 3 * VNODES });
  expect(longest).toBeLessThan(30);
  // Undefined (no http request) is treated the same way.
  const undef: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 4 * VNODES; i++) undef[name(d.pick({}))]++;
  expect(undef).toEqual({ a: VNODES, b: 3 * VNODES });
});

test("requests without the header still skip down and tried servers", () => {
  const servers = makeServers([{}, {}, {}]);
  const d = new Driver(header, servers);
  d.setUp(servers[1], false);
  const got = new Set(Array.from({ length: 600 }, () => name(d.pick({ key: "", tried: new Set([servers[2]]) }))));
  expect(got).toEqual(new Set(["a"]));
});
