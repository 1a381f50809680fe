import { expect, test } from "bun:test";
import { VNODES } from "../src/balance/_private.ts";
import { source } from "../src/balance/source.ts";
import type { BalancedServer } from "../src/balance/types.ts";
import { clientAddress, Driver, makeServers, name } from "./balance-support.ts";

const CLIENTS = 4000;

function mapping(d: Driver, tried?: ReadonlySet<BalancedServer>): string[] {
  const out: string[] = [];
  for (let i = 0; i < CLIENTS; i++) out.push(name(d.pick({ client: clientAddress(i), tried })));
  return out;
}

test("a client always gets the same server, across balancer instances too", () => {
  const one = new Driver(source, makeServers([{}, {}, {}, {}]));
  const two = new Driver(source, makeServers([{}, {}, {}, {}]));
  const first = mapping(one);
  expect(mapping(one)).toEqual(first);
  expect(mapping(two)).toEqual(first);
  expect(new Set(first)).toEqual(new Set(["a", "b", "c", "d"]));
});

test("only the clients of a server that goes down move, and they come back", () => {
  const servers = makeServers([{}, {}, {}, {}]);
  const d = new Driver(source, servers);
  const before = mapping(d);
  d.setUp(servers[2], false);
  const during = mapping(d);
  let moved = 0;
  for (let i = 0; i < CLIENTS; i++) {
    if (before[i] === "c") {
      expect(during[i]).not.toBe("c");
      moved++;
    } else {
      expect(during[i]).toBe(before[i]);
    }
  }
  expect(moved).toBeGreaterThan(CLIENTS / 8);
  // c's clients are spread over the survivors, not all dumped on one neighbour.
  const to = new Set(during.filter((_, i) => before[i] === "c"));
  expect(to).toEqual(new Set(["a", "b", "d"]));
  d.setUp(servers[2], true);
  expect(mapping(d)).toEqual(before);
});

test("a tried server moves only its own clients, like a down one", () => {
  const servers = makeServers([{}, {}, {}, {}]);
  const d = new Driver(source, servers);
  const before = mapping(d);
  const during = mapping(d, new Set([servers[0]]));
  for (let i = 0; i < CLIENTS; i++) {
    if (before[i] === "a") expect(during[i]).not.toBe("a");
    else expect(during[i]).toBe(before[i]);
  }
});

test("a heavier weight only pulls clients towards that server", () => {
  const servers = makeServers([{}, {}, {}, {}]);
  const d = new Driver(source, servers);
  const before = mapping(d);
  d.setWeight(servers[3], 2);
  const after = mapping(d);
  let changed = 0;
  for (let i = 0; i < CLIENTS; i++) {
    if (after[i] === before[i]) continue;
    changed++;
    expect(after[i]).toBe("d");
  }
  expect(changed).toBeGreaterThan(CLIENTS / 10);
});

test("backups have their own ring, used only while no primary is eligible", () => {
  const servers = makeServers([{}, { backup: true }, { backup: true }, {}]);
  const d = new Driver(source, servers);
  d.setUp(servers[0], false);
  d.setUp(servers[3], false);
  const onBackups = mapping(d);
  expect(new Set(onBackups)).toEqual(new Set(["b", "c"]));
  d.setUp(servers[3], true);
  expect(new Set(mapping(d))).toEqual(new Set(["d"]));
  d.setUp(servers[3], false);
  expect(mapping(d)).toEqual(onBackups);
});

test("without a client address it walks the ring: exact weighted shares per turn", () => {
  const d = new Driver(source, makeServers([{ weight: 1 }, { weight: 3 }]));
  const counts = { a: 0, b: 0 } as Record<string, number>;
  let runs = 0;
  let run = 0;
  let previous = "";
  for (let i = 0; i < 4 * VNODES; i++) {
    const got = name(d.pick({}));
    counts[got]++;
    run = got === previous ? run + 1 : 1;
    runs = Math.max(runs, run);
    previous = got;
  }
  expect(counts).toEqual({ a: VNODES, b: 3 * VNODES });
  expect(runs).toBeLessThan(30);
});
