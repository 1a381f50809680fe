import { afterEach, expect, test } from "bun:test";
import { isIP } from "node:net";
import { join } from "node:path";
import { roundrobin } from "../src/balance/roundrobin.ts";
import type { ServerConfig } from "../src/config/types.ts";
import { captureLogs } from "./support/log-capture.ts";
import { checkDelay, checkSlot, Scheduler, type NameResolver, type Probe, type ProbeResult } from "../src/scheduler.ts";
import type { Outcome, Server } from "../src/servers/server.ts";
import { ServerPool } from "../src/servers/state.ts";

const { dir, logLines } = captureLogs("scheduler");

const schedulers: Scheduler[] = [];

afterEach(() => {
  for (const s of schedulers.splice(0)) s.stop();
});

function cfg(address: string): ServerConfig {
  const at = address.lastIndexOf(":");
  return { address, host: address.slice(0, at), port: Number(address.slice(at + 1)), weight: 1, backup: false };
}

function makePool(addresses: string[], retry = 2): ServerPool {
  const pool = new ServerPool("web", addresses.map(cfg), retry, (h) => (isIP(h) ? h : undefined));
  pool.balancer = roundrobin.create(pool.servers);
  return pool;
}

/** A resolver that must not be asked (IP literals only). */
const noResolver: NameResolver = {
  resolve: (host) => Promise.reject(new Error(`unexpected resolve of ${host}`)),
};

function scheduler(resolver: NameResolver = noResolver): Scheduler {
  const s = new Scheduler(resolver);
  schedulers.push(s);
  return s;
}

interface Call {
  server: Server;
  address: string | undefined;
  at: number;
}

/**
 * A fake probe: answers with `answer(server, callIndexForThatServer)` after
 * `delayMs` (0: in a microtask), recording each call and the concurrency.
 */
function fakeProbe(answer: (server: Server, i: number) => Outcome | ProbeResult | Error, delayMs = 0) {
  const calls: Call[] = [];
  let running = 0;
  let maxRunning = 0;
  const perServer = new Map<Server, number>();
  const probe: Probe = async (server) => {
    calls.push({ server, address: server.address, at: performance.now() });
    const i = perServer.get(server) ?? 0;
    perServer.set(server, i + 1);
    running++;
    maxRunning = Math.max(maxRunning, running);
    try {
      if (delayMs > 0) await Bun.sleep(delayMs);
      const a = answer(server, i);
      if (a instanceof Error) throw a;
      return typeof a === "string" ? { outcome: a, detail: a === "connected" ? "" : `${a} detail` } : a;
    } finally {
      running--;
    }
  };
  return {
    probe,
    calls,
    callsFor: (s: Server) => calls.filter((c) => c.server === s).length,
    get running() {
      return running;
    },
    get maxRunning() {
      return maxRunning;
    },
  };
}

const refused: ProbeResult = { outcome: "refused", detail: "connection refused" };

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(2);
  }
}

test("the initial check takes a failing server down 'at start' and leaves a passing one up", async () => {
  const pool = makePool(["10.0.0.1:80", "10.0.0.2:80"]);
  const fp = fakeProbe((s) => (s.index === 0 ? refused : "connected"));
  const sch = scheduler();
  sch.watch(pool, fp.probe, 10_000);
  // both are checked at once, without waiting an interval
  expect(fp.calls.map((c) => c.server.index)).toEqual([0, 1]);
  await until(() => !pool.servers[0].up);
  await Bun.sleep(5);
  expect(pool.servers[0].cause).toBe("at start: connection refused");
  expect(pool.servers[1].up).toBe(true);
  expect(logLines()).toContain(`[warn] [state] server 10.0.0.1:80 of "web" is down at start: connection refused`);
  // the down one waits for its next probe; the up one is not probed again
  expect(sch.pending).toBe(1);
  expect(fp.calls.length).toBe(2);
});

test("a single failed initial check is enough, whatever server_retry says", async () => {
  const pool = makePool(["10.0.0.1:80"], 5);
  const fp = fakeProbe(() => "timeout");
  scheduler().watch(pool, fp.probe, 10_000);
  await until(() => !pool.servers[0].up);
  expect(pool.servers[0].cause).toBe("at start: timeout detail");
  expect(pool.servers[0].counters.downs).toBe(1);
});

test("a server already down when watched is not checked at start but probed after one interval", async () => {
  const pool = makePool(["10.0.0.1:80"], 1);
  pool.report(pool.servers[0], "refused");
  const fp = fakeProbe(() => refused);
  const t0 = performance.now();
  const sch = scheduler();
  sch.watch(pool, fp.probe, 60);
  await Bun.sleep(0);
  expect(fp.calls.length).toBe(0);
  expect(sch.pending).toBe(1);
  await until(() => fp.calls.length === 1);
  expect(fp.calls[0].at - t0).toBeGreaterThanOrEqual(55);
});

test("a down server is probed once per interval", async () => {
  const pool = makePool(["10.0.0.1:80"]);
  const fp = fakeProbe(() => refused);
  scheduler().watch(pool, fp.probe, 50);
  await Bun.sleep(330);
  const count = fp.calls.length;
  // initial check at 0, then about every 50 ms: ~7 in 330 ms
  expect(count).toBeGreaterThanOrEqual(4);
  expect(count).toBeLessThanOrEqual(8);
  for (let i = 1; i < fp.calls.length; i++) expect(fp.calls[i].at - fp.calls[i - 1].at).toBeGreaterThanOrEqual(45);
  expect(pool.servers[0].up).toBe(false);
  expect(pool.servers[0].counters.failures).toBe(count);
  expect(pool.servers[0].counters.downs).toBe(1);
});

test("a slow probe is never run twice at once for one server; the interval counts from its end", async () => {
  const pool = makePool(["10.0.0.1:80"]);
  const fp = fakeProbe(() => refused, 200);
  const sch = scheduler();
  sch.watch(pool, fp.probe, 20);
  await Bun.sleep(700);
  expect(fp.maxRunning).toBe(1);
  // starts at ~0, ~220, ~440, ~660
  expect(fp.calls.length).toBeGreaterThanOrEqual(2);
  expect(fp.calls.length).toBeLessThanOrEqual(4);
  for (let i = 1; i < fp.calls.length; i++) expect(fp.calls[i].at - fp.calls[i - 1].at).toBeGreaterThanOrEqual(210);
  expect(sch.pending).toBe(1);
});

test("every down server gets its own probes", async () => {
  const pool = makePool(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]);
  const fp = fakeProbe((s) => (s.index === 1 ? "connected" : refused), 30);
  const sch = scheduler();
  sch.watch(pool, fp.probe, 20);
  await Bun.sleep(260);
  expect(fp.maxRunning).toBeGreaterThanOrEqual(2); // servers 0 and 2 in parallel
  expect(fp.callsFor(pool.servers[1])).toBe(1);
  expect(fp.callsFor(pool.servers[0])).toBeGreaterThanOrEqual(3);
  expect(fp.callsFor(pool.servers[2])).toBeGreaterThanOrEqual(3);
  expect(Math.abs(fp.callsFor(pool.servers[0]) - fp.callsFor(pool.servers[2]))).toBeLessThanOrEqual(1);
  expect(sch.pending).toBe(2);
});

test("a successful probe brings the server up and probing stops", async () => {
  const pool = makePool(["10.0.0.1:80"]);
  const fp = fakeProbe((_s, i) => (i < 2 ? refused : "connected"));
  const sch = scheduler();
  const transitions: boolean[] = [];
  pool.onTransition((_s, up) => transitions.push(up));
  sch.watch(pool, fp.probe, 20);
  await until(() => pool.servers[0].up && fp.calls.length === 3);
  await Bun.sleep(120);
  expect(fp.calls.length).toBe(3);
  expect(transitions).toEqual([false, true]);
  expect(sch.pending).toBe(0);
  expect(pool.servers[0].failures).toBe(0);
  const lines = logLines();
  expect(lines).toContain(`[info] [state] server 10.0.0.1:80 of "web" is up again: probe connected`);
  expect(lines).toContain(`[debug] [scheduler] probe of server 10.0.0.1:80 of "web": refused connection refused`);
  expect(lines).toContain(`[debug] [scheduler] probe of server 10.0.0.1:80 of "web": connected `);
});

test("a server taken down by traffic later is probed from then on", async () => {
  const pool = makePool(["10.0.0.1:80"], 2);
  let healthy = true;
  const fp = fakeProbe(() => (healthy ? "connected" : refused));
  const sch = scheduler();
  sch.watch(pool, fp.probe, 20);
  await Bun.sleep(10);
  expect(fp.calls.length).toBe(1);
  expect(sch.pending).toBe(0);
  healthy = false;
  pool.report(pool.servers[0], "refused", "connection refused");
  pool.report(pool.servers[0], "refused", "connection refused");
  expect(sch.pending).toBe(1);
  await until(() => fp.calls.length >= 3);
  healthy = true;
  await until(() => pool.servers[0].up);
  const probes = fp.calls.length;
  await Bun.sleep(80);
  expect(fp.calls.length).toBe(probes);
  expect(sch.pending).toBe(0);
});

test("a server taken down by traffic while its initial check runs is probed afterwards", async () => {
  // Regression: schedule() refuses while the initial check is in flight, so
  // the check itself must schedule when it finds the server down.
  const pool = makePool(["10.0.0.1:80"], 1);
  const fp = fakeProbe((_s, i) => (i === 0 ? "connected" : refused), 100);
  const sch = scheduler();
  sch.watch(pool, fp.probe, 20);
  expect(fp.running).toBe(1);
  pool.report(pool.servers[0], "refused", "connection refused"); // traffic, while the check runs
  expect(pool.servers[0].up).toBe(false);
  await Bun.sleep(250);
  expect(fp.calls.length).toBeGreaterThanOrEqual(2);
});

test("names are re-resolved before each probe and the server's address follows the answer", async () => {
  const pool = makePool(["db.example:5432"]);
  expect(pool.servers[0].address).toBeUndefined();
  const events: string[] = [];
  let answer = 7;
  const resolver: NameResolver = {
    async resolve(host) {
      events.push(`resolve ${host}`);
      return [`10.0.0.${answer++}`, "10.0.0.99"];
    },
  };
  const fp = fakeProbe((s) => {
    events.push(`probe ${s.address}`);
    return refused;
  });
  scheduler(resolver).watch(pool, fp.probe, 20);
  await until(() => fp.calls.length >= 3);
  expect(events.slice(0, 6)).toEqual([
    "resolve db.example",
    "probe 10.0.0.7",
    "resolve db.example",
    "probe 10.0.0.8",
    "resolve db.example",
    "probe 10.0.0.9",
  ]);
  expect(fp.calls.slice(0, 3).map((c) => c.address)).toEqual(["10.0.0.7", "10.0.0.8", "10.0.0.9"]);
  // the address stays where the last probe saw it
  expect(pool.servers[0].address).toBe(fp.calls.at(-1)!.address);
});

test("IP literals are never sent to the resolver", async () => {
  const pool = makePool(["10.0.0.1:80", "::1:80"]);
  let asked = 0;
  const fp = fakeProbe(() => refused);
  scheduler({
    resolve: async () => {
      asked++;
      return ["10.9.9.9"];
    },
  }).watch(pool, fp.probe, 20);
  await Bun.sleep(70);
  expect(fp.calls.length).toBeGreaterThanOrEqual(4);
  expect(asked).toBe(0);
  expect(pool.servers.map((s) => s.address)).toEqual(["10.0.0.1", "::1"]);
});

test("a resolver failure counts as unreachable with the resolver's message, without probing", async () => {
  const pool = makePool(["db.example:5432"], 1);
  let asked = 0;
  const fp = fakeProbe(() => "connected");
  const sch = scheduler({
    resolve: async (host) => {
      asked++;
      throw new Error(`cannot resolve ${host}: NXDOMAIN`);
    },
  });
  sch.watch(pool, fp.probe, 20);
  const s = pool.servers[0];
  await until(() => asked >= 3);
  expect(fp.calls.length).toBe(0);
  expect(s.up).toBe(false);
  expect(s.cause).toBe("cannot resolve db.example: NXDOMAIN");
  const lines = logLines();
  expect(lines).toContain(`[warn] [state] server db.example:5432 of "web" is down at start: cannot resolve db.example: NXDOMAIN`);
  expect(lines).toContain(`[debug] [scheduler] probe of server db.example:5432 of "web": unreachable cannot resolve db.example: NXDOMAIN`);
});

test("a resolver answering no address counts as unreachable 'no address'", async () => {
  const pool = makePool(["db.example:5432"], 1);
  const fp = fakeProbe(() => "connected");
  scheduler({ resolve: async () => [] }).watch(pool, fp.probe, 10_000);
  await until(() => !pool.servers[0].up);
  expect(pool.servers[0].cause).toBe("at start: no address");
  expect(fp.calls.length).toBe(0);
});

test("a resolved name that answers comes back up with the new address", async () => {
  const pool = makePool(["db.example:5432"], 1);
  let ip = "10.0.0.7";
  const fp = fakeProbe((s) => (s.address === "10.0.0.8" ? "connected" : refused));
  scheduler({ resolve: async () => [ip] }).watch(pool, fp.probe, 20);
  await until(() => !pool.servers[0].up);
  ip = "10.0.0.8";
  await until(() => pool.servers[0].up);
  expect(pool.servers[0].address).toBe("10.0.0.8");
});

test("a probe that throws counts as unreachable with the error's message", async () => {
  const pool = makePool(["10.0.0.1:80"], 1);
  const fp = fakeProbe(() => new Error("probe blew up"));
  const sch = scheduler();
  sch.watch(pool, fp.probe, 20);
  await until(() => fp.calls.length >= 3);
  const s = pool.servers[0];
  expect(s.up).toBe(false);
  expect(s.cause).toBe("probe blew up");
  expect(logLines()).toContain(`[warn] [state] server 10.0.0.1:80 of "web" is down at start: probe blew up`);
  expect(sch.pending).toBe(1); // still probing
});

test("stop() clears the timers: no probe runs afterwards and nothing is pending", async () => {
  const pool = makePool(["10.0.0.1:80", "10.0.0.2:80"]);
  const fp = fakeProbe(() => refused);
  const sch = scheduler();
  sch.watch(pool, fp.probe, 20);
  await until(() => fp.calls.length >= 4);
  await Bun.sleep(1); // between probes: both servers wait on a timer
  sch.stop();
  expect(sch.pending).toBe(0);
  const calls = fp.calls.length;
  await Bun.sleep(100);
  expect(fp.calls.length).toBe(calls);
  // a later transition schedules nothing
  pool.report(pool.servers[0], "connected");
  pool.report(pool.servers[0], "refused");
  pool.report(pool.servers[0], "refused");
  expect(pool.servers[0].up).toBe(false);
  expect(sch.pending).toBe(0);
});

test("stop() during a probe: its result is dropped and nothing is scheduled after it", async () => {
  const pool = makePool(["10.0.0.1:80"], 1);
  pool.report(pool.servers[0], "refused");
  const fp = fakeProbe(() => "connected", 60);
  const sch = scheduler();
  sch.watch(pool, fp.probe, 10);
  await until(() => fp.running === 1);
  sch.stop();
  expect(sch.pending).toBe(1); // the probe in flight
  await until(() => fp.running === 0);
  await Bun.sleep(5);
  expect(sch.pending).toBe(0);
  expect(pool.servers[0].up).toBe(false); // the success was not reported
  await Bun.sleep(50);
  expect(fp.calls.length).toBe(1);
});

test("stop() during the initial check: a failure is not reported", async () => {
  const pool = makePool(["10.0.0.1:80"]);
  const fp = fakeProbe(() => refused, 40);
  const sch = scheduler();
  sch.watch(pool, fp.probe, 10);
  sch.stop();
  await until(() => fp.running === 0);
  await Bun.sleep(5);
  expect(pool.servers[0].up).toBe(true);
  expect(pool.servers[0].counters.failures).toBe(0);
  expect(sch.pending).toBe(0);
});

const CHILD = (stop: boolean) => `
import { Scheduler } from ${JSON.stringify(join(import.meta.dir, "../src/scheduler.ts"))};
import { ServerPool } from ${JSON.stringify(join(import.meta.dir, "../src/servers/state.ts"))};
import { setLogFile } from ${JSON.stringify(join(import.meta.dir, "../src/log.ts"))};
setLogFile("/dev/null");
const pool = new ServerPool("web", [{ address: "10.0.0.1:80", host: "10.0.0.1", port: 80, weight: 1, backup: false }], 1, (h) => h);
pool.balancer = { pick: () => undefined };
const sch = new Scheduler({ resolve: async () => [] });
sch.watch(pool, async () => ({ outcome: "refused", detail: "x" }), 60_000);
await new Promise((r) => setTimeout(r, 20));
if (!pool.servers[0].up && sch.pending === 1) console.log("down-and-waiting");
${stop ? "sch.stop(); console.log('pending', sch.pending);" : ""}
`;

test("after stop() no scheduler timer keeps the process alive", async () => {
  const run = async (stop: boolean) => {
    const proc = Bun.spawn([process.execPath, "-e", CHILD(stop)], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(1500).then(() => false)]);
    if (!exited) proc.kill("SIGKILL");
    await proc.exited;
    return { exited, out: await new Response(proc.stdout).text(), err: await new Response(proc.stderr).text() };
  };
  const [stopped, running] = await Promise.all([run(true), run(false)]);
  expect(stopped.err).toBe("");
  expect(stopped.out).toBe("down-and-waiting\npending 0\n");
  expect(stopped.exited).toBe(true);
  // without stop() the 60 s probe timer holds the process: the check above means something
  expect(running.out).toBe("down-and-waiting\n");
  expect(running.exited).toBe(false);
});

test("a server added to a watched pool gets a first check at once and takes traffic only once it passes; a failing one is probed every interval", async () => {
  const pool = makePool(["10.0.0.1:80"]);
  pool.useAlgorithm(roundrobin);
  let healthy = false;
  const fp = fakeProbe((s) => (s.key === "10.0.0.1:80" || healthy ? "connected" : refused));
  scheduler().watch(pool, fp.probe, 40);
  await until(() => fp.calls.length === 1);
  const { added } = pool.update([cfg("10.0.0.1:80"), cfg("10.0.0.2:80")]);
  const n = added[0];
  expect(n.up).toBe(false);
  await until(() => fp.callsFor(n) === 1);
  await Bun.sleep(5);
  expect([n.up, n.cause]).toEqual([false, "first check failed: connection refused"]);
  await until(() => fp.callsFor(n) >= 3); // probed again, every 40 ms
  healthy = true;
  await until(() => n.up);
  expect(logLines()).toContain(`[info] [state] server 10.0.0.2:80 of "web" is up: its first check passed`);
});

test("unwatch stops probing a pool's servers; a removed server is no longer probed", async () => {
  const pool = makePool(["10.0.0.1:80", "10.0.0.2:80"]);
  const fp = fakeProbe(() => refused);
  const sch = scheduler();
  sch.watch(pool, fp.probe, 30);
  await until(() => !pool.servers[0].up && !pool.servers[1].up);
  pool.useAlgorithm(roundrobin);
  pool.update([cfg("10.0.0.1:80")]);
  const removed = fp.calls.filter((c) => c.server.key === "10.0.0.2:80").length;
  await Bun.sleep(100);
  expect(fp.calls.filter((c) => c.server.key === "10.0.0.2:80").length).toBe(removed);
  sch.unwatch(pool);
  const n = fp.calls.length;
  await Bun.sleep(100);
  expect(fp.calls.length).toBe(n);
  expect(sch.pending).toBe(0);
});

test("a server in maintenance is not probed; back to ready, probing resumes", async () => {
  const pool = makePool(["10.0.0.1:80"]);
  const fp = fakeProbe(() => refused);
  scheduler().watch(pool, fp.probe, 30);
  await until(() => !pool.servers[0].healthy);
  pool.setAdmin(pool.servers[0], "maint");
  await Bun.sleep(40);
  const n = fp.calls.length;
  await Bun.sleep(120);
  expect(fp.calls.length).toBe(n);
  pool.setAdmin(pool.servers[0], "ready");
  await until(() => fp.calls.length > n);
});

// Active checks (health): every server, up or down, every interval with jitter; rise and fall in servers/state.
test("checkDelay: ±10 % of the interval, the first one anywhere in the first interval, ending on a slot of interval/40 (at most 50 ms)", () => {
  const now = 1_000_000; // a multiple of every slot below
  expect(checkDelay(1000, false, 0, now)).toBe(900);
  expect(checkDelay(1000, false, 0.5, now)).toBe(1000);
  expect(checkDelay(1000, false, 0.999999, now)).toBe(1100);
  expect(checkDelay(1000, true, 0, now)).toBe(100);
  expect(checkDelay(1000, true, 0.999999, now)).toBe(1000);
  expect(checkSlot(1000)).toBe(25);
  expect(checkSlot(2000)).toBe(50);
  expect(checkSlot(60_000)).toBe(50);
  // moved to the nearest slot boundary
  expect(checkDelay(1000, false, 0.55, now + 7)).toBe(1018); // 1010 from now + 7 = 1_001_017 → 1_001_025
  expect(checkDelay(1000, false, 0.45, now + 7)).toBe(993); // 990 from now + 7 = 1_000_997 → 1_001_000
  expect((now + 7 + checkDelay(1000, false, 0.51, now + 7)) % 25).toBe(0); // 1002 → 1_001_009 → 1_001_000
  for (let i = 0; i < 1000; i++) {
    const at = now + Math.floor(Math.random() * 10_000);
    const d = checkDelay(2000, false, Math.random(), at);
    expect(d).toBeGreaterThanOrEqual(1800 - 25);
    expect(d).toBeLessThanOrEqual(2200 + 25);
    expect((at + d) % 50).toBe(0);
  }
  // short intervals (tests): no slots
  expect(checkSlot(40)).toBe(1);
  expect(checkDelay(40, false, 0.5, now + 3)).toBe(40);
  expect(checkDelay(3, false, 0, now)).toBeGreaterThanOrEqual(1);
});

test("with health, up servers are checked every interval too; fall failed checks take one out, rise passed ones bring it back", async () => {
  const pool = makePool(["10.0.0.1:80", "10.0.0.2:80"], 1);
  let sick = false;
  const fp = fakeProbe((s) => (s.index === 1 && sick ? { outcome: "reset", detail: "GET /healthz → 500", code: 500, reason: "status" } : { outcome: "connected", detail: "GET /healthz → 200", code: 200 }));
  const sch = scheduler();
  sch.watch(pool, fp.probe, 10_000, { interval: 40, rise: 2, fall: 3 });
  await Bun.sleep(300);
  // ~7 checks each in 300 ms at 40 ms (the start check, then 0.1–1 interval, then 0.9–1.1)
  for (const s of pool.servers) {
    expect(fp.callsFor(s)).toBeGreaterThanOrEqual(4);
    expect(fp.callsFor(s)).toBeLessThanOrEqual(10);
  }
  expect(fp.maxRunning).toBeLessThanOrEqual(2); // one per server
  const b = pool.servers[1];
  expect(b.lastCheck).toMatchObject({ ok: true, detail: "GET /healthz → 200", code: 200 });
  sick = true;
  const n0 = fp.callsFor(b);
  await until(() => !b.up, 2000);
  expect(fp.callsFor(b) - n0).toBeGreaterThanOrEqual(3);
  expect(b.cause).toBe("after 3 failed checks: GET /healthz → 500");
  expect(b.failures).toBe(0); // not counted toward server_retry (1 here)
  expect(b.checkFailuresBy.status).toBeGreaterThanOrEqual(3);
  expect(b.lastCheck).toMatchObject({ ok: false, code: 500, reason: "status" });
  sick = false;
  await until(() => b.up, 2000);
  expect(logLines()).toContain(`[info] [state] server 10.0.0.2:80 of "web" is up again: after 2 passed checks: GET /healthz → 200`);
  expect(pool.servers[0].up).toBe(true);
});

test("with health, a server in maintenance is not checked; a reload that turns health on checks up servers from then on", async () => {
  const pool = makePool(["10.0.0.1:80"]);
  const fp = fakeProbe(() => "connected");
  const sch = scheduler();
  sch.watch(pool, fp.probe, 10_000);
  await Bun.sleep(60);
  expect(fp.calls.length).toBe(1); // the start check only
  sch.watch(pool, fp.probe, 10_000, { interval: 30, rise: 1, fall: 1 });
  await until(() => fp.calls.length >= 3, 2000);
  pool.setAdmin(pool.servers[0], "maint");
  await Bun.sleep(40);
  const n = fp.calls.length;
  await Bun.sleep(150);
  expect(fp.calls.length).toBe(n);
  pool.setAdmin(pool.servers[0], "ready");
  await until(() => fp.calls.length > n, 2000);
  // health off again: up servers are no longer checked
  sch.watch(pool, fp.probe, 10_000);
  await Bun.sleep(80);
  const m = fp.calls.length;
  await Bun.sleep(150);
  expect(fp.calls.length).toBe(m);
});
