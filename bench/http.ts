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
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BALANCER_CPU, descendants, LOAD_CPU, unpin, withCpu, wrk } from "./measure.ts";
import {
  BUN,
  buildBinary,
  ensureTools,
  freePorts,
  killAllNow,
  launch,
  type Peer,
  plbCommand,
  ROOT,
  SMALL,
  startNginx,
  stop,
  stopAll,
  versions,
  waitReady,
} from "./peers.ts";

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

// ---------------------------------------------------------------- options

interface Options {
  binary: boolean;
  duration: number;
  rounds: number;
  only?: string;
  direct: boolean;
  /** Also measure plb keep-alive with plb allowed on both CPUs (GC threads). */
  float: boolean;
  pin: boolean;
  /** Run plb under `bun --cpu-prof-md --cpu-prof-dir=DIR`. */
  profile?: string;
}

const USAGE =
  "usage: bun bench/run.ts --mode http [--binary] [--duration 1-120] [--rounds 1-10] [--only nginx|haproxy|plb] [--no-direct] [--no-float] [--no-pin] [--profile DIR]";

function parseOptions(argv: string[]): Options | undefined {
  const opt = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const known = new Set(["--mode", "--binary", "--duration", "--rounds", "--only", "--no-direct", "--no-float", "--no-pin", "--profile"]);
  const valued = new Set(["--mode", "--duration", "--rounds", "--only", "--profile"]);
  for (let i = 0; i < argv.length; i++) {
    if (!known.has(argv[i])) return undefined;
    if (valued.has(argv[i])) i++;
  }
  const o: Options = {
    binary: argv.includes("--binary"),
    duration: Number(opt("duration") ?? 10),
    rounds: Number(opt("rounds") ?? 1),
    only: opt("only"),
    direct: !argv.includes("--no-direct") && !opt("only"),
    pin: !argv.includes("--no-pin"),
    // Absolute: plb runs with its cwd in the (temporary) source copy.
    profile: opt("profile") && !opt("profile")!.startsWith("--") ? resolve(opt("profile")!) : opt("profile"),
    float: false,
  };
  // The unpinned plb run: only when pinning is on (else every run floats), plb
  // is measured, and no profile is taken (one profile per run, of pinned plb).
  o.float = o.pin && !argv.includes("--no-float") && (o.only === undefined || o.only === "plb") && o.profile === undefined;
  const valid = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
  if (!valid(o.duration, 120) || !valid(o.rounds, 10)) return undefined;
  if (o.only !== undefined && !["nginx", "haproxy", "plb"].includes(o.only)) return undefined;
  if (o.profile !== undefined && (o.binary || o.profile === "" || o.profile.startsWith("--"))) return undefined;
  return o;
}

// ---------------------------------------------------------------- the balancers

/** The two nginx backends (ports on 127.0.0.1) every balancer forwards to. */
type Backends = readonly number[];

/** nginx as a reverse proxy: 1 worker, upstream keepalive 64, HTTP/1.1 to the servers. */
function startNginxProxy(dir: string, port: number, servers: Backends): Peer {
  const conf = join(dir, "nginx-proxy.conf");
  const t = (s: string) => join(dir, `nginx-proxy-${s}`);
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
user root;
pid ${t("pid")};
error_log ${t("error.log")} warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_timeout 600s;
  keepalive_requests 10000000;
  client_header_timeout 600s;
  client_body_temp_path ${t("body")};
  proxy_temp_path ${t("proxy")};
  fastcgi_temp_path ${t("fastcgi")};
  uwsgi_temp_path ${t("uwsgi")};
  scgi_temp_path ${t("scgi")};
  upstream bench_servers {
${servers.map((p) => `    server 127.0.0.1:${p};`).join("\n")}
    keepalive 64;
    keepalive_requests 10000000;
    keepalive_timeout 600s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://bench_servers;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const check = Bun.spawnSync(["nginx", "-t", "-p", dir, "-c", conf], { stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`nginx -t failed:\n${check.stdout}${check.stderr}`);
  return launch("nginx-proxy", ["nginx", "-p", dir, "-c", conf], BALANCER_CPU, t("stderr.log"));
}

/** HAProxy mode http: nbthread 1, keep-alive both sides, server connections reused. */
function startHaproxyHttp(dir: string, port: number, servers: Backends): Peer {
  const conf = join(dir, "haproxy-http.cfg");
  writeFileSync(
    conf,
    `global
  nbthread 1
  maxconn 8000

defaults
  mode http
  option http-keep-alive
  http-reuse always
  maxconn 8000
  timeout connect 5s
  timeout client 600s
  timeout server 600s
  timeout http-request 600s
  timeout http-keep-alive 600s

frontend bench
  bind 127.0.0.1:${port}
  default_backend bench_servers

backend bench_servers
  balance roundrobin
${servers.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}`).join("\n")}
`,
  );
  const check = Bun.spawnSync(["haproxy", "-c", "-f", conf], { stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`haproxy -c failed:\n${check.stdout}${check.stderr}`);
  return launch("haproxy", ["haproxy", "-db", "-f", conf], BALANCER_CPU, join(dir, "haproxy-http.log"));
}

/** The plb configuration: one protocol = "http" service (keys as in plb.toml.example's "web"). */
export function plbHttpConfig(port: number, servers: Backends): string {
  return `loglevel = "warn"
# Exit at once on SIGTERM (pooled connections would otherwise wait), so that
# --profile's CPU profile is written before the bench's 3 s kill timer.
timeout_shutdown = 0

[[service]]
name = "bench"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
pool_max_idle = 256
`;
}

/**
 * A copy of src/ (and package.json, node_modules linked) taken when the bench
 * starts: every plb run of every round then runs the same code, even while
 * src/ is being edited. Returns the copy's root.
 */
function snapshotSource(dir: string): string {
  const snap = join(dir, "plb-src");
  mkdirSync(snap);
  cpSync(join(ROOT, "src"), join(snap, "src"), { recursive: true });
  for (const f of ["package.json", "bunfig.toml", "tsconfig.json"]) cpSync(join(ROOT, f), join(snap, f));
  symlinkSync(join(ROOT, "node_modules"), join(snap, "node_modules"));
  return snap;
}

function startPlbHttp(dir: string, port: number, servers: Backends, o: Options, cpu: string, src: string): Peer {
  const conf = join(dir, "plb-http.toml");
  writeFileSync(conf, plbHttpConfig(port, servers));
  const cli = join(src, "src/cli.ts");
  const cmd = o.binary ? plbCommand(true) : [BUN, cli];
  const check = Bun.spawnSync([...cmd, "--check", "--config", conf], { cwd: src, stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`plb --check failed (exit ${check.exitCode}):\n${check.stdout}${check.stderr}`);
  const run = o.profile ? [BUN, "--cpu-prof-md", `--cpu-prof-dir=${o.profile}`, cli] : cmd;
  // --pidfile: as root plb would otherwise write /var/run/plb.pid.
  const args = ["--config", conf, "--logfile", "-", "--pidfile", join(dir, "plb.pid")];
  return launch("plb", [...run, ...args], cpu, join(dir, "plb-http.log"), src);
}

// ---------------------------------------------------------------- per-thread CPU

/** CPU seconds per thread name of `pid` (all its threads, /proc/PID/task). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const comm = t === String(pid) ? "main" : s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")).replace(/[\s\d]+$/, "");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      out.set(comm, (out.get(comm) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {}
  }
  return out;
}

/** Share of the CPU `pid` used during a run that was not its main (JS) thread, in %. */
function helperShare(before: Map<string, number>, after: Map<string, number>): { helpers: number; top: string } | undefined {
  const d = new Map<string, number>();
  for (const [k, v] of after) d.set(k, v - (before.get(k) ?? 0));
  const total = [...d.values()].reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  const others = [...d].filter(([k]) => k !== "main").sort((a, b) => b[1] - a[1]);
  const helpers = others.reduce((a, [, v]) => a + v, 0);
  return {
    helpers: (helpers / total) * 100,
    top: others
      .filter(([, v]) => v > 0)
      .slice(0, 3)
      .map(([k, v]) => `${k} ${Math.round((v / total) * 100)}%`)
      .join(", "),
  };
}

/** Busy, softirq+irq and total jiffies of each CPU (/proc/stat: all but idle and iowait are busy). */
function cpuTimes(): { busy: number; irq: number; total: number }[] {
  return readFileSync("/proc/stat", "utf8")
    .split("\n")
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const f = l.trim().split(/\s+/).slice(1).map(Number);
      const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
      return { busy: total - f[3] - f[4], irq: f[5] + f[6], total };
    });
}

/** % busy (of which irq+softirq) of each CPU between two cpuTimes() readings, e.g. "98 (31) / 90 (12)". */
function busyPercent(a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>): string {
  return b
    .map((x, i) => {
      const t = Math.max(1, x.total - (a[i]?.total ?? 0));
      const p = (v: number) => Math.round((v / t) * 100);
      return `${p(x.busy - (a[i]?.busy ?? 0))} (${p(x.irq - (a[i]?.irq ?? 0))})`;
    })
    .join(" / ");
}

/** TCP segments sent on this host so far (/proc/net/snmp OutSegs; loopback: also the segments received). */
function tcpOutSegs(): number {
  const lines = readFileSync("/proc/net/snmp", "utf8").split("\n").filter((l) => l.startsWith("Tcp:"));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  return Number(values[names.indexOf("OutSegs")]);
}

/** User and system CPU seconds of `pid` and its descendants (all threads). */
function userSys(pid: number): [user: number, sys: number] {
  let u = 0;
  let k = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      u += Number(f[11]);
      k += Number(f[12]);
    } catch {}
  }
  return [u / 100, k / 100];
}

// ---------------------------------------------------------------- other load on the machine

/**
 * user+nice+system+irq+softirq jiffies of all CPUs. Tick accounting charges
 * irq/softirq ticks to the task that was running too, so this compares with
 * the processes' utime+stime (steal and idle left out).
 */
function machineProcessJiffies(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6];
}

/** CPU jiffies of this bench process (with its reaped children: wrk) and all its live descendants. */
function benchJiffies(): number {
  const fields = (pid: number) => {
    try {
      const s = readFileSync(`/proc/${pid}/stat`, "utf8");
      return s.slice(s.lastIndexOf(")") + 2).split(" ").map(Number);
    } catch {
      return undefined;
    }
  };
  const me = fields(process.pid);
  let j = me ? me[11] + me[12] + me[13] + me[14] : 0; // utime stime cutime cstime
  for (const d of descendants(process.pid)) {
    const f = fields(d);
    if (f) j += f[11] + f[12];
  }
  return j;
}

/** CPU jiffies of kernel threads (kthreadd and its children: ksoftirqd, kworkers), which mostly carry this bench's own network work. */
function kernelThreadJiffies(): number {
  let j = 0;
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      if (e === "2" || f[1] === "2") j += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return j;
}

/** A probe of CPU used by processes this bench did not start (kernel threads left out), in % of one core. */
class Foreign {
  private readonly m0 = machineProcessJiffies();
  private readonly b0 = benchJiffies();
  private readonly k0 = kernelThreadJiffies();
  private readonly t0 = performance.now();
  percent(): number {
    const j = machineProcessJiffies() - this.m0 - (benchJiffies() - this.b0) - (kernelThreadJiffies() - this.k0);
    return Math.max(0, j / 100 / ((performance.now() - this.t0) / 1000)) * 100;
  }
}

/**
 * Wait (up to `maxMs`) until other processes on the machine use less than
 * `limit` % of a core over a 1 s sample: a shared box (tests running beside
 * the bench) would otherwise skew the numbers. Returns the last sample.
 */
async function quiet(limit = 10, maxMs = 90_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let warned = false;
  for (;;) {
    const f = new Foreign();
    await Bun.sleep(1000);
    const p = f.percent();
    if (p < limit || Date.now() > deadline) {
      if (p >= limit) log(`other processes still use ${Math.round(p)}% of a core; measuring anyway`);
      return p;
    }
    if (!warned) log(`other processes use ${Math.round(p)}% of a core; waiting (up to ${maxMs / 1000}s) for a quiet machine`);
    warned = true;
  }
}

/** Runs repeated when other processes used more than QUIET_LIMIT % of a core meanwhile. */
const ATTEMPTS = 3;
const QUIET_LIMIT = 10;

/**
 * Run a measurement on a quiet machine: wait for quiet(), run, and if other
 * processes still used more than QUIET_LIMIT % of a core meanwhile, run it
 * again (ATTEMPTS in all), keeping the least disturbed. That share is stored
 * under `key`.
 */
async function undisturbed(what: string, run: () => Promise<Measured>, key: "kaForeign" | "closeForeign"): Promise<Measured> {
  let best: Measured | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    await quiet(QUIET_LIMIT);
    const f = new Foreign();
    const r = await run();
    r[key] = f.percent();
    if (best === undefined || r[key]! < best[key]!) best = r;
    if (r[key]! < QUIET_LIMIT) break;
    log(`${what}: other processes used ${Math.round(r[key]!)}% of a core meanwhile; ${attempt < ATTEMPTS ? "running it again" : `keeping the least disturbed of ${ATTEMPTS}`}`);
    await Bun.sleep(1000);
  }
  return best!;
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
async function sanity(port: number): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/${SMALL}`, { signal: AbortSignal.timeout(5000) });
    const body = await r.arrayBuffer();
    if (r.status !== 200 || body.byteLength !== 100) throw new Error(`GET /${SMALL} through port ${port}: ${r.status}, ${body.byteLength} bytes`);
  }
}

async function measure(target: Target, dir: string, backends: Backends, o: Options, src: string): Promise<Measured> {
  const m: Measured = {};
  let peer: Peer | undefined;
  try {
    let port = backends[0];
    if (target !== "direct") {
      [port] = freePorts(1);
      peer =
        target === "nginx"
          ? startNginxProxy(dir, port, backends)
          : target === "haproxy"
            ? startHaproxyHttp(dir, port, backends)
            : startPlbHttp(dir, port, backends, o, target === "plbFloat" ? "0-1" : BALANCER_CPU, src);
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
    if (target === "plbFloat") return m; // keep-alive only: the GC/threads effect
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
  } catch (err) {
    m.error = (err as Error).message;
    log(`${target}: FAILED: ${m.error}`);
  } finally {
    if (peer) await stop(peer);
  }
  return m;
}

function median(v: number[]): number {
  v.sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/** Median of each number over rounds (other processes' CPU: the maximum); strings: the first one. */
function combine(rounds: Measured[]): Measured | undefined {
  if (rounds.length === 0) return undefined;
  const out: Record<string, number | string> = {};
  const keys = new Set(rounds.flatMap((r) => Object.keys(r))) as Set<keyof Measured>;
  for (const k of keys) {
    const vals = rounds.map((r) => r[k]).filter((x) => x !== undefined);
    if (typeof vals[0] === "string") out[k] = vals[0];
    else {
      const nums = (vals as number[]).filter((x) => Number.isFinite(x));
      // Disturbance by other processes: the worst round, not the median.
      if (nums.length) out[k] = k.endsWith("Foreign") ? Math.max(...nums) : median(nums);
    }
  }
  return out as Measured;
}

// ---------------------------------------------------------------- table

const int = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "n/a" : Math.round(n).toLocaleString("en-US"));
const fix = (d: number) => (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(d));
const pct = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "—" : `${Math.round(n)}%`);

type NumKey = Exclude<keyof Measured, "error" | "helperDetail" | "kaBusy">;

function plbSource(o: Options): string {
  if (o.binary) return "dist/plb (bun build --compile)";
  const head = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT, stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--", "src"], { cwd: ROOT, stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
  return `src/cli.ts (bun; a copy of src/ taken at start) at ${head || "?"}${dirty ? " + uncommitted changes in src/" : ""}${
    o.profile ? ", under --cpu-prof-md" : ""
  }`;
}

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
  const ratio = (k: NumKey, other: Measured | undefined) => {
    const a = p?.[k];
    const b = other?.[k];
    return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : undefined;
  };
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
  const errors = (Object.entries(r) as [Target, Measured | undefined][])
    .filter(([, m]) => m?.error)
    .map(([t, m]) => `- **${t} failed:** ${m!.error!.split("\n").slice(0, 6).join(" / ")}`);

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
  if (!o.pin) unpin();
  ensureTools();
  if (o.binary) {
    log("building dist/plb");
    buildBinary();
  }
  if (o.profile) mkdirSync(o.profile, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "plb-bench-http-"));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      killAllNow();
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  try {
    log(`writing content and configs in ${dir}`);
    const src = o.binary ? ROOT : snapshotSource(dir);
    const source = plbSource(o); // describes the snapshot just taken
    const www = join(dir, "www");
    mkdirSync(www);
    writeFileSync(join(www, SMALL), `${"x".repeat(99)}\n`); // 100 bytes, as in tcp mode
    const backends = freePorts(2);
    const ngs = backends.map((port, i) => startNginx(dir, www, `nginx${i + 1}`, port));
    for (let i = 0; i < ngs.length; i++) await waitReady(ngs[i], backends[i]);

    const targets = TARGETS.filter((t) => {
      if (t === "direct") return o.direct;
      if (t === "plbFloat") return o.float;
      return o.only === undefined || o.only === t;
    });
    const runs: Record<Target, Measured[]> = { direct: [], nginx: [], haproxy: [], plb: [], plbFloat: [] };
    for (let round = 1; round <= o.rounds; round++) {
      if (o.rounds > 1) log(`round ${round}/${o.rounds}`);
      for (const t of targets) {
        runs[t].push(await measure(t, dir, backends, o, src));
        await Bun.sleep(1000);
      }
    }
    const results = Object.fromEntries(TARGETS.map((t) => [t, combine(runs[t])])) as Record<Target, Measured | undefined>;
    const table = render(results, o, source, runs);
    process.stdout.write(`\n${table}`);
    mkdirSync(join(ROOT, "bench/results"), { recursive: true });
    writeFileSync(join(ROOT, "bench/results/latest-http.md"), table);
    log("written to bench/results/latest-http.md");
    if (o.profile) log(`plb CPU profile(s) in ${o.profile}`);
    return Object.values(results).some((m) => m?.error) ? 1 : 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
