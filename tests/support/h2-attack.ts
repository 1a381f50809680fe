/**
 * The rig of the HTTP/2 attack suites (tests/e2e/h2-attacks/): plb with a
 * TLS service (ALPN h2) and an h2c service in front of one backend that
 * counts request heads as they arrive; plb's CPU time and RSS while an
 * attack runs (/proc/PID/stat, /proc/PID/status); and a well-behaved client
 * that keeps asking on a connection of its own meanwhile and after.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { curlH2 } from "./h2-peers.ts";
import { type PlbProcess, startPlb } from "./plb.ts";
import { freePorts } from "./ports.ts";
import { rss } from "./rss.ts";
import { testCa } from "./test-ca.ts";

/** Bytes of the backend's /big answer. */
export const BIG = 1 << 20;

/** A backend that counts request heads when they arrive (before any body), and answers once the body is in: /big with BIG bytes, anything else "ok". */
export interface CountingBackend {
  readonly port: number;
  /** Request heads received. */
  heads(): number;
  /** Requests answered. */
  answered(): number;
  close(): Promise<void>;
}

export async function countingBackend(): Promise<CountingBackend> {
  let heads = 0;
  let answered = 0;
  const big = Buffer.alloc(BIG, "b");
  const server: Server = createServer((req, res) => {
    heads++;
    req.on("data", () => {});
    req.on("end", () => {
      answered++;
      res.setHeader("Content-Type", "text/plain");
      res.end(req.url === "/big" ? big : "ok");
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    heads: () => heads,
    answered: () => answered,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Rig {
  readonly plb: PlbProcess;
  readonly backend: CountingBackend;
  /** The TLS service (ALPN h2,http/1.1). */
  readonly tls: number;
  /** The h2c service (prior knowledge). */
  readonly h2c: number;
  stop(): Promise<void>;
}

/** plb with both services; `settings`: extra service settings (TOML lines) for both. */
export async function attackRig(settings = ""): Promise<Rig> {
  const [ca, backend, [tls, h2c]] = await Promise.all([testCa(), countingBackend(), freePorts(2)]);
  const service = (name: string, port: number, front: string) => `
[[service]]
name = "${name}"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${backend.port}"]
${front}
${settings}
`;
  const plb = await startPlb(
    service("tls", tls, `tls = { cert = "${ca.server.cert}", key = "${ca.server.key}" }`) + service("h2c", h2c, "h2c = true"),
  );
  return {
    plb,
    backend,
    tls,
    h2c,
    async stop() {
      await plb.stop();
      await backend.close();
    },
  };
}

/** CPU seconds (user + system, all threads) `pid` used so far. */
export function cpuSeconds(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

export interface Measured<T> {
  readonly result: T;
  /** plb's CPU seconds during the run. */
  readonly cpu: number;
  readonly ms: number;
  /** RSS before, and its highest sample during the run (every 20 ms), in bytes. */
  readonly rssBefore: number;
  readonly rssPeak: number;
}

/** Run `fn` while sampling `pid`'s RSS; its CPU time is read before and after. */
export async function measure<T>(pid: number, fn: () => Promise<T>): Promise<Measured<T>> {
  const rssBefore = rss(pid);
  let rssPeak = rssBefore;
  const timer = setInterval(() => {
    try {
      rssPeak = Math.max(rssPeak, rss(pid));
    } catch {}
  }, 20);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  try {
    const result = await fn();
    rssPeak = Math.max(rssPeak, rss(pid));
    return { result, cpu: cpuSeconds(pid) - cpu0, ms: performance.now() - t0, rssBefore, rssPeak };
  } finally {
    clearInterval(timer);
  }
}

const MiB = 1 << 20;

/** One line for the test's output: what the attack cost plb. */
export function costLine(name: string, m: Measured<unknown>): string {
  return `${name}: plb CPU ${m.cpu.toFixed(2)} s in ${Math.round(m.ms)} ms, RSS ${(m.rssBefore / MiB).toFixed(1)} → peak ${(m.rssPeak / MiB).toFixed(1)} MiB (+${((m.rssPeak - m.rssBefore) / MiB).toFixed(1)})`;
}

/**
 * A well-behaved client beside an attack: curl --http2 over TLS, one
 * request after another on connections of its own, for as long as `attack`
 * runs (at most `max` requests), then one more after it. The statuses, in
 * order; the last one is the request after the attack.
 */
export async function politeClient(port: number, attack: Promise<unknown>, max = 200): Promise<{ during: number[]; after: number }> {
  let over = false;
  void attack.then(
    () => (over = true),
    () => (over = true),
  );
  const during: number[] = [];
  do {
    const r = await curlH2(`https://localhost:${port}/polite`, { resolve: [`localhost:${port}:127.0.0.1`], maxSeconds: 20 });
    during.push(r.httpVersion === "2" ? r.status : -1);
  } while (!over && during.length < max);
  await attack.catch(() => {});
  const last = await curlH2(`https://localhost:${port}/polite-after`, { resolve: [`localhost:${port}:127.0.0.1`], maxSeconds: 20 });
  return { during, after: last.httpVersion === "2" ? last.status : -1 };
}

/** TCP sockets on local port `port` that process `pid` holds, in any state (from `ss -p`). */
export function socketsHeld(pid: number, port: number): number {
  const r = Bun.spawnSync(["ss", "-Htanp", `( sport = :${port} )`]);
  return r.stdout
    .toString()
    .split("\n")
    .filter((l) => l.includes(`pid=${pid},`) && !/^LISTEN/.test(l)).length;
}
