/**
 * 10,000 concurrent HTTP/2 streams over 100 client connections (h2load
 * -c 100 -m 100; plb's h2_max_concurrent_streams is 100), each one an
 * HTTP/1.1 request plb holds open to a server that answers none until all
 * 10,000 have arrived (or a deadline passes): the peak of requests in
 * flight at the server is what plb really held at once. Every request must
 * succeed, and plb's RSS stays bounded (measured with all held and after).
 * A second round runs on the 10,000 server connections the first left in
 * the pool (pool_max_idle raised to 10,000), and adds little memory.
 * Measured (2 cores, a busy loop beside): all 10,000 held within 0.2–1.8 s;
 * plb's RSS ~56 MiB at start, 105–115 MiB with all held, 150–190 MiB after
 * the second round.
 */
import { afterEach, expect, test } from "bun:test";
import { h2load } from "../../support/h2-peers.ts";
import { startPlb } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { rss } from "../../support/rss.ts";

const CLIENTS = 100;
const STREAMS = 100;
const TOTAL = CLIENTS * STREAMS;
/** The server answers everything this long after the first request, whether or not all have come. */
const DEADLINE_MS = 25_000;
const MiB = 1 << 20;

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Round {
  inflight: number;
  peak: number;
  arrived: number;
  firstAt: number;
  releasedAt: number;
  /** plb's RSS when the round's requests were all held (or at the deadline). */
  rssHeld: number;
}

/**
 * An HTTP/1.1 server that holds every request until `total` are in flight
 * at once (or DEADLINE_MS after the round's first one), then answers them
 * all; `round()` starts the next round.
 */
function barrierServer(total: number, plbPid: () => number) {
  let r: Round;
  let release!: () => void;
  let gate!: Promise<void>;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const round = () => {
    r = { inflight: 0, peak: 0, arrived: 0, firstAt: 0, releasedAt: 0, rssHeld: 0 };
    gate = new Promise<void>((res) => (release = res));
    return r;
  };
  round();
  const open = (cur: Round, done: () => void) => {
    if (cur.releasedAt) return;
    cur.releasedAt = Date.now();
    cur.rssHeld = rss(plbPid());
    clearTimeout(timer);
    done();
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0, // held requests must not be cut by the server's own idle timer
    async fetch() {
      const cur = r;
      const wait = gate;
      const done = release;
      cur.arrived++;
      cur.inflight++;
      if (cur.inflight > cur.peak) cur.peak = cur.inflight;
      if (cur.arrived === 1) {
        cur.firstAt = Date.now();
        timer = setTimeout(() => open(cur, done), DEADLINE_MS);
      }
      if (cur.inflight >= total) open(cur, done);
      await wait;
      cur.inflight--;
      return new Response("held");
    },
  });
  return { round, current: () => r, port: server.port as number, stop: () => (clearTimeout(timer), server.stop(true)) };
}

/** plb's established connections to the server (their local addresses), by ss. */
function serverConnections(port: number): Set<string> {
  const ss = Bun.spawnSync(["ss", "-Htn", "state", "established", `( dport = :${port} )`]);
  return new Set(
    String(ss.stdout)
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => l.trim().split(/\s+/)[2]),
  );
}

test("10,000 concurrent streams over 100 connections (h2load -c 100 -m 100) are all held at the server at once and all succeed; plb's RSS stays bounded", async () => {
  let plbPid = 0;
  const server = barrierServer(TOTAL, () => plbPid);
  cleanup.push(() => server.stop());
  const [port, statsPort] = await freePorts(2);
  const plb = await startPlb(`
[stats]
listen = "127.0.0.1:${statsPort}"
[[service]]
name = "many"
protocol = "http"
listen = ["127.0.0.1:${port}"]
h2c = "only"
servers = ["127.0.0.1:${server.port}"]
# 10,000 connects at once meet the server's listen queue (512): allow for SYN retries.
timeout_connect = "15s"
# …and keep the 10,000 server connections for the second round.
pool_max_idle = ${TOTAL}
timeout_pool_idle = "30s"
`);
  cleanup.push(() => plb.stop());
  plbPid = plb.pid;
  const rssStart = rss(plb.pid);

  // Two rounds: the second on the first's pooled server connections, and no RSS growth between them.
  const rounds: { r: Round; rssAfter: number }[] = [];
  const pooled: Set<string>[] = [];
  for (let i = 0; i < 2; i++) {
    const r = i === 0 ? server.current() : server.round();
    const t0 = Date.now();
    const load = await h2load(`http://127.0.0.1:${port}/held`, { requests: TOTAL, clients: CLIENTS, streams: STREAMS, limitSeconds: 25 });
    const rssAfter = rss(plb.pid);
    rounds.push({ r, rssAfter });
    pooled.push(serverConnections(server.port));
    console.log(
      `many-streams round ${i + 1}: peak ${r.peak} in flight at the server, all there ${r.releasedAt - r.firstAt} ms after the first; ` +
        `h2load ${((Date.now() - t0) / 1000).toFixed(1)} s; plb RSS ${(rssStart / MiB).toFixed(0)} MiB at start, ` +
        `${(r.rssHeld / MiB).toFixed(0)} MiB with all held, ${(rssAfter / MiB).toFixed(0)} MiB after`,
    );
    expect(load.killed).toBe(false);
    expect(load).toMatchObject({ protocol: "h2c", total: TOTAL, succeeded: TOTAL, failed: 0, errored: 0, timeout: 0, status2xx: TOTAL });
    expect(r.arrived).toBe(TOTAL);
    // Released by the count, not by the deadline: all 10,000 were in flight at once.
    expect(r.peak).toBe(TOTAL);
    expect(r.releasedAt - r.firstAt).toBeLessThan(DEADLINE_MS);
    expect(r.inflight).toBe(0);
    // 10,000 streams and as many server connections: bounded (tens of KiB each at most).
    expect(r.rssHeld).toBeLessThan(rssStart + 400 * MiB);
  }
  // Each round ended with its 10,000 server connections kept idle (pool_max_idle), and the
  // second round ran on the first's: the same local ports.
  expect(pooled[0].size).toBe(TOTAL);
  expect(pooled[1].size).toBe(TOTAL);
  expect([...pooled[1]].filter((p) => !pooled[0].has(p))).toEqual([]);
  // The second round reused the first's memory rather than adding as much again.
  expect(rounds[1].rssAfter).toBeLessThan(rounds[0].rssAfter + 150 * MiB);

  // plb counted them as HTTP/2.0 requests, with no error answer.
  const status = (await (await fetch(`http://127.0.0.1:${statsPort}/status.json`)).json()) as {
    services: { name: string; requests: Record<string, number>; responses: Record<string, number> }[];
  };
  const many = status.services.find((x) => x.name === "many")!;
  expect(many.requests["HTTP/2.0"]).toBe(2 * TOTAL);
  expect(Object.entries(many.responses).filter(([k, n]) => k !== "2xx" && n > 0)).toEqual([]);
  expect(await plb.stop()).toBe(0);
}, 60_000);
