import { expect, test } from "bun:test";
import { isIP } from "node:net";
import { findAlgorithm } from "../src/balance/index.ts";
import type { BalancedServer, Balancer } from "../src/balance/types.ts";
import type { ServerConfig } from "../src/config/types.ts";
import { setLogLevel } from "../src/log.ts";
import { captureLogs } from "./support/log-capture.ts";
import { Server, ServerPool } from "../src/servers/state.ts";

const { logLines } = captureLogs("state");

function count(lines: string[], line: string): number {
  return lines.filter((l) => l === line).length;
}

function cfg(address: string, extra: Partial<ServerConfig> = {}): ServerConfig {
  const at = address.lastIndexOf(":");
  const host = address.slice(0, at).replace(/^\[|\]$/g, "");
  return { address, host, port: Number(address.slice(at + 1)), weight: 1, backup: false, ...extra };
}

type HookCall = [hook: string, key: string, up: boolean, active: number];

/** A real algorithm whose hook calls are recorded (with the server's state at call time). */
function recording(algorithm: string, servers: readonly BalancedServer[]): { balancer: Balancer; calls: HookCall[] } {
  const inner = findAlgorithm(algorithm)!.create(servers);
  const calls: HookCall[] = [];
  const balancer: Balancer = { pick: (ctx) => inner.pick(ctx) };
  for (const hook of ["up", "down", "weight", "connectionStart", "connectionEnd"] as const) {
    balancer[hook] = (s) => {
      calls.push([hook, s.key, s.up, s.active]);
      inner[hook]?.(s);
    };
  }
  return { balancer, calls };
}

const literal = (host: string) => (isIP(host) ? host : undefined);

function makePool(retry: number, addresses = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"], algorithm = "roundrobin") {
  const pool = new ServerPool("web", addresses.map((a) => cfg(a)), retry, literal);
  const rec = recording(algorithm, pool.servers);
  pool.balancer = rec.balancer;
  const transitions: [string, boolean][] = [];
  pool.onTransition((s, up) => transitions.push([s.key, up]));
  return { pool, calls: rec.calls, transitions, servers: pool.servers };
}

const DOWN_3 = `[warn] [state] server 10.0.0.2:80 of "web" is down after 3 consecutive failures: connect timeout after 2s`;

test("servers are built from the configs in order, with the literal resolver's address", () => {
  const seen: string[] = [];
  const pool = new ServerPool(
    "web",
    [cfg("10.0.0.1:80", { weight: 3 }), cfg("[::1]:8080", { backup: true }), cfg("db.example:5432")],
    2,
    (h) => {
      seen.push(h);
      return literal(h);
    },
  );
  expect(seen).toEqual(["10.0.0.1", "::1", "db.example"]);
  const [a, b, c] = pool.servers;
  expect(a).toBeInstanceOf(Server);
  expect([a.index, a.key, a.host, a.port, a.weight, a.backup, a.address, a.service]).toEqual([0, "10.0.0.1:80", "10.0.0.1", 80, 3, false, "10.0.0.1", "web"]);
  expect([b.index, b.key, b.host, b.port, b.backup, b.address]).toEqual([1, "[::1]:8080", "::1", 8080, true, "::1"]);
  expect([c.index, c.key, c.host, c.port, c.address]).toEqual([2, "db.example:5432", "db.example", 5432, undefined]);
  expect(pool.servers.every((s) => s.up && s.active === 0 && s.failures === 0 && s.cause === "")).toBe(true);
  expect(a.counters).toEqual({ connections: 0, failures: 0, downs: 0, transitions: 0, checkFailures: 0 });
  expect(a.lastTransition).toBeUndefined();
  expect(String(b)).toBe(`server [::1]:8080 of "web"`);
  expect(pool.retry).toBe(2);
  expect(pool.service).toBe("web");
});

test("server_retry 3: two consecutive failures keep the server up, the third takes it down", () => {
  const { pool, servers, calls, transitions } = makePool(3);
  const s = servers[1];
  pool.report(s, "timeout", "connect timeout after 2s");
  pool.report(s, "timeout", "connect timeout after 2s");
  expect(s.up).toBe(true);
  expect(s.failures).toBe(2);
  expect(calls).toEqual([]);
  expect(transitions).toEqual([]);
  pool.report(s, "timeout", "connect timeout after 2s");
  expect(s.up).toBe(false);
  expect(s.cause).toBe("after 3 consecutive failures: connect timeout after 2s");
  expect(calls).toEqual([["down", "10.0.0.2:80", false, 0]]);
  expect(transitions).toEqual([["10.0.0.2:80", false]]);
});

test("the down line is logged exactly once, with the consecutive failure count and cause", () => {
  const { pool, servers } = makePool(3);
  const s = servers[1];
  for (let i = 0; i < 6; i++) pool.report(s, "timeout", "connect timeout after 2s");
  const lines = logLines();
  expect(count(lines, DOWN_3)).toBe(1);
  expect(lines.filter((l) => l.includes("is down")).length).toBe(1);
});

test("failures below server_retry are logged at debug as n/retry", () => {
  const { pool, servers } = makePool(3);
  pool.report(servers[1], "refused", "connection refused");
  pool.report(servers[1], "refused", "connection refused");
  expect(logLines()).toEqual([
    `[debug] [state] server 10.0.0.2:80 of "web": failure 1/3: connection refused`,
    `[debug] [state] server 10.0.0.2:80 of "web": failure 2/3: connection refused`,
  ]);
});

test("failures below server_retry are not logged at info", () => {
  setLogLevel("info");
  const { pool, servers } = makePool(3);
  pool.report(servers[1], "refused", "connection refused");
  pool.report(servers[1], "refused", "connection refused");
  expect(logLines()).toEqual([]);
});

test("server_retry 1: the first failure takes the server down 'after 1 failure'", () => {
  const { pool, servers, transitions } = makePool(1);
  pool.report(servers[0], "refused", "connection refused");
  expect(servers[0].up).toBe(false);
  expect(servers[0].cause).toBe("after 1 failure: connection refused");
  expect(transitions).toEqual([["10.0.0.1:80", false]]);
  expect(count(logLines(), `[warn] [state] server 10.0.0.1:80 of "web" is down after 1 failure: connection refused`)).toBe(1);
});

test("without a detail the outcome itself is the cause", () => {
  const { pool, servers } = makePool(2);
  pool.report(servers[2], "reset");
  pool.report(servers[2], "reset");
  expect(servers[2].cause).toBe("after 2 consecutive failures: reset");
  expect(count(logLines(), `[warn] [state] server 10.0.0.3:80 of "web" is down after 2 consecutive failures: reset`)).toBe(1);
});

test("a success resets the consecutive failure count", () => {
  const { pool, servers, transitions } = makePool(3);
  const s = servers[0];
  pool.report(s, "refused", "connection refused");
  pool.report(s, "refused", "connection refused");
  pool.report(s, "connected");
  expect(s.failures).toBe(0);
  pool.report(s, "refused", "connection refused");
  pool.report(s, "refused", "connection refused");
  expect(s.up).toBe(true);
  expect(transitions).toEqual([]);
  pool.report(s, "refused", "connection refused");
  expect(s.up).toBe(false);
  expect(s.cause).toBe("after 3 consecutive failures: connection refused");
  expect(s.counters.failures).toBe(5);
});

test("a success while up changes nothing: no hook, no listener, no log", () => {
  const { pool, servers, calls, transitions } = makePool(3);
  pool.report(servers[0], "connected");
  pool.report(servers[0], "connected", "", "probe");
  expect(servers[0].up).toBe(true);
  expect(calls).toEqual([]);
  expect(transitions).toEqual([]);
  expect(logLines()).toEqual([]);
});

test("a failure from the start check takes an up server down at once 'at start'", () => {
  const { pool, servers, calls, transitions } = makePool(3);
  const s = servers[1];
  pool.report(s, "refused", "connection refused", "start");
  expect(s.up).toBe(false);
  expect(s.failures).toBe(1);
  expect(s.cause).toBe("at start: connection refused");
  expect(s.counters.downs).toBe(1);
  expect(calls).toEqual([["down", "10.0.0.2:80", false, 0]]);
  expect(transitions).toEqual([["10.0.0.2:80", false]]);
  expect(count(logLines(), `[warn] [state] server 10.0.0.2:80 of "web" is down at start: connection refused`)).toBe(1);
});

test("'connected' brings a down server up, clears its cause and names the source", () => {
  const { pool, servers, calls, transitions } = makePool(2);
  const s = servers[1];
  pool.report(s, "refused", "connection refused");
  pool.report(s, "refused", "connection refused");
  expect(s.up).toBe(false);
  pool.report(s, "connected", "", "probe");
  expect(s.up).toBe(true);
  expect(s.cause).toBe("");
  expect(s.failures).toBe(0);
  expect(calls).toEqual([
    ["down", "10.0.0.2:80", false, 0],
    ["up", "10.0.0.2:80", true, 0],
  ]);
  expect(transitions).toEqual([
    ["10.0.0.2:80", false],
    ["10.0.0.2:80", true],
  ]);
  expect(count(logLines(), `[info] [state] server 10.0.0.2:80 of "web" is up again: probe connected`)).toBe(1);
});

test("traffic that connects to a down server brings it up with 'traffic connected'", () => {
  const { pool, servers } = makePool(1);
  pool.report(servers[0], "timeout", "connect timeout after 2s");
  pool.report(servers[0], "connected");
  expect(servers[0].up).toBe(true);
  expect(count(logLines(), `[info] [state] server 10.0.0.1:80 of "web" is up again: traffic connected`)).toBe(1);
});

test("failures while down are counted but call no hook, no listener and log no line", () => {
  const { pool, servers, calls, transitions } = makePool(2);
  const s = servers[0];
  pool.report(s, "refused", "connection refused");
  pool.report(s, "refused", "connection refused");
  const logged = logLines().length;
  for (let i = 0; i < 5; i++) pool.report(s, "timeout", "connect timeout after 2s", i % 2 ? "probe" : "start");
  expect(s.up).toBe(false);
  expect(s.failures).toBe(7);
  expect(s.counters.failures).toBe(7);
  expect(s.counters.downs).toBe(1);
  expect(calls).toEqual([["down", "10.0.0.1:80", false, 0]]);
  expect(transitions).toEqual([["10.0.0.1:80", false]]);
  expect(logLines().length).toBe(logged);
  // the cause follows the latest failure
  expect(s.cause).toBe("connect timeout after 2s");
});

test("each hook is called once per transition over several down/up cycles", () => {
  const { pool, servers, calls, transitions } = makePool(1);
  const s = servers[2];
  for (let i = 0; i < 3; i++) {
    pool.report(s, "refused", "connection refused");
    pool.report(s, "refused", "connection refused");
    pool.report(s, "connected", "", "probe");
    pool.report(s, "connected", "", "probe");
  }
  expect(calls.map((c) => c[0])).toEqual(["down", "up", "down", "up", "down", "up"]);
  expect(transitions.map((t) => t[1])).toEqual([false, true, false, true, false, true]);
  expect(s.counters.downs).toBe(3);
  expect(s.counters.failures).toBe(6);
});

test("every transition listener is called once per change, in registration order", () => {
  const { pool, servers } = makePool(1);
  const order: string[] = [];
  pool.onTransition((s, up) => order.push(`first ${s.index} ${up}`));
  pool.onTransition((s, up) => order.push(`second ${s.index} ${up}`));
  pool.report(servers[0], "refused");
  pool.report(servers[0], "refused");
  pool.report(servers[0], "connected");
  expect(order).toEqual(["first 0 false", "second 0 false", "first 0 true", "second 0 true"]);
});

test("listeners and hooks see the new state already applied", () => {
  const { pool, servers } = makePool(1);
  const seen: [boolean, string, number][] = [];
  pool.onTransition((s) => seen.push([s.up, s.cause, pool.upCount]));
  pool.report(servers[0], "refused", "connection refused");
  pool.report(servers[0], "connected");
  expect(seen).toEqual([
    [false, "after 1 failure: connection refused", 2],
    [true, "", 3],
  ]);
});

test("the balancer stops picking a server taken down and picks it again once up", () => {
  const { pool, servers } = makePool(1);
  const picks = (k: number) => Array.from({ length: k }, () => (pool.balancer.pick({}) as Server).index).join("");
  expect(picks(3)).toBe("012");
  pool.report(servers[1], "refused");
  expect(picks(6)).not.toContain("1");
  pool.report(servers[1], "connected", "", "probe");
  expect(picks(6)).toContain("1");
});

test("connectionStart / connectionEnd track active connections, count connections and call the hooks once", () => {
  const { pool, servers, calls } = makePool(3, undefined, "leastconn");
  const s = servers[0];
  pool.connectionStart(s);
  pool.connectionStart(s);
  expect(s.active).toBe(2);
  expect(s.counters.connections).toBe(2);
  pool.connectionEnd(s);
  expect(s.active).toBe(1);
  expect(s.counters.connections).toBe(2);
  expect(calls).toEqual([
    ["connectionStart", "10.0.0.1:80", true, 1],
    ["connectionStart", "10.0.0.1:80", true, 2],
    ["connectionEnd", "10.0.0.1:80", true, 1],
  ]);
  // leastconn saw the counts: the busy server is not picked
  expect(pool.balancer.pick({})).not.toBe(s);
  expect(servers[1].counters.connections).toBe(0);
});

test("a balancer without optional hooks works (hooks are skipped)", () => {
  const pool = new ServerPool("web", [cfg("10.0.0.1:80"), cfg("10.0.0.2:80")], 1, literal);
  pool.balancer = { pick: () => pool.servers[0] };
  pool.connectionStart(pool.servers[0]);
  pool.report(pool.servers[0], "refused");
  pool.report(pool.servers[0], "connected");
  pool.connectionEnd(pool.servers[0]);
  expect(pool.servers[0].up).toBe(true);
  expect(pool.servers[0].active).toBe(0);
  expect(pool.servers[0].counters).toEqual({ connections: 1, failures: 1, downs: 1, transitions: 2, checkFailures: 0 });
});

test("upCount counts the servers that are up", () => {
  const { pool, servers } = makePool(1);
  expect(pool.upCount).toBe(3);
  pool.report(servers[0], "refused");
  expect(pool.upCount).toBe(2);
  pool.report(servers[0], "refused");
  expect(pool.upCount).toBe(2);
  pool.report(servers[2], "timeout");
  expect(pool.upCount).toBe(1);
  pool.report(servers[0], "connected");
  expect(pool.upCount).toBe(2);
});

test("losing the last server logs 'no server left' once, and not before", () => {
  const { pool, servers } = makePool(1, ["10.0.0.1:80", "10.0.0.2:80"]);
  const NONE = `[error] [state] service "web" has no server left`;
  pool.report(servers[0], "refused");
  expect(count(logLines(), NONE)).toBe(0);
  pool.report(servers[1], "refused");
  pool.report(servers[1], "refused");
  expect(count(logLines(), NONE)).toBe(1);
  expect(logLines().at(-1)).toBe(NONE);
});

test("counters are per server", () => {
  const { pool, servers } = makePool(2);
  pool.report(servers[0], "refused");
  pool.report(servers[0], "refused");
  pool.connectionStart(servers[1]);
  pool.report(servers[2], "timeout", "", "probe");
  expect(servers[0].counters).toEqual({ connections: 0, failures: 2, downs: 1, transitions: 1, checkFailures: 0 });
  expect(servers[1].counters).toEqual({ connections: 1, failures: 0, downs: 0, transitions: 0, checkFailures: 0 });
  expect(servers[2].counters).toEqual({ connections: 0, failures: 1, downs: 0, transitions: 0, checkFailures: 1 });
  expect(servers[0].lastTransition).toMatchObject({ up: false, cause: "after 2 consecutive failures: refused" });
  expect(Math.abs(servers[0].lastTransition!.at - Date.now())).toBeLessThan(1000);
});

// ---------------------------------------------------------------- server sets that change, admin state

function algorithmPool(addresses: string[], algorithm = "roundrobin") {
  const pool = new ServerPool("web", addresses.map((a) => cfg(a)), 3, literal);
  pool.useAlgorithm(findAlgorithm(algorithm)!);
  return pool;
}

function picks(pool: ServerPool, n: number): string[] {
  return Array.from({ length: n }, () => pool.balancer.pick({})?.key ?? "-");
}

test("a new server set keeps the state of every server it still names (by host and port), whatever the order", () => {
  const pool = algorithmPool(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]);
  const [a, b, c] = pool.servers;
  for (let i = 0; i < 3; i++) pool.report(b, "refused", "connection refused");
  pool.report(c, "timeout");
  pool.connectionStart(c);
  pool.setAdmin(a, "drain");
  const change = pool.update([cfg("10.0.0.3:80", { weight: 5 }), cfg("10.0.0.2:80"), cfg("10.0.0.1:80")]);
  expect(change).toEqual({ added: [], removed: [], changed: [c] });
  expect(pool.servers).toEqual([c, b, a]); // the same objects, in the new order
  expect([c.index, b.index, a.index]).toEqual([0, 1, 2]);
  expect([b.healthy, b.failures, b.counters.downs, b.cause]).toEqual([false, 3, 1, "after 3 consecutive failures: connection refused"]);
  expect([c.failures, c.active, c.counters.connections, c.weight]).toEqual([1, 1, 1, 5]);
  expect(a.admin).toBe("drain");
  expect(picks(pool, 3)).toEqual(["10.0.0.3:80", "10.0.0.3:80", "10.0.0.3:80"]); // the only one up
});

test("new servers wait for their first check (no traffic before); removed ones take no new connections; listeners are told", () => {
  const pool = algorithmPool(["10.0.0.1:80", "10.0.0.2:80"]);
  const [a, b] = pool.servers;
  const changes: string[] = [];
  pool.onSetChange((ch) => changes.push(`+${ch.added.map((s) => s.key)} -${ch.removed.map((s) => s.key)}`));
  pool.connectionStart(b);
  const change = pool.update([cfg("10.0.0.1:80"), cfg("10.0.0.9:80")]);
  const n = change.added[0];
  expect(change.removed).toEqual([b]);
  expect(changes).toEqual(["+10.0.0.9:80 -10.0.0.2:80"]);
  expect([n.up, n.pending, n.cause]).toEqual([false, true, "waiting for its first check"]);
  expect([b.up, b.removed]).toEqual([false, true]);
  expect(picks(pool, 2)).toEqual(["10.0.0.1:80", "10.0.0.1:80"]);
  pool.connectionEnd(b); // its session ends on its own
  expect(b.active).toBe(0);
  pool.report(n, "refused", "connection refused", "start");
  expect([n.up, n.cause]).toEqual([false, "first check failed: connection refused"]);
  pool.report(n, "connected", "", "probe");
  expect([n.up, n.pending]).toEqual([true, false]);
  expect(picks(pool, 2).sort()).toEqual(["10.0.0.1:80", "10.0.0.9:80"]);
  expect(logLines()).toContain(`[info] [state] server 10.0.0.9:80 of "web" is up: its first check passed`);
  expect(logLines()).toContain(`[warn] [state] server 10.0.0.9:80 of "web" joined, but its first check failed: connection refused (no traffic until it passes)`);
  // the same set again changes nothing and tells nobody
  expect(pool.update([cfg("10.0.0.1:80"), cfg("10.0.0.9:80")])).toEqual({ added: [], removed: [], changed: [] });
  expect(changes.length).toBe(1);
  void a;
});

test("a removed server named again while its sessions still run comes back as it was (health, counters, the same object); one without sessions comes back new", () => {
  const pool = algorithmPool(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]);
  const [, b, c] = pool.servers;
  pool.connectionStart(b);
  for (let i = 0; i < 3; i++) pool.report(b, "refused", "connection refused");
  expect(b.healthy).toBe(false);
  pool.update([cfg("10.0.0.1:80")], 1000);
  expect([b.removedAt, c.removedAt]).toEqual([1000, 1000]);
  const change = pool.update([cfg("10.0.0.1:80"), cfg("10.0.0.2:80"), cfg("10.0.0.3:80")], 2000);
  const [, b2, c2] = pool.servers;
  expect(b2).toBe(b); // its session still ran: the same server, still down, its failures counted
  expect([b2.removed, b2.healthy, b2.pending, b2.counters.failures, b2.active]).toEqual([false, false, false, 3, 1]);
  expect(c2).not.toBe(c); // nothing ran through it: a new server, waiting for its first check
  expect(c2.pending).toBe(true);
  expect(change.added).toEqual([b2, c2]);
});

test("drain and maint are the operator's: no new connections, and a successful probe or connection does not undo them", () => {
  const { pool, servers, calls, transitions } = makePool(3);
  const s = servers[0];
  pool.setAdmin(s, "drain");
  expect([s.up, s.healthy, s.admin]).toEqual([false, true, "drain"]);
  expect(calls).toEqual([["down", "10.0.0.1:80", false, 0]]);
  expect(transitions).toEqual([["10.0.0.1:80", false]]);
  pool.report(s, "connected", "", "probe");
  expect(s.up).toBe(false);
  pool.setAdmin(s, "ready");
  expect(s.up).toBe(true);
  expect(transitions).toEqual([["10.0.0.1:80", false], ["10.0.0.1:80", true]]);
  expect(logLines()).toContain(`[warn] [state] server 10.0.0.1:80 of "web" takes no new connections: draining by the operator`);
  // maint on a server that is down anyway: no transition, health stays its own
  for (let i = 0; i < 3; i++) pool.report(servers[1], "refused");
  const before = transitions.length;
  pool.setAdmin(servers[1], "maint", "for a disk swap");
  expect(transitions.length).toBe(before);
  pool.report(servers[1], "connected", "", "probe");
  expect([servers[1].healthy, servers[1].up]).toEqual([true, false]);
  pool.setAdmin(servers[1], "ready");
  expect(servers[1].up).toBe(true);
});

test("onTransition and onSetChange return an unsubscribe", () => {
  const pool = algorithmPool(["10.0.0.1:80"]);
  const seen: boolean[] = [];
  const off = pool.onTransition((_s, up) => seen.push(up));
  pool.setAdmin(pool.servers[0], "drain");
  off();
  pool.setAdmin(pool.servers[0], "ready");
  expect(seen).toEqual([false]);
  let sets = 0;
  const offSet = pool.onSetChange(() => sets++);
  offSet();
  pool.update([cfg("10.0.0.2:80")]);
  expect(sets).toBe(0);
});

test("a worker's pool sends outcomes to its delegate and changes nothing itself; adopt applies the master's state through the one transition (balancer told), quietly", () => {
  const { pool, calls, servers } = makePool(1);
  const sent: string[] = [];
  pool.delegate = (s, outcome, detail, source) => sent.push(`${s.key} ${outcome} ${detail} ${source}`);
  pool.quiet = true;
  pool.report(servers[1], "refused", "connection refused");
  expect(sent).toEqual(["10.0.0.2:80 refused connection refused traffic"]);
  expect([servers[1].up, servers[1].failures]).toEqual([true, 0]);
  const before = logLines().length;
  pool.adopt(servers[1], { weight: 1, healthy: false, admin: "ready", pending: false, cause: "after 1 failure: connection refused", address: "10.0.0.2" });
  expect(servers[1].up).toBe(false);
  expect(calls.filter((c) => c[0] === "down").map((c) => c[1])).toEqual(["10.0.0.2:80"]);
  pool.adopt(servers[1], { weight: 1, healthy: true, admin: "ready", pending: false, cause: "", address: "10.0.0.2" });
  expect(servers[1].up).toBe(true);
  expect(logLines().slice(before).filter((l) => l.startsWith("[info]") || l.startsWith("[warn]"))).toEqual([]); // the master logs it, once
});

test("an operator's weight stays across new server sets until the configuration's own weight for that server changes; weight 0 takes no new connections", () => {
  const pool = algorithmPool(["10.0.0.1:80", "10.0.0.2:80"]);
  const [a, b] = pool.servers;
  pool.setWeight(b, 0);
  expect(picks(pool, 4)).toEqual(["10.0.0.1:80", "10.0.0.1:80", "10.0.0.1:80", "10.0.0.1:80"]);
  pool.update([cfg("10.0.0.1:80"), cfg("10.0.0.2:80")]); // the same file again
  expect(b.weight).toBe(0);
  const change = pool.update([cfg("10.0.0.1:80"), cfg("10.0.0.2:80", { weight: 3 })]);
  expect(change.changed).toEqual([b]);
  expect([b.weight, b.configWeight]).toEqual([3, 3]);
  void a;
});
