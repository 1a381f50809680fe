/**
 * Capped mode (`bun bench/run.ts --cap 50`): plb against HAProxy and nginx
 * with each balancer's whole process tree (every thread, Bun's JIT and GC
 * threads included, and every child) in its own cgroup capped to --cap % of
 * one CPU, so that the balancer and not the load side is the bottleneck.
 * The load side (wrk, smtp-source, the nginx backends, smtp-sink) is not
 * capped. Six rows: tcp, http and smtp, each with connections kept open and
 * with one connection per request/message. Medians over --rounds with the
 * balancers' order alternating, plb / best peer against the 1.10× target,
 * p99 (wrk rows), CPU µs per request of each balancer's tree (/proc), and
 * the share of quota periods throttled: the check that the cap was the
 * limit. Writes bench/results/latest-capped.md. See bench/README.md
 * ("Capped mode").
 *
 *   bun bench/run.ts --cap 1-200 [--duration 8] [--rounds 3]
 *                    [--rows tcp,http-ka,smtp-one,...] [--binary] [--no-pin]
 */
import { rmSync } from "node:fs";
import { cgroup, cgroupKind, launchIn, removeCgroups, throttling } from "./cgroup.ts";
import { type BaseOptions, guarded, parseBase, setUp, writeTable } from "./harness.ts";
import { plbHttpConfig, sanity } from "./http.ts";
import { LOAD_CPU, withCpu, wrk } from "./measure.ts";
import {
  freePorts,
  killAllNow,
  type Launcher,
  log,
  type Peer,
  plbCommand,
  plbConfig,
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
import { leastDisturbed } from "./quiet.ts";
import { calibrate, ensurePostfixTools, killSources, plbSmtpConfig, postfixVersion, SESSIONS, source, startSink } from "./smtp.ts";
import { plbSource, snapshotSource } from "./snapshot.ts";
import { fix, int, median, pct, spread } from "./table.ts";

// ---------------------------------------------------------------- rows

type Balancer = "plb" | "haproxy" | "nginx";
type Group = "tcp" | "http" | "smtp";

interface Row {
  readonly id: string;
  readonly group: Group;
  readonly title: string;
  /** A new connection per request (wrk -H "Connection: close") / per message (smtp-source without -d). */
  readonly perConnection: boolean;
}

const ROWS: readonly Row[] = [
  { id: "tcp-ka", group: "tcp", title: "tcp, keep-alive (req/s)", perConnection: false },
  { id: "tcp-close", group: "tcp", title: "tcp, one request per connection (req/s)", perConnection: true },
  { id: "http-ka", group: "http", title: "http, keep-alive (req/s)", perConnection: false },
  { id: "http-close", group: "http", title: "http, one request per connection (req/s)", perConnection: true },
  { id: "smtp-one", group: "smtp", title: "smtp, one session per message (msg/s)", perConnection: true },
  { id: "smtp-keep", group: "smtp", title: "smtp, sessions kept open (msg/s)", perConnection: false },
];
const GROUPS: readonly Group[] = ["tcp", "http", "smtp"];
const BALANCERS: Record<Group, readonly Balancer[]> = { tcp: ["plb", "haproxy"], http: ["plb", "haproxy", "nginx"], smtp: ["plb", "haproxy"] };
const LABEL: Record<Balancer, string> = { plb: "plb", haproxy: "HAProxy", nginx: "nginx" };
const TARGET = 1.1;

// ---------------------------------------------------------------- options

interface Options extends BaseOptions {
  cap: number;
  rows: readonly Row[];
}

const USAGE =
  "usage: bun bench/run.ts --cap 1-200 [--duration 1-120] [--rounds 1-10] [--rows ROW,...] [--binary] [--no-pin]\n" +
  `  ROW: ${ROWS.map((r) => r.id).join(", ")}, or a group: ${GROUPS.join(", ")}`;

function parseOptions(argv: string[]): Options | undefined {
  const base = parseBase(argv, [], ["--cap", "--rows"], [], { duration: 8, rounds: 3 });
  if (!base || base.opt("mode") !== undefined) return undefined;
  const cap = Number(base.opt("cap"));
  const wanted = base.opt("rows")?.split(",") ?? [...GROUPS];
  const matches = (r: Row, w: string) => r.id === w || r.group === w;
  if (!Number.isInteger(cap) || cap < 1 || cap > 200 || wanted.some((w) => !ROWS.some((r) => matches(r, w)))) return undefined;
  return { ...base.o, cap, rows: ROWS.filter((r) => wanted.some((w) => matches(r, w))) };
}

// ---------------------------------------------------------------- one balancer, one group of rows

/** One load run of one balancer. */
interface Cell {
  rate: number; // req/s or msg/s
  p99?: number; // ms (wrk rows)
  us: number; // the balancer tree's CPU µs per request or message
  cpu: number; // its CPU, % of one core
  throttled: number; // % of the quota's periods in which the quota ran out
  errors: number;
  foreign: number; // other processes' CPU meanwhile, % of one core
}

interface Ctx {
  o: Options;
  dir: string;
  src: string;
  backends: readonly number[];
  sinks: readonly number[];
  cgroups: Record<Balancer, string>;
  cells: Map<string, Cell[]>;
  errors: string[];
}

const key = (row: Row, b: Balancer) => `${row.id}/${b}`;

function startBalancer(b: Balancer, g: Group, port: number, ctx: Ctx): Peer {
  const start: Launcher = (name, cmd, logFile, cwd) => launchIn(ctx.cgroups[b], name, cmd, logFile, cwd);
  const servers = g === "smtp" ? ctx.sinks : ctx.backends;
  if (b === "nginx") return startNginxProxy(ctx.dir, port, servers, { start });
  const routes = [{ name: "bench", port, servers }];
  if (b === "haproxy") return startHaproxy(ctx.dir, routes, { http: g === "http", start });
  const config = g === "tcp" ? plbConfig(routes) : g === "http" ? plbHttpConfig(port, servers) : plbSmtpConfig(port, servers);
  return startPlbWith(ctx.dir, `plb-${g}`, config, { cmd: plbCommand(ctx.o.binary, ctx.src), cwd: ctx.src, start });
}

/** Warm up, then one measured run of `row` through `peer` on a quiet machine, with its CPU and throttling. */
async function loadRun(row: Row, b: Balancer, port: number, peer: Peer, ctx: Ctx): Promise<Cell> {
  const { o } = ctx;
  const what = `${LABEL[b]} ${row.id}`;
  let run: () => Promise<{ count: number; rate: number; p99?: number; errors: number }>;
  if (row.group === "smtp") {
    const keepOpen = !row.perConnection;
    log(`${what}: sizing N (also the warm-up)`);
    const n = await calibrate(port, keepOpen, o.duration);
    log(`${what}: smtp-source ${keepOpen ? "-d " : ""}-s ${SESSIONS} -m ${n}`);
    run = async () => {
      const r = await source(port, n, keepOpen, o.duration * 6 + 30);
      return { count: r.messages, rate: r.rate, errors: 0 };
    };
  } else {
    const url = `http://127.0.0.1:${port}/${SMALL}`;
    const opts = { close: row.perConnection };
    log(`${what}: warm-up 1s, then wrk ${o.duration}s`);
    await wrk(url, 1, opts);
    run = async () => {
      const r = await wrk(url, o.duration, opts);
      return { count: r.requests, rate: r.rps, p99: r.p99Ms, errors: r.errors };
    };
  }
  const cg = ctx.cgroups[b];
  const { result, foreign } = await leastDisturbed(what, async () => {
    const t0 = throttling(cg);
    const [r, cpu] = await withCpu(peer.pid, run);
    const t1 = throttling(cg);
    const throttled = (100 * (t1.throttled - t0.throttled)) / Math.max(1, t1.periods - t0.periods);
    return { rate: r.rate, p99: r.p99, errors: r.errors, us: (cpu!.seconds * 1e6) / r.count, cpu: cpu!.percent, throttled };
  });
  return { ...result, foreign };
}

/** Start balancer `b` for group `g` in its cgroup, run `rows` on it, stop it. A failure is kept in ctx.errors. */
async function measure(b: Balancer, g: Group, rows: readonly Row[], ctx: Ctx): Promise<void> {
  const m: { error?: string } = {};
  await guarded(`${b} ${g}`, m, async (own) => {
    const [port] = freePorts(1);
    const peer = own(startBalancer(b, g, port, ctx));
    await waitReady(peer, port);
    if (g === "smtp") await source(port, 4, false, 20); // 4 messages go through
    else await sanity(port);
    for (const row of rows) {
      const c = await loadRun(row, b, port, peer, ctx);
      ctx.cells.set(key(row, b), [...(ctx.cells.get(key(row, b)) ?? []), c]);
      log(`${LABEL[b]} ${row.id}: ${int(c.rate)}/s, ${fix(1)(c.us)} µs CPU each, ${pct(c.cpu)} of a core, throttled in ${pct(c.throttled)} of periods`);
      await Bun.sleep(1000);
    }
  });
  if (m.error) ctx.errors.push(`${LABEL[b]} (${g}): ${m.error.split("\n").slice(0, 6).join(" / ")}`);
}

// ---------------------------------------------------------------- table

function render(ctx: Ctx, source: string): string {
  const { o } = ctx;
  const stat = (row: Row, b: Balancer, f: (c: Cell) => number | undefined) => {
    const v = (ctx.cells.get(key(row, b)) ?? []).map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
    return v.length ? median(v) : undefined;
  };
  const all = (row: Row, f: (row: Row, b: Balancer) => string) => (["plb", "haproxy", "nginx"] as const).map((b) => (BALANCERS[row.group].includes(b) ? f(row, b) : "—"));
  const main: string[] = [];
  const check: string[] = [];
  for (const row of o.rows) {
    const rate = (b: Balancer) => stat(row, b, (c) => c.rate);
    const peers = BALANCERS[row.group].filter((b) => b !== "plb" && rate(b) !== undefined);
    const best = peers.sort((a, b) => rate(b)! - rate(a)!)[0];
    const q = best && rate("plb") !== undefined ? rate("plb")! / rate(best)! : undefined;
    const rates = all(row, (r, b) => {
      const v = (ctx.cells.get(key(r, b)) ?? []).map((c) => c.rate);
      return v.length > 1 ? `${int(median([...v]))} (${spread(v)})` : v.length ? int(v[0]) : "failed";
    });
    const p99 = row.group === "smtp" ? "—" : all(row, (r, b) => fix(2)(stat(r, b, (c) => c.p99))).join(" · ");
    const us = all(row, (r, b) => fix(1)(stat(r, b, (c) => c.us))).join(" · ");
    main.push(`| ${row.title} | ${rates.join(" | ")} | ${q === undefined ? "n/a" : `${q.toFixed(2)}× ${LABEL[best]}`} | ${q === undefined ? "n/a" : q >= TARGET ? "met" : "short"} | ${p99} | ${us} |`);
    const load = all(row, (r, b) => `${pct(stat(r, b, (c) => c.cpu))} · ${pct(stat(r, b, (c) => c.throttled))}`);
    const errs = all(row, (r, b) => int((ctx.cells.get(key(r, b)) ?? []).reduce((a, c) => a + c.errors, 0))).join(" · ");
    const foreign = Math.max(0, ...BALANCERS[row.group].flatMap((b) => (ctx.cells.get(key(row, b)) ?? []).map((c) => c.foreign)));
    check.push(`| ${row.title} | ${load.join(" | ")} | ${errs} | ${pct(foreign)} |`);
  }
  const smtp = o.rows.some((r) => r.group === "smtp");
  return [
    `# plb vs HAProxy vs nginx, each balancer capped to ${o.cap} % of one CPU`,
    "",
    `${new Date().toISOString()} · ${cgroupKind()}, period 100 ms · plb from ${source} · ${versions()}${smtp ? `; ${postfixVersion()}` : ""}` +
      ` · wrk -t1 -c64 ${o.duration} s${smtp ? `, smtp-source -s ${SESSIONS} ~${o.duration} s` : ""} · median of ${o.rounds} round${o.rounds > 1 ? "s (min–max), the balancers' order alternating" : ""}`,
    "",
    `| row | plb | HAProxy | nginx | plb / best peer | ≥ ${TARGET.toFixed(2)}× | p99 ms (plb · HAProxy · nginx) | CPU µs per request or message (plb · HAProxy · nginx) |`,
    "|---|--:|--:|--:|--:|---|--:|--:|",
    ...main,
    "",
    `Is the cap the limit? Each balancer's CPU (user+system of its process tree, all threads, /proc) in % of one core, and the share of the quota's 100 ms periods in which it ran out (cpu.stat nr_throttled / nr_periods).` +
      ` Held at its cap, a balancer shows about ${o.cap} % and a throttled share near 100 %; well below both, something else (the load side) was the limit and its row says little.`,
    "",
    "| row | plb CPU · throttled | HAProxy | nginx | errors, all rounds (plb · HAProxy · nginx) | other processes' CPU, worst run |",
    "|---|--:|--:|--:|--:|--:|",
    ...check,
    "",
    `Capped: each balancer's whole process tree in its own cgroup (${o.cap} % of one CPU), with one worker or thread each: plb \`workers = 1\`, HAProxy \`nbthread 1\`, nginx \`worker_processes 1\`.` +
      ` Not capped: wrk, smtp-source, the two nginx backends and the two smtp-sink servers (${o.pin ? `pinned to CPU ${LOAD_CPU}; the balancers may run on both CPUs` : "--no-pin: every process on both CPUs"}).` +
      ' tcp: plb protocol = "tcp" vs HAProxy mode tcp, wrk through to the backends. http: plb protocol = "http" (pool_max_idle = 256) vs HAProxy mode http (http-reuse always) vs nginx proxy (upstream keepalive 64), all three adding X-Forwarded-For, -Proto and -Host.' +
      ' smtp: plb protocol = "smtp" (waits for the server\'s greeting) vs HAProxy mode tcp, smtp-source → balancer → smtp-sink, N messages sized by a calibration run (also the warm-up); -d keeps sessions open.' +
      ` plb / best peer: plb's median over the best other balancer's; the target is ≥ ${TARGET.toFixed(2)}×. Under a binding cap, rate ≈ ${int(o.cap * 1e4)} / CPU µs per request.` +
      " This 2-vCPU VM moves ±10-15 % between runs: a ratio within that of the target is not conclusive.",
    ...(ctx.errors.length ? ["", ...ctx.errors.map((e) => `- **failed:** ${e}`)] : []),
    "",
  ].join("\n");
}

// ---------------------------------------------------------------- main

export async function runCapped(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  if (!o) {
    console.error(USAGE);
    return 2;
  }
  const groups = GROUPS.filter((g) => o.rows.some((r) => r.group === g));
  const onSignal = () => {
    killSources();
    killAllNow();
    Bun.sleepSync(300); // the killed processes leave their cgroups
    removeCgroups();
  };
  const dir = setUp(o, "capped", groups.includes("smtp") ? ensurePostfixTools : undefined, onSignal);
  try {
    const cgroups = { plb: "", haproxy: "", nginx: "" };
    try {
      for (const b of ["plb", "haproxy", "nginx"] as const) cgroups[b] = cgroup(`capped-${b}`, o.cap);
    } catch (err) {
      console.error(`bench: cannot make a capped cgroup (${cgroupKind()}; root and a writable cgroup fs needed): ${(err as Error).message}`);
      return 1;
    }
    const src = o.binary ? ROOT : snapshotSource(dir);
    const source = plbSource(o.binary);
    const start = async (ports: number[], make: (port: number, i: number) => Peer) => {
      const ps = ports.map(make);
      for (let i = 0; i < ps.length; i++) await waitReady(ps[i], ports[i]);
      return ports;
    };
    const www = writeContent(dir, false);
    const backends = groups.some((g) => g !== "smtp") ? await start(freePorts(2), (p, i) => startNginx(dir, www, `backend-${i + 1}`, p)) : [];
    const sinks = groups.includes("smtp") ? await start(freePorts(2), (p, i) => startSink(dir, `sink-${i + 1}`, p)) : [];
    log(`each balancer capped to ${o.cap} % of one CPU (${cgroupKind()}); rows ${o.rows.map((r) => r.id).join(", ")}`);
    const ctx: Ctx = { o, dir, src, backends, sinks, cgroups, cells: new Map(), errors: [] };
    for (let round = 1; round <= o.rounds; round++) {
      const order: Balancer[] = round % 2 ? ["plb", "haproxy", "nginx"] : ["nginx", "haproxy", "plb"];
      for (const g of groups) {
        for (const b of order.filter((x) => BALANCERS[g].includes(x))) {
          log(`round ${round}/${o.rounds}: ${LABEL[b]} (${g})`);
          await measure(b, g, o.rows.filter((r) => r.group === g), ctx);
          await Bun.sleep(1000);
        }
      }
    }
    writeTable("latest-capped.md", render(ctx, source));
    return ctx.errors.length ? 1 : 0;
  } finally {
    killSources();
    await stopAll();
    removeCgroups();
    rmSync(dir, { recursive: true, force: true });
  }
}
