import { expect, test } from "bun:test";
import { roundrobin } from "../src/balance/roundrobin.ts";
import { Driver, makeServers, name } from "./balance-support.ts";

function sequence(d: Driver, count: number): string {
  let out = "";
  for (let i = 0; i < count; i++) out += name(d.pick());
  return out;
}

test("weights 5,1,1 give nginx's smooth sequence a,a,b,a,c,a,a", () => {
  const d = new Driver(roundrobin, makeServers([{ weight: 5 }, { weight: 1 }, { weight: 1 }]));
  expect(sequence(d, 14)).toBe("aabacaa".repeat(2));
});

test("equal weights rotate strictly", () => {
  const d = new Driver(roundrobin, makeServers([{}, {}, {}]));
  expect(sequence(d, 9)).toBe("abcabcabc");
});

test("weights 2,1 interleave instead of bursting", () => {
  const d = new Driver(roundrobin, makeServers([{ weight: 2 }, { weight: 1 }]));
  expect(sequence(d, 6)).toBe("abaaba");
});

test("picks do not depend on active connections", () => {
  const servers = makeServers([{}, {}]);
  servers[0].active = 1000;
  const d = new Driver(roundrobin, servers);
  expect(sequence(d, 4)).toBe("abab");
});

test("a server going down and up restarts the smooth sequence", () => {
  const servers = makeServers([{ weight: 5 }, { weight: 1 }, { weight: 1 }]);
  const d = new Driver(roundrobin, servers);
  expect(sequence(d, 3)).toBe("aab");
  d.setUp(servers[2], false);
  expect(sequence(d, 4)).toBe("aaab");
  d.setUp(servers[2], true);
  expect(sequence(d, 7)).toBe("aabacaa");
});

test("a server skipped as tried keeps its turn and is picked next", () => {
  const servers = makeServers([{}, {}, {}]);
  const d = new Driver(roundrobin, servers);
  expect(sequence(d, 1)).toBe("a");
  expect(name(d.pick({ tried: new Set([servers[1]]) }))).toBe("c");
  expect(sequence(d, 6)).toBe("bcabca");
});

test("backups rotate by weight among themselves once the primaries are down", () => {
  const servers = makeServers([{}, { backup: true, weight: 2 }, { backup: true }]);
  const d = new Driver(roundrobin, servers);
  expect(sequence(d, 3)).toBe("aaa");
  d.setUp(servers[0], false);
  expect(sequence(d, 6)).toBe("bcbbcb");
});
