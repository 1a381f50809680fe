/**
 * HTTP mode (`bun bench/run.ts --mode http`): plb with protocol = "http"
 * against nginx as a reverse proxy and HAProxy in `mode http`, each over the
 * same two nginx backends, one after the other, on this machine. Prints a
 * markdown table with plb/nginx and plb/HAProxy ratios and the targets of
 * issue 4, and writes it to bench/results/latest-http.md. See bench/README.md.
 *
 *   bun bench/run.ts --mode http [--binary] [--duration 10] [--rounds 1]
 *                    [--only nginx|haproxy|plb] [--no-direct] [--no-float]
 *                    [--no-pin] [--profile DIR]
 */
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { type BaseOptions, guarded, parseBase, runRounds, setUp, writeTable } from "./harness.ts";
import { BALANCER_CPU, LOAD_CPU, withCpu, wrk } from "./measure.ts";
import {
  BUN,
  freePorts,
  launch,
  log,
  type Peer,
  plbCommand,
  ROOT,
  SMALL,
  startHaproxy,
  startNginx,
  startNginxProxy,
  startPlbWith,
  stopAll,
  versions,
  waitReady,
  writeContent,
} from "./peers.ts";
import { busyPercent, cpuTimes, helperShare, tcpOutSegs, threadCpu, userSys } from "./procstat.ts";
import { leastDisturbed } from "./quiet.ts";
import { plbSource, snapshotSource } from "./snapshot.ts";
import { combine, errorLines, fix, int, pct, ratio as ratioOf } from "./table.ts";

// ---------------------------------------------------------------- options

interface Options extends BaseOptions {
  /** Also measure plb keep-alive with plb allowed on both CPUs (GC threads). */
  float: boolean;
  /** Run plb under `bun --cpu-prof-md --cpu-prof-dir=DIR`. */
  profile?: string;
}

const USAGE =
  "usage: bun bench/run.ts --mode http [--binary] [--duration 1-120] [--rounds 1-10] [--only nginx|haproxy|plb] [--no-direct] [--no-float] [--no-pin] [--profile DIR]";

function parseOptions(argv: string[]): Options | undefined {
  const base = parseBase(argv, ["--no-float"], ["--profile"], ["nginx", "haproxy", "plb"]);
  if (!base) return undefined;
  const { opt } = base;
  const o: Options = {
    ...base.o,
    // Absolute: plb runs with its cwd in the (temporary) source copy.
    profile: opt("profile") && !opt("profile")!.startsWith("--") ? resolve(opt("profile")!) : opt("profile"),
    float: false,
  };
  // The unpinned plb run: only when pinning is on (else every run floats), plb
  // is measured, and no profile is taken (one profile per run, of pinned plb).
  o.float = o.pin && !argv.includes("--no-float") && (o.only === undefined || o.only === "plb") && o.profile === undefined;
  if (o.profile !== undefined && (o.binary || o.profile === "" || o.profile.startsWith("--"))) return undefined;
  return o;
}

// ---------------------------------------------------------------- the balancers

/** The two nginx backends (ports on 127.0.0.1) every balancer forwards to. */
type Backends = readonly number[];

/** The plb configuration: one protocol = "http" service (keys as in plb.toml.example's "web"); `global`: more top-level keys. */
export function plbHttpConfig(port: number, servers: Backends, global = ""): string {
  return `loglevel = "warn"
# Exit at once on SIGTERM (pooled connections would otherwise wait), so that
# --profile's CPU profile is written before the bench's 3 s kill timer.
timeout_shutdown = 0
${global}
[[service]]
name = "bench"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
pool_max_idle = 256
`;
}

function startPlbHttp(dir: string, port: number, servers: Backends, o: Options, cpu: string, src: string): Peer {
  const cmd = plbCommand(o.binary, src);
  const run = o.profile ? [BUN, "--cpu-prof-md", `--cpu-prof-dir=${o.profile}`, join(src, "src/cli.ts")] : cmd;
  return startPlbWith(dir, "plb-http", plbHttpConfig(port, servers), { cmd, run, cwd: src, start: (name, c, log, cwd) => launch(name, c, cpu, log, cwd) });
}

/** leastDisturbed(), with other processes' CPU stored under `key`. */
async function undisturbed(what: string, run: () => Promise<Measured>, key: "kaForeign" | "closeForeign"): Promise<Measured> {
  const { result, foreign } = await leastDisturbed(what, run);
  result[key] = foreign;
  return result;
}

// ---------------------------------------------------------------- one target, one round

type Target = "direct" | "nginx" | "haproxy" | "plb" | "plbFloat";
const TARGETS: readonly Target[] = ["direct", "nginx", "haproxy", "plb", "plbFloat"];

interface Measured {
  kaRps?: number;
  kaP50?: number;
  kaP99?: number;
  kaErrors?: number;
  kaCpu?: number; // % of one core
  kaUsPerReq?: number;
  kaUserUs?: number; // the user-space part of kaUsPerReq
  kaSysUs?: number; // the kernel part (syscalls, and the loopback TCP work done in them)
  kaProjected?: number; // 1e6 / kaUsPerReq: req/s if the balancer had one whole core and were the bottleneck
  kaHelpers?: number; // % of the balancer's CPU outside its main thread
  closeRps?: number;
  closeP99?: number;
  closeErrors?: number;
  closeCpu?: number;
  closeUsPerReq?: number;
  helperDetail?: string;
  /** Busy % of each CPU during the keep-alive run ("CPU0 / CPU1"). */
  kaBusy?: string;
  kaSegsPerReq?: number; // TCP segments (all sockets on the host) per request, keep-alive
  /** CPU of processes the bench did not start, % of one core, during keep-alive / one request per connection. */
  kaForeign?: number;
  closeForeign?: number;
  error?: string;
}

/** A few plain requests through `port`: 200 and the 100-byte body, or throw. */
export async function sanity(port: number): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/${SMALL}`, { signal: AbortSignal.timeout(5000) });
    const body = await r.arrayBuffer();
    if (r.status !== 200 || body.byteLength !== 100) throw new Error(`GET /${SMALL} through port ${port}: ${r.status}, ${body.byteLength} bytes`);
  }
}

async function measure(target: Target, dir: string, backends: Backends, o: Options, src: string): Promise<Measured> {
  const m: Measured = {};
  await guarded(target, m, async (own) => {
    let peer: Peer | undefined;
    let port = backends[0];
    if (target !== "direct") {
      [port] = freePorts(1);
      peer = own(
        target === "nginx"
          ? startNginxProxy(dir, port, backends)
          : target === "haproxy"
            ? startHaproxy(dir, [{ name: "bench", port, servers: backends }], { http: true })
            : startPlbHttp(dir, port, backends, o, target === "plbFloat" ? "0-1" : BALANCER_CPU, src),
      );
      await waitReady(peer, port);
      log(`${target}: pid ${peer.pid}`);
    }
    await sanity(port);
    const pid = peer?.pid;
    const small = `http://127.0.0.1:${port}/${SMALL}`;
    const threadsOf = () => (pid ? threadCpu(pid) : new Map<string, number>());

    log(`${target}: warm-up 2s, then keep-alive ${o.duration}s`);
    await wrk(small, 2);
    Object.assign(
      m,
      await undisturbed(`${target} keep-alive`, async () => {
        const k: Measured = {};
        const t0 = threadsOf();
        const b0 = cpuTimes();
        const s0 = tcpOutSegs();
        const us0 = pid ? userSys(pid) : undefined;
        const [ka, kaCpu] = await withCpu(pid, () => wrk(small, o.duration));
        if (pid && us0) {
          const [u, k2] = userSys(pid);
          Object.assign(k, { kaUserUs: ((u - us0[0]) * 1e6) / ka.requests, kaSysUs: ((k2 - us0[1]) * 1e6) / ka.requests });
        }
        k.kaSegsPerReq = (tcpOutSegs() - s0) / ka.requests;
        k.kaBusy = busyPercent(b0, cpuTimes());
        const share = target.startsWith("plb") ? helperShare(t0, threadsOf()) : undefined;
        Object.assign(k, { kaRps: ka.rps, kaP50: ka.p50Ms, kaP99: ka.p99Ms, kaErrors: ka.errors });
        if (kaCpu) {
          const us = (kaCpu.seconds * 1e6) / ka.requests;
          Object.assign(k, { kaCpu: kaCpu.percent, kaUsPerReq: us, kaProjected: us > 0 ? 1e6 / us : undefined });
        }
        if (share) Object.assign(k, { kaHelpers: share.helpers, helperDetail: share.top });
        return k;
      }, "kaForeign"),
    );
    if (target === "plbFloat") return; // keep-alive only: the GC/threads effect
    await Bun.sleep(1000);

    log(`${target}: one request per connection ${o.duration}s`);
    Object.assign(
      m,
      await undisturbed(`${target} one request per connection`, async () => {
        const [cl, clCpu] = await withCpu(pid, () => wrk(small, o.duration, { close: true }));
        const c: Measured = { closeRps: cl.rps, closeP99: cl.p99Ms, closeErrors: cl.errors };
        if (clCpu) Object.assign(c, { closeCpu: clCpu.percent, closeUsPerReq: (clCpu.seconds * 1e6) / cl.requests });
        return c;
      }, "closeForeign"),
    );
  });
  return m;
}

// ---------------------------------------------------------------- table

type NumKey = Exclude<keyof Measured, "error" | "helperDetail" | "kaBusy">;

const LABEL: Record<Target, string> = { direct: "nginx direct", nginx: "nginx proxy", haproxy: "HAProxy", plb: "plb", plbFloat: "plb not pinned" };

/** With several rounds: each round's keep-alive req/s and other-process CPU, to see the spread behind the medians. */
function perRound(runs: Record<Target, Measured[]>): string[] {
  const lines = TARGETS.filter((t) => runs[t].length > 1).map(
    (t) => `- ${LABEL[t]}: ${runs[t].map((m) => `${int(m.kaRps)}${m.kaForeign !== undefined && m.kaForeign >= 5 ? ` (others ${pct(m.kaForeign)})` : ""}`).join(" · ")}`,
  );
  return lines.length ? ["", "Keep-alive req/s by round (with other processes' CPU where ≥ 5%):", "", ...lines] : [];
}

function render(r: Record<Target, Measured | undefined>, o: Options, source: string, runs: Record<Target, Measured[]>): string {
  const { direct: d, nginx: n, haproxy: h, plb: p, plbFloat: pf } = r;
  const cell = (m: Measured | undefined, k: NumKey, fmt: (x?: number) => string) => (m ? fmt(m[k]) : "—");
  const ratio = (k: NumKey, other: Measured | undefined) => ratioOf(p?.[k], other?.[k]);
  const q = (x: number | undefined) => (x === undefined ? "n/a" : `${x.toFixed(2)}×`);
  const verdict = (x: number | undefined, min: number) => (x === undefined ? "n/a" : x >= min ? "PASS" : "FAIL");
  const rows: string[] = [];
  const row = (metric: string, k: NumKey, fmt: (x?: number) => string, target: string, result: string, showDirect: boolean) =>
    rows.push(
      `| ${metric} | ${showDirect ? cell(d, k, fmt) : "—"} | ${cell(n, k, fmt)} | ${cell(h, k, fmt)} | ${cell(p, k, fmt)} | ${q(ratio(k, n))} | ${q(ratio(k, h))} | ${target} | ${result} |`,
    );

  const kaN = ratio("kaRps", n);
  const kaH = ratio("kaRps", h);
  row(
    `keep-alive req/s (wrk -t1 -c64, ${o.duration}s)`,
    "kaRps",
    int,
    "≥ 1.10× nginx, ≥ 1.30× HAProxy",
    `${verdict(kaN, 1.1)} / ${verdict(kaH, 1.3)}`,
    true,
  );
  row(`one request per connection req/s (${o.duration}s)`, "closeRps", int, "— (higher is better)", "info", true);
  row("p99 latency, keep-alive (ms)", "kaP99", fix(2), "— (lower is better)", "info", true);
  row("balancer CPU per request, keep-alive (µs)", "kaUsPerReq", fix(1), "— (lower is better)", "info", false);
  row("balancer CPU per request, one request per connection (µs)", "closeUsPerReq", fix(1), "— (lower is better)", "info", false);
  row("keep-alive req/s per core of balancer CPU (= 10⁶ / µs per request)³", "kaProjected", int, "— (higher is better)", "info", false);
  if (o.float) {
    rows.push(
      `| plb keep-alive req/s, plb **not pinned** (CPUs 0-1)² | — | — | — | ${cell(pf, "kaRps", int)} | — | — | info: GC-thread effect | ${
        pf?.kaRps !== undefined && p?.kaRps ? `${(pf.kaRps / p.kaRps).toFixed(2)}× pinned plb` : "n/a"
      } |`,
    );
  }

  const detail = (name: string, m: Measured | undefined) =>
    m === undefined
      ? []
      : [
          `| ${name} | ${pct(m.kaCpu)} | ${m.kaUserUs === undefined ? "—" : `${fix(1)(m.kaUserUs)} / ${fix(1)(m.kaSysUs)}`} | ${m.kaBusy ?? "—"} | ${fix(1)(m.kaSegsPerReq)} | ${pct(m.closeCpu)} | ${fix(2)(m.kaP50)} | ${fix(2)(m.closeP99)} | ${int(m.kaErrors)} / ${int(m.closeErrors)} | ${
            m.kaHelpers !== undefined ? `${pct(m.kaHelpers)} (${m.helperDetail || "—"})` : "—"
          } | ${pct(m.kaForeign)} / ${pct(m.closeForeign)} |`,
        ];
  const errors = errorLines(r);

  return [
    "# plb vs nginx vs HAProxy (http mode)",
    "",
    `${new Date().toISOString()} · plb from ${source} · ${versions()} · ${o.rounds > 1 ? `median of ${o.rounds} rounds` : "1 round"}`,
    "",
    "| metric | nginx direct¹ | nginx proxy | HAProxy | plb | plb / nginx | plb / HAProxy | target | result |",
    "|---|--:|--:|--:|--:|--:|--:|---|---|",
    ...rows,
    "",
    "¹ wrk straight to one nginx backend, no balancer: the ceiling of the load side, for reference only.",
    ...(o.float
      ? [
          "",
          `² the same plb keep-alive run with plb allowed on both CPUs (\`taskset -c 0-1\`; wrk and the backends stay on CPU ${LOAD_CPU}):` +
            " Bun's GC and JIT helper threads can then run beside the JS thread instead of taking turns with it on CPU 0" +
            " (the last columns of the table below say how much CPU they used; pinned, that time is taken from the JS thread)." +
            " plb's JS thread may then also run on CPU 1, where it competes with wrk and the backends, so this can come out higher or lower." +
            " Not comparable with the other columns; shown for the size of the effect only.",
        ]
      : []),
    "",
    "³ what the balancer would serve if it had a whole core and the load side kept up: its efficiency, independent of the bottleneck on CPU 1." +
      " An extrapolation (a saturated balancer batches more and spends a little less per request).",
    "",
    "Balancer CPU: user+system time of the balancer's processes (all threads) during the run, in % of one core." +
      " CPU 0 / CPU 1 busy: the whole machine (/proc/stat) during the keep-alive run, in brackets the part in irq+softirq (mostly loopback TCP receive work, done on the sender's CPU and charged to whatever task was running there);" +
      " a CPU near 100% is the bottleneck: CPU 0 the balancer's side, CPU 1 the load side (wrk + backends)." +
      " µs per request user / system: the balancer's CPU per request split into user space and kernel (system calls, with the loopback TCP work done inside them)." +
      " TCP segments: all segments sent on the host (client and server legs, ACKs included) per request." +
      " Other processes' CPU: what processes this bench did not start (kernel threads aside) used meanwhile, in % of one core, worst round" +
      " (each run first waits up to 90 s for it to drop under 10%, and is run again, up to 3 times, if it was higher meanwhile; the least disturbed is kept);" +
      " more than a few % means the numbers are skewed.",
    "",
    "| balancer | CPU keep-alive | µs per request user / system, keep-alive | CPU 0 / CPU 1 busy % (irq+softirq), keep-alive | TCP segments per request, keep-alive | CPU conn/req | p50 keep-alive (ms) | p99 conn/req (ms) | wrk errors ka / close | CPU outside the main thread, keep-alive | other processes' CPU ka / close |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
    ...detail("nginx direct", d),
    ...detail("nginx proxy", n),
    ...detail("HAProxy", h),
    ...detail("plb", p),
    ...detail("plb, not pinned²", pf),
    "",
    `${o.pin ? `Pinning: balancer on CPU ${BALANCER_CPU}; wrk and both nginx backends on CPU ${LOAD_CPU}.` : "No pinning (--no-pin): all processes share both CPUs."}` +
      ' wrk -t1 -c64 --latency; one request per connection = same with "Connection: close".' +
      " nginx proxy: 1 worker, upstream keepalive 64, HTTP/1.1. HAProxy: mode http, nbthread 1, http-reuse always." +
      " plb: protocol = \"http\", pool_max_idle = 256, defaults otherwise (so plb adds X-Forwarded-For/-Proto/-Host, which nginx and HAProxy are not configured to do).",
    ...perRound(runs),
    ...(errors.length ? ["", ...errors] : []),
    "",
  ].join("\n");
}

// ---------------------------------------------------------------- main

export async function runHttp(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  if (!o) {
    console.error(USAGE);
    return 2;
  }
  const dir = setUp(o, "http");
  if (o.profile) mkdirSync(o.profile, { recursive: true });
  try {
    log(`writing content and configs in ${dir}`);
    const src = o.binary ? ROOT : snapshotSource(dir);
    const source = plbSource(o.binary, o.profile); // describes the snapshot just taken
    const www = writeContent(dir, false); // the 100-byte file only
    const backends = freePorts(2);
    const ngs = backends.map((port, i) => startNginx(dir, www, `nginx${i + 1}`, port));
    for (let i = 0; i < ngs.length; i++) await waitReady(ngs[i], backends[i]);

    const targets = TARGETS.filter((t) => {
      if (t === "direct") return o.direct;
      if (t === "plbFloat") return o.float;
      return o.only === undefined || o.only === t;
    });
    const runs: Record<Target, Measured[]> = { direct: [], nginx: [], haproxy: [], plb: [], plbFloat: [] };
    await runRounds(o.rounds, targets, runs, (t) => measure(t, dir, backends, o, src));
    const results = Object.fromEntries(TARGETS.map((t) => [t, combine<Measured>(runs[t])])) as Record<Target, Measured | undefined>;
    const table = render(results, o, source, runs);
    writeTable("latest-http.md", table);
    if (o.profile) log(`plb CPU profile(s) in ${o.profile}`);
    return Object.values(results).some((m) => m?.error) ? 1 : 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
