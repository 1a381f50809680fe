import { expect, test } from "bun:test";
import { leastconn } from "../src/balance/leastconn.ts";
import { Driver, makeServers, name } from "./balance-support.ts";

test("prefers the server with the fewest active connections", () => {
  const servers = makeServers([{}, {}, {}]);
  [servers[0].active, servers[1].active, servers[2].active] = [3, 1, 2];
  const d = new Driver(leastconn, servers);
  expect(name(d.pick())).toBe("b");
  servers[1].active = 5;
  expect(name(d.pick())).toBe("c");
});

test("weights scale the load: (active + 1) / weight", () => {
  const servers = makeServers([{ weight: 1 }, { weight: 3 }]);
  servers[0].active = 1; // (1+1)/1 = 2
  servers[1].active = 4; // (4+1)/3 ≈ 1.67
  const d = new Driver(leastconn, servers);
  expect(name(d.pick())).toBe("b");
  servers[1].active = 6; // 7/3 ≈ 2.33
  expect(name(d.pick())).toBe("a");
});

test("an idle heavy server wins over an idle light one", () => {
  const d = new Driver(leastconn, makeServers([{ weight: 1 }, { weight: 3 }]));
  expect(name(d.pick())).toBe("b");
});

test("ties are shared round-robin", () => {
  const d = new Driver(leastconn, makeServers([{}, {}, {}]));
  let out = "";
  for (let i = 0; i < 7; i++) out += name(d.pick());
  expect(out).toBe("abcabca");
});

test("concurrent connections fill servers in proportion to weight", () => {
  const servers = makeServers([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
  const d = new Driver(leastconn, servers);
  for (let i = 0; i < 60; i++) d.start(d.pick()!);
  expect(servers.map((s) => s.active)).toEqual([10, 20, 30]);
});

test("a closed connection makes its server the next pick", () => {
  const servers = makeServers([{}, {}, {}]);
  const d = new Driver(leastconn, servers);
  for (let i = 0; i < 9; i++) d.start(d.pick()!);
  d.end(servers[1]);
  expect(name(d.pick())).toBe("b");
});

test("skips tried and down servers even when they are the least loaded", () => {
  const servers = makeServers([{}, {}, {}]);
  servers[1].active = 4;
  servers[2].active = 9;
  const d = new Driver(leastconn, servers);
  expect(name(d.pick({ tried: new Set([servers[0]]) }))).toBe("b");
  d.setUp(servers[1], false);
  expect(name(d.pick({ tried: new Set([servers[0]]) }))).toBe("c");
});
