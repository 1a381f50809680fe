/**
 * plb vs HAProxy, both in tcp mode over the same two nginx backends, one after
 * the other, on this machine. Prints a markdown table with plb/HAProxy ratios
 * and targets, and writes it to bench/results/latest.md. See bench/README.md.
 *
 *   bun bench/run.ts [--binary] [--duration 10] [--idle 5000] [--rounds 1]
 *                    [--only haproxy|plb] [--no-direct] [--no-pin]
 *
 * `--mode http` runs the http-mode comparison instead (plb vs nginx vs
 * HAProxy as HTTP proxies): bench/http.ts. `--mode smtp`: plb's smtp service
 * vs HAProxy tcp under Postfix's smtp-source/smtp-sink: bench/smtp.ts.
 * `--mode tcp` is the default. `--cap N`: every protocol with each balancer
 * capped to N % of one CPU (cgroup), so that it is the bottleneck:
 * bench/capped.ts. `--mode tls`: TLS handshakes per CPU-second, plb vs
 * HAProxy vs nginx, each capped (bench/tls.ts). `--mode h2`: HTTP/2 to
 * clients through each, capped alike (bench/h2.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { download, idleCost, IdleBackends, unpin, withCpu, wrk } from "./measure.ts";
import {
  BIG,
  BIG_BYTES,
  buildBinary,
  ensureTools,
  freePorts,
  killAllNow,
  log,
  type Peer,
  type Route,
  SMALL,
  startHaproxy,
  startNginx,
  startPlb,
  stop,
  stopAll,
  versions,
  waitReady,
  writeContent,
} from "./peers.ts";
import { guarded, runRounds, writeTable } from "./harness.ts";
import { errorLines, fix, int, ratio as ratioOf } from "./table.ts";

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const MODE = opt("mode") ?? "tcp";
if (MODE === "tls") {
  // Before --cap: tls mode is always capped (--cap is its quota, 20 by default).
  const { runTls } = await import("./tls.ts");
  process.exit(await runTls(argv));
}
if (MODE === "h2") {
  // Like tls mode, always capped (--cap 25 by default).
  const { runH2 } = await import("./h2.ts");
  process.exit(await runH2(argv));
}
if (argv.includes("--cap")) {
  const { runCapped } = await import("./capped.ts");
  process.exit(await runCapped(argv));
}
if (MODE === "http") {
  const { runHttp } = await import("./http.ts");
  process.exit(await runHttp(argv));
}
if (MODE === "smtp") {
  const { runSmtp } = await import("./smtp.ts");
  process.exit(await runSmtp(argv));
}
if (MODE !== "tcp") {
  console.error(`bench: --mode must be tcp, http, smtp, tls or h2, not "${MODE}"`);
  process.exit(2);
}
const BINARY = argv.includes("--binary");
const DURATION = Number(opt("duration") ?? 10);
const IDLE = Number(opt("idle") ?? 5000);
const ROUNDS = Number(opt("rounds") ?? 1);
const ONLY = opt("only");
const DIRECT = !argv.includes("--no-direct") && !ONLY;
const PIN = !argv.includes("--no-pin");
if (!PIN) unpin();
const valid = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
if (!valid(DURATION, 120) || !valid(IDLE, 8000) || !valid(ROUNDS, 10) || (ONLY && !["haproxy", "plb"].includes(ONLY))) {
  console.error(
    "usage: bun bench/run.ts [--binary] [--duration 1-120] [--idle 1-8000] [--rounds 1-10] [--only haproxy|plb] [--no-direct] [--no-pin]\n" +
      "       bun bench/run.ts --mode http|smtp|tls|h2 ...   bun bench/run.ts --cap 1-200 ...",
  );
  process.exit(2);
}

type Target = "direct" | "haproxy" | "plb";

/** One target's numbers from one round (all optional: a run may fail midway). */
interface Measured {
  kaRps?: number;
  kaP50?: number;
  kaP99?: number;
  kaErrors?: number;
  kaCpu?: number; // % of one core
  kaUsPerReq?: number; // balancer CPU µs per request
  closeRps?: number;
  closeErrors?: number;
  closeCpu?: number;
  closeUsPerConn?: number;
  mbps?: number; // best of 3
  dlCpu?: number;
  msPer100MB?: number; // balancer CPU ms per 100 MB relayed
  idleBytes?: number; // RSS bytes per idle proxied connection
  idleBefore?: number;
  idleAfter?: number;
  idleProxied?: number;
  error?: string;
}

// ---------------------------------------------------------------- one target, one round

interface Ctx {
  dir: string;
  nginx: number[];
  idle: IdleBackends;
  idlePorts: number[];
}

async function measure(target: Target, ctx: Ctx): Promise<Measured> {
  const m: Measured = {};
  await guarded(target, m, async (own) => {
    let peer: Peer | undefined;
    let port = ctx.nginx[0];
    if (target !== "direct") {
      const [front, idleFront] = freePorts(2);
      const routes: Route[] = [
        { name: "bench", port: front, servers: ctx.nginx },
        { name: "idle", port: idleFront, servers: ctx.idlePorts },
      ];
      peer = own(target === "haproxy" ? startHaproxy(ctx.dir, routes) : startPlb(ctx.dir, routes, BINARY));
      await waitReady(peer, front);
      await waitReady(peer, idleFront);
      port = front;
      log(`${target}: pid ${peer.pid}; ${IDLE} idle connections`);
      const idle = await idleCost(peer.pid, idleFront, ctx.idle, IDLE);
      Object.assign(m, { idleBytes: idle.bytesPerConn, idleBefore: idle.rssBefore, idleAfter: idle.rssAfter, idleProxied: idle.proxied });
    }
    const pid = peer?.pid;
    const small = `http://127.0.0.1:${port}/${SMALL}`;

    log(`${target}: warm-up 2s, then keep-alive ${DURATION}s`);
    await wrk(small, 2);
    const [ka, kaCpu] = await withCpu(pid, () => wrk(small, DURATION));
    Object.assign(m, { kaRps: ka.rps, kaP50: ka.p50Ms, kaP99: ka.p99Ms, kaErrors: ka.errors });
    if (kaCpu) Object.assign(m, { kaCpu: kaCpu.percent, kaUsPerReq: (kaCpu.seconds * 1e6) / ka.requests });
    await Bun.sleep(1000);

    log(`${target}: one request per connection ${DURATION}s`);
    const [cl, clCpu] = await withCpu(pid, () => wrk(small, DURATION, { close: true }));
    Object.assign(m, { closeRps: cl.rps, closeErrors: cl.errors });
    if (clCpu) Object.assign(m, { closeCpu: clCpu.percent, closeUsPerConn: (clCpu.seconds * 1e6) / cl.requests });
    await Bun.sleep(1000);

    log(`${target}: 200 MB download x3`);
    // CPU over all three downloads: one lasts ~0.1-0.2 s, too short for 10 ms ticks.
    const [, dlCpu] = await withCpu(pid, async () => {
      for (let i = 0; i < 3; i++) {
        const d = await download(`http://127.0.0.1:${port}/${BIG}`);
        if (d.bytes !== BIG_BYTES) throw new Error(`download got ${d.bytes} bytes, expected ${BIG_BYTES}`);
        m.mbps = Math.max(m.mbps ?? 0, d.mbps);
      }
    });
    if (dlCpu) Object.assign(m, { dlCpu: dlCpu.percent, msPer100MB: (dlCpu.seconds * 1e3 * 1e8) / (3 * BIG_BYTES) });
  });
  return m;
}

/** Median of each metric over rounds (errors: the first one). */
function combine(rounds: Measured[]): Measured | undefined {
  if (rounds.length === 0) return undefined;
  const out: Measured = {};
  const keys = new Set(rounds.flatMap((r) => Object.keys(r))) as Set<keyof Measured>;
  for (const k of keys) {
    if (k === "error") continue;
    const v = rounds.map((r) => r[k] as number | undefined).filter((x): x is number => x !== undefined && Number.isFinite(x));
    v.sort((a, b) => a - b);
    if (v.length) (out[k] as number) = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }
  const err = rounds.find((r) => r.error)?.error;
  if (err) out.error = err;
  return out;
}

// ---------------------------------------------------------------- table

const pct = (n: number | undefined) => (n === undefined ? "—" : `${Math.round(n)}%`);
const mib = (n: number | undefined) => (n === undefined ? "?" : (n / 2 ** 20).toFixed(1));

function render(r: Record<Target, Measured | undefined>): string {
  const { direct: d, haproxy: h, plb: p } = r;
  type Key = Exclude<keyof Measured, "error">;
  const cell = (m: Measured | undefined, k: Key, fmt: (n?: number) => string) => (m ? fmt(m[k] as number | undefined) : "—");
  const ratio = (k: Key) => ratioOf(p?.[k] as number | undefined, h?.[k] as number | undefined);
  const verdict = (ok: boolean | undefined) => (ok === undefined ? "n/a" : ok ? "PASS" : "FAIL");
  const rows: string[] = [];
  const row = (metric: string, k: Key, fmt: (n?: number) => string, target: string, result: string, showDirect = true) => {
    const q = ratio(k);
    rows.push(
      `| ${metric} | ${showDirect ? cell(d, k, fmt) : "—"} | ${cell(h, k, fmt)} | ${cell(p, k, fmt)} | ${q === undefined ? "n/a" : `${q.toFixed(2)}×`} | ${target} | ${result} |`,
    );
  };
  const atLeast = (metric: string, k: Key, fmt: (n?: number) => string, min: number) => {
    const q = ratio(k);
    row(metric, k, fmt, `≥ ${min.toFixed(2)}×`, verdict(q === undefined ? undefined : q >= min));
  };
  const info = (metric: string, k: Key, fmt: (n?: number) => string, showDirect = false) =>
    row(metric, k, fmt, "— (lower is better)", "info", showDirect);

  atLeast(`keep-alive req/s (wrk -c64, ${DURATION}s)`, "kaRps", int, 1.1);
  atLeast(`one request per connection req/s (${DURATION}s)`, "closeRps", int, 1.1);
  atLeast("200 MB download MB/s (best of 3)", "mbps", fix(0), 1.5);
  info("p99 latency, keep-alive (ms)", "kaP99", fix(2), true);
  const pi = p?.idleBytes;
  row(
    `RSS per idle proxied connection (${IDLE.toLocaleString("en-US")}), bytes`,
    "idleBytes",
    int,
    "≤ 2,048 B",
    verdict(pi === undefined || !Number.isFinite(pi) ? undefined : pi <= 2048),
    false,
  );
  info("balancer CPU per request, keep-alive (µs)", "kaUsPerReq", fix(1));
  info("balancer CPU per connection, one request each (µs)", "closeUsPerConn", fix(1));
  info("balancer CPU per 100 MB relayed (ms)", "msPer100MB", fix(1));

  const detail = (name: string, m: Measured | undefined) =>
    m === undefined
      ? []
      : [
          `| ${name} | ${pct(m.kaCpu)} | ${pct(m.closeCpu)} | ${pct(m.dlCpu)} | ${fix(2)(m.kaP50)} | ${int(m.kaErrors)} / ${int(m.closeErrors)} | ${
            m.idleProxied !== undefined ? `${mib(m.idleBefore)} → ${mib(m.idleAfter)} (${int(m.idleProxied)}/${int(IDLE)} proxied)` : "—"
          } |`,
        ];
  const errors = errorLines(r);

  return [
    "# plb vs HAProxy (tcp mode)",
    "",
    `${new Date().toISOString()} · plb from ${BINARY ? "dist/plb (bun build --compile)" : "src/cli.ts (bun)"} · ${versions()}` +
      ` · ${ROUNDS > 1 ? `median of ${ROUNDS} rounds` : "1 round"}`,
    "",
    "| metric | nginx direct¹ | HAProxy | plb | plb / HAProxy | target | result |",
    "|---|--:|--:|--:|--:|---|---|",
    ...rows,
    "",
    "¹ wrk/curl straight to one nginx backend, no balancer: the ceiling of the load side, for reference only.",
    "",
    "Balancer CPU: user+system time of the balancer's processes (all threads) during the run, in % of one core.",
    "",
    "| balancer | CPU keep-alive | CPU conn/req | CPU download | p50 keep-alive (ms) | wrk errors ka / close | idle RSS MiB before → after |",
    "|---|--:|--:|--:|--:|--:|---|",
    ...detail("nginx direct", d),
    ...detail("HAProxy", h),
    ...detail("plb", p),
    "",
    `${PIN ? "Pinning: balancer on CPU 0; wrk, curl and both nginx workers on CPU 1." : "No pinning (--no-pin): all processes share both CPUs."}` +
      ` wrk -t1 -c64 --latency; one request per connection = same with "Connection: close".`,
    ...(errors.length ? ["", ...errors] : []),
    "",
  ].join("\n");
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  ensureTools();
  if (BINARY) {
    log("building dist/plb");
    buildBinary();
  }
  const dir = mkdtempSync(join(tmpdir(), "plb-bench-"));
  let idle: IdleBackends | undefined;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      killAllNow();
      idle?.stop();
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  try {
    log(`writing content and configs in ${dir}`);
    const www = writeContent(dir);
    const nginxPorts = freePorts(2);
    const ngs = nginxPorts.map((port, i) => startNginx(dir, www, `nginx${i + 1}`, port));
    for (let i = 0; i < ngs.length; i++) await waitReady(ngs[i], nginxPorts[i]);
    const idlePorts = freePorts(2);
    idle = new IdleBackends(idlePorts);
    const ctx: Ctx = { dir, nginx: nginxPorts, idle, idlePorts };

    const targets: Target[] = [...(DIRECT ? ["direct" as const] : []), ...(ONLY !== "plb" ? ["haproxy" as const] : []), ...(ONLY !== "haproxy" ? ["plb" as const] : [])];
    const runs: Record<Target, Measured[]> = { direct: [], haproxy: [], plb: [] };
    await runRounds(ROUNDS, targets, runs, (t) => measure(t, ctx));
    const results = { direct: combine(runs.direct), haproxy: combine(runs.haproxy), plb: combine(runs.plb) };
    const table = render(results);
    writeTable("latest.md", table);
    return Object.values(results).some((m) => m?.error) ? 1 : 0;
  } finally {
    await stopAll();
    idle?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exit(await main());
