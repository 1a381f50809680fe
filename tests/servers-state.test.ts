import { afterEach, expect, test } from "bun:test";
import { isIP } from "node:net";
import { findAlgorithm } from "../src/balance/index.ts";
import type { BalancedServer, Balancer } from "../src/balance/types.ts";
import type { ServerConfig } from "../src/config/types.ts";
import { setLogLevel } from "../src/log.ts";
import { captureLogs } from "./support/log-capture.ts";
import { until } from "./support/until.ts";
import { Server } from "../src/servers/server.ts";
import { ServerPool } from "../src/servers/state.ts";
import { stateOf } from "../src/workers/messages.ts";

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
  expect([a.index, a.key, a.host, a.port, a.weight, a.backup, a.address, a.backend]).toEqual([0, "10.0.0.1:80", "10.0.0.1", 80, 3, false, "10.0.0.1", "web"]);
  expect([b.index, b.key, b.host, b.port, b.backup, b.address]).toEqual([1, "[::1]:8080", "::1", 8080, true, "::1"]);
  expect([c.index, c.key, c.host, c.port, c.address]).toEqual([2, "db.example:5432", "db.example", 5432, undefined]);
  expect(pool.servers.every((s) => s.up && s.active === 0 && s.failures === 0 && s.cause === "")).toBe(true);
  expect(a.counters).toEqual({ connections: 0, failures: 0, downs: 0, transitions: 0, checkFailures: 0 });
  expect(a.lastTransition).toBeUndefined();
  expect(String(b)).toBe(`server [::1]:8080 of "web"`);
  expect(pool.retry).toBe(2);
  expect(pool.backend).toBe("web");
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
  const NONE = `[error] [state] backend "web" has no server left`;
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
  pool.reportCheck(servers[2], { at: 0, ok: false, detail: "", code: undefined, reason: "timeout", ms: 1 }, "timeout", "probe");
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

test("the same server set again (a reload of other settings, a DNS answer given again) keeps the balancer: round-robin goes on where it was", () => {
  const set = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];
  const pool = algorithmPool(set);
  const balancer = pool.balancer;
  expect(picks(pool, 2)).toEqual(["10.0.0.1:80", "10.0.0.2:80"]);
  expect(pool.update(set.map((a) => cfg(a)))).toEqual({ added: [], removed: [], changed: [] });
  expect(pool.balancer).toBe(balancer);
  expect(picks(pool, 2)).toEqual(["10.0.0.3:80", "10.0.0.1:80"]);
  // Another order is another set for the balancer (positions changed): it is built again.
  pool.update([...set].reverse().map((a) => cfg(a)));
  expect(pool.balancer).not.toBe(balancer);
});

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
  pool.adopt(servers[1], { weight: 1, effectiveWeight: 1, healthy: false, admin: "ready", pending: false, cause: "after 1 failure: connection refused", address: "10.0.0.2" });
  expect(servers[1].up).toBe(false);
  expect(calls.filter((c) => c[0] === "down").map((c) => c[1])).toEqual(["10.0.0.2:80"]);
  pool.adopt(servers[1], { weight: 1, effectiveWeight: 1, healthy: true, admin: "ready", pending: false, cause: "", address: "10.0.0.2" });
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

// ---------------------------------------------------------------- slow start

const T0 = 1_000_000;
const slowPools: ServerPool[] = [];
afterEach(() => {
  for (const p of slowPools.splice(0)) p.setSlowstart(0); // no ramp (or its timer) outlives its test
});

/**
 * makePool's pool (recording roundrobin, server_retry 1) with slow start
 * over `ms`, on a clock the test sets: `set(ms)` moves it to T0 + ms,
 * `at(ms)` moves it and steps the ramps there (what their timer does);
 * `weights` records what the weight listeners hear.
 */
function slowPool(ms: number) {
  const made = makePool(1);
  let t = T0;
  made.pool.clock = () => t;
  made.pool.setSlowstart(ms);
  slowPools.push(made.pool);
  const weights: [string, number][] = [];
  made.pool.onWeight((s) => weights.push([s.key, s.weight]));
  const set = (after: number) => void (t = T0 + after);
  const at = (after: number) => {
    set(after);
    made.pool.ramps.tick(t);
  };
  return { ...made, weights, set, at };
}

/** Takes `s` down, then brings it back by a probe at T0 + `after`. */
function bounce(pool: ServerPool, s: Server, set: (after: number) => void, after = 0): void {
  pool.report(s, "refused", "connection refused");
  set(after);
  pool.report(s, "connected", "", "probe");
}

function share(pool: ServerPool, key: string, n: number): number {
  return picks(pool, n).filter((k) => k === key).length;
}

test("slow start is off by default, and never applies at start: servers up at start and passing their start check keep their full weight", () => {
  const { pool, servers, calls } = makePool(1);
  expect(pool.slowstart).toBe(0);
  expect(servers.map((s) => [s.weight, s.userWeight, s.ramping])).toEqual([[1, 1, false], [1, 1, false], [1, 1, false]]);
  bounce(pool, servers[1], () => {});
  expect([servers[1].up, servers[1].weight, servers[1].ramping]).toEqual([true, 1, false]);
  expect(calls.map((c) => c[0])).toEqual(["down", "up"]);
  const on = slowPool(30_000);
  for (const s of on.servers) on.pool.report(s, "connected", "", "start");
  expect(on.servers.map((s) => [s.weight, s.ramping])).toEqual([[1, false], [1, false], [1, false]]);
  expect([on.calls, on.weights, on.pool.ramps.size]).toEqual([[], [], 0]);
});

test("a server back from down ramps from 5% of its weight to all of it over slowstart in 20 steps, each through the balancer's weight hook and the weight listeners", () => {
  const { pool, servers, calls, weights, set, at } = slowPool(2000);
  const b = servers[1];
  bounce(pool, b, set);
  expect([b.up, b.weight, b.userWeight, b.ramping, b.rampSince]).toEqual([true, 0.05, 1, true, T0]);
  // the balancer learns the small weight before it learns the server is up
  expect(calls.map((c) => `${c[0]} ${c[1]}`)).toEqual(["down 10.0.0.2:80", "weight 10.0.0.2:80", "up 10.0.0.2:80"]);
  expect(count(logLines(), `[info] [state] server 10.0.0.2:80 of "web" is up again: probe connected (slow start: weight 0.05 of 1, full in 2s)`)).toBe(1);
  // a small share of the picks: 0.05 of 2.05
  const early = share(pool, "10.0.0.2:80", 410);
  expect(early).toBeGreaterThanOrEqual(9);
  expect(early).toBeLessThanOrEqual(11);
  for (let ms = 100; ms <= 2000; ms += 100) at(ms);
  expect(weights).toEqual(Array.from({ length: 20 }, (_, k) => ["10.0.0.2:80", (k + 1) / 20]));
  expect(calls.filter((c) => c[0] === "weight").length).toBe(20);
  expect([b.weight, b.ramping, b.rampSince, pool.ramps.size]).toEqual([1, false, 0, 0]);
  expect(logLines()).toContain(`[debug] [state] server 10.0.0.2:80 of "web": slow start over, weight 1`);
  // its full share at the end
  expect(share(pool, "10.0.0.2:80", 300)).toBe(100);
});

test("going down ends a ramp (full weight while down) and the next return ramps from 5% again", () => {
  const { pool, servers, set, at } = slowPool(2000);
  const b = servers[1];
  bounce(pool, b, set);
  at(1000);
  expect(b.weight).toBe(0.5);
  pool.report(b, "refused", "connection refused");
  expect([b.up, b.ramping, b.weight, pool.ramps.size]).toEqual([false, false, 1, 0]);
  set(1500);
  pool.report(b, "connected", "", "probe");
  expect([b.up, b.ramping, b.weight, b.rampSince]).toEqual([true, true, 0.05, T0 + 1500]);
  at(2500);
  expect(b.weight).toBe(0.5);
  at(3500);
  expect([b.weight, b.ramping]).toEqual([1, false]);
});

test("the operator's weight during a ramp is scaled by it, weight 0 still takes the server out, and the ramp goes on to the new weight", () => {
  const { pool, servers, set, at } = slowPool(2000);
  const b = servers[1];
  bounce(pool, b, set);
  at(800);
  expect(b.weight).toBe(0.4);
  pool.setWeight(b, 3);
  expect([b.userWeight, b.weight, b.ramping]).toEqual([3, 1.2, true]);
  expect(logLines()).toContain(`[info] [state] server 10.0.0.2:80 of "web": weight 1 → 3 by the operator (in slow start: 1.2 for now)`);
  pool.setWeight(b, 0);
  expect([b.userWeight, b.weight, b.ramping]).toEqual([0, 0, true]);
  expect(picks(pool, 20)).not.toContain("10.0.0.2:80");
  at(1000);
  expect(b.weight).toBe(0);
  pool.setWeight(b, 2);
  expect(b.weight).toBe(1);
  at(2000);
  expect([b.userWeight, b.weight, b.ramping]).toEqual([2, 2, false]);
});

test("a server added by a reload ramps once its first check passes; kept servers do not; a removed one stops ramping", () => {
  const { pool, servers, set, at } = slowPool(2000);
  const [a, b] = servers;
  bounce(pool, b, set);
  set(100);
  const change = pool.update([cfg("10.0.0.1:80"), cfg("10.0.0.9:80")]);
  const n = change.added[0];
  expect(change.removed).toEqual([b, servers[2]]);
  expect([b.ramping, b.weight, pool.ramps.size]).toEqual([false, 1, 0]);
  expect([a.ramping, a.weight]).toEqual([false, 1]);
  expect([n.pending, n.ramping, n.weight]).toEqual([true, false, 1]);
  set(500);
  pool.report(n, "refused", "connection refused", "start"); // its first check fails: no ramp yet
  expect([n.up, n.ramping]).toEqual([false, false]);
  pool.report(n, "connected", "", "probe");
  expect([n.up, n.ramping, n.weight, n.rampSince]).toEqual([true, true, 0.05, T0 + 500]);
  expect(logLines()).toContain(`[info] [state] server 10.0.0.9:80 of "web" is up: its first check passed (slow start: weight 0.05 of 1, full in 2s)`);
  at(1500);
  expect(n.weight).toBe(0.5);
  at(2500);
  expect([n.weight, n.ramping]).toEqual([1, false]);
});

test("leaving maintenance ramps; drain does not end a ramp, and drain → ready of a warm server starts none", () => {
  const { pool, servers, set, at } = slowPool(2000);
  const [a, b] = servers;
  pool.setAdmin(a, "maint");
  set(0);
  pool.setAdmin(a, "ready");
  expect([a.up, a.ramping, a.weight]).toEqual([true, true, 0.05]);
  pool.setAdmin(a, "drain");
  at(1000);
  expect([a.up, a.ramping, a.weight]).toEqual([false, true, 0.5]);
  pool.setAdmin(a, "ready");
  expect([a.up, a.ramping, a.weight]).toEqual([true, true, 0.5]);
  pool.setAdmin(a, "maint");
  expect([a.up, a.ramping, a.weight]).toEqual([false, false, 1]);
  pool.setAdmin(b, "drain");
  pool.setAdmin(b, "ready");
  expect([b.up, b.ramping, b.weight]).toEqual([true, false, 1]);
  // back from down while drained: it ramps in the background
  pool.setAdmin(b, "drain");
  bounce(pool, b, set, 1200);
  expect([b.up, b.ramping, b.weight]).toEqual([false, true, 0.05]);
  at(2200);
  pool.setAdmin(b, "ready");
  expect([b.up, b.ramping, b.weight]).toEqual([true, true, 0.5]);
});

test("a new slowstart (a reload) applies to ramps under way, and 0 ends them at once", () => {
  const { pool, servers, set, at } = slowPool(2000);
  const b = servers[1];
  bounce(pool, b, set);
  at(1000);
  expect(b.weight).toBe(0.5);
  pool.setSlowstart(4000);
  expect([pool.slowstart, b.weight, b.ramping]).toEqual([4000, 0.25, true]);
  pool.setSlowstart(0);
  expect([pool.slowstart, b.weight, b.ramping, pool.ramps.size]).toEqual([0, 1, false, 0]);
  bounce(pool, b, set, 1500);
  expect([b.weight, b.ramping]).toEqual([1, false]);
});

test("a worker's pool does not ramp by itself: it takes the master's effective weight with each state the master sends at every step", () => {
  const master = slowPool(2000);
  const mb = master.servers[1];
  bounce(master.pool, mb, master.set);
  expect(stateOf(mb)).toMatchObject({ id: "10.0.0.2:80", weight: 1, effectiveWeight: 0.05, healthy: true });
  const { pool, servers, calls } = slowPool(2000);
  pool.delegate = () => {};
  pool.quiet = true;
  const b = servers[1];
  pool.adopt(b, { weight: 1, effectiveWeight: 1, healthy: false, admin: "ready", pending: false, cause: "after 1 failure: connection refused", address: "10.0.0.2" });
  pool.adopt(b, stateOf(mb));
  expect([b.up, b.weight, b.ramping, pool.ramps.size]).toEqual([true, 0.05, false, 0]);
  master.at(1000);
  pool.adopt(b, stateOf(mb));
  expect(b.weight).toBe(0.5);
  expect(calls.map((c) => c[0])).toEqual(["down", "weight", "up", "weight"]);
});

test("the ramp's own timer steps a server to its full weight, and nothing runs once it is there", async () => {
  const pool = algorithmPool(["10.0.0.1:80", "10.0.0.2:80"]);
  slowPools.push(pool);
  pool.retry = 1;
  pool.setSlowstart(400);
  const b = pool.servers[1];
  const weights: number[] = [];
  pool.onWeight((s) => weights.push(s.weight));
  const started = Date.now();
  bounce(pool, b, () => {});
  expect(b.weight).toBe(0.25);
  await until(() => !b.ramping, "the end of the ramp", 5000);
  expect(Date.now() - started).toBeGreaterThanOrEqual(395);
  expect(weights[0]).toBe(0.25);
  expect(weights.at(-1)).toBe(1);
  for (let i = 1; i < weights.length; i++) expect(weights[i]).toBeGreaterThan(weights[i - 1]);
  const heard = weights.length;
  await Bun.sleep(250);
  expect(weights.length).toBe(heard);
  expect(pool.ramps.size).toBe(0);
});

// Active checks (health): rise and fall, kept apart from server_retry.
const passed = (detail = "GET /healthz → 200") => ({ at: 1, ok: true, detail, code: 200, reason: undefined, ms: 3 });
const failed = (detail = "GET /healthz → 500", reason: "status" | "timeout" = "status") => ({ at: 1, ok: false, detail, code: 500, reason, ms: 4 });
const RF = { rise: 2, fall: 3 };

test("fall failed checks in a row take a server out, rise passed ones bring it back; the log names the checks", () => {
  const { pool } = makePool(1);
  const s = pool.servers[2];
  pool.reportCheck(s, failed(), "reset", "check", RF);
  pool.reportCheck(s, failed(), "reset", "check", RF);
  expect(s.up).toBe(true); // retry = 1, yet two failed checks do not count as traffic failures
  expect(s.failures).toBe(0);
  pool.reportCheck(s, passed(), "connected", "check", RF); // a pass in between starts the count again
  pool.reportCheck(s, failed(), "reset", "check", RF);
  pool.reportCheck(s, failed(), "reset", "check", RF);
  expect(s.up).toBe(true);
  pool.reportCheck(s, failed(), "reset", "check", RF);
  expect(s.up).toBe(false);
  expect(s.cause).toBe("after 3 failed checks: GET /healthz → 500");
  expect(logLines()).toContain(`[warn] [state] server 10.0.0.3:80 of "web" is down after 3 failed checks: GET /healthz → 500`);
  pool.reportCheck(s, passed(), "connected", "check", RF);
  expect(s.up).toBe(false);
  pool.reportCheck(s, passed(), "connected", "check", RF);
  expect(s.up).toBe(true);
  expect(logLines()).toContain(`[info] [state] server 10.0.0.3:80 of "web" is up again: after 2 passed checks: GET /healthz → 200`);
  expect(s.counters.checkFailures).toBe(5);
  expect(s.checkFailuresBy.status).toBe(5);
  expect(s.counters.failures).toBe(0);
  expect(s.lastCheck).toEqual(passed());
});

test("a server taken down by traffic (server_retry) comes back only after rise passed checks", () => {
  const { pool } = makePool(2);
  const s = pool.servers[0];
  for (let i = 0; i < 5; i++) pool.reportCheck(s, passed(), "connected", "check", RF);
  pool.report(s, "refused", "connection refused");
  pool.report(s, "refused", "connection refused");
  expect(s.up).toBe(false);
  pool.reportCheck(s, passed(), "connected", "check", RF);
  expect(s.up).toBe(false);
  pool.reportCheck(s, passed(), "connected", "check", RF);
  expect(s.up).toBe(true);
  expect(s.failures).toBe(0);
});

test("a failed check by reason; a pending server (joined by a reload) is up after its first passed check", () => {
  const { pool } = makePool(3);
  pool.update([cfg("10.0.0.1:80"), cfg("10.0.0.9:80")]);
  const s = pool.servers[1];
  expect(s.pending).toBe(true);
  pool.reportCheck(s, failed("GET /healthz: no answer within 1000 ms", "timeout"), "timeout", "check", RF);
  expect(s.checkFailuresBy.timeout).toBe(1);
  expect(s.up).toBe(false);
  pool.reportCheck(s, passed(), "connected", "check", RF);
  expect(s.up).toBe(true);
  expect(s.pending).toBe(false);
});

test("in a worker (delegate set) a check changes nothing: only the master checks", () => {
  const { pool } = makePool(1);
  pool.delegate = () => {
    throw new Error("a check must not be sent to the master");
  };
  const s = pool.servers[0];
  for (let i = 0; i < 3; i++) pool.reportCheck(s, failed(), "reset", "check", RF);
  expect(s.up).toBe(true);
  expect(s.lastCheck).toBeUndefined();
});
