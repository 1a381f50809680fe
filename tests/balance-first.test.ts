import { expect, test } from "bun:test";
import { first } from "../src/balance/first.ts";
import { Driver, makeServers, name } from "./balance-support.ts";

test("fills servers in config order", () => {
  const servers = makeServers([{}, {}, {}, { backup: true }, { backup: true }]);
  const d = new Driver(first, servers);
  const order: string[] = [];
  for (const server of servers) {
    order.push(name(d.pick()));
    d.setUp(server, false);
  }
  order.push(name(d.pick()));
  expect(order).toEqual(["a", "b", "c", "d", "e", "-"]);
});

test("an earlier server coming back takes over again", () => {
  const servers = makeServers([{}, {}, {}]);
  const d = new Driver(first, servers);
  d.setUp(servers[0], false);
  d.setUp(servers[1], false);
  expect(name(d.pick())).toBe("c");
  d.setUp(servers[1], true);
  expect(name(d.pick())).toBe("b");
});

test("ignores load and weight: the first eligible keeps every connection", () => {
  const servers = makeServers([{ weight: 1 }, { weight: 10 }]);
  servers[0].active = 1000;
  const d = new Driver(first, servers);
  expect(name(d.pick())).toBe("a");
});

test("a tried first server spills over to the next one", () => {
  const servers = makeServers([{}, {}, {}]);
  const d = new Driver(first, servers);
  expect(name(d.pick({ tried: new Set([servers[0]]) }))).toBe("b");
  expect(name(d.pick({ tried: new Set([servers[0], servers[1]]) }))).toBe("c");
});

test("config order is the server index, not the order servers are passed in", () => {
  const [a, b, c] = makeServers([{}, {}, {}]);
  expect(name(first.create([c, b, a]).pick({}))).toBe("a");
});
