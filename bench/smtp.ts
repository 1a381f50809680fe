/**
 * SMTP mode (`bun bench/run.ts --mode smtp`): plb with protocol = "smtp"
 * against HAProxy in `mode tcp` (nbthread 1), each over the same two
 * Postfix `smtp-sink` servers, driven by Postfix's `smtp-source`, one
 * balancer after the other, on this machine. Also times plb's "421" answer
 * when every server is down. Prints a markdown table and writes it to
 * bench/results/latest-smtp.md. See bench/README.md ("SMTP mode").
 *
 *   bun bench/run.ts --mode smtp [--binary] [--duration 10] [--rounds 1]
 *                    [--only haproxy|plb] [--no-direct] [--no-pin]
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type BaseOptions, guarded, parseBase, runRounds, setUp, writeTable } from "./harness.ts";
import { BALANCER_CPU, LOAD_CPU, withCpu } from "./measure.ts";
import {
  freePorts,
  launch,
  log,
  type Peer,
  plbCommand,
  ROOT,
  startHaproxy,
  startPlbWith,
  stop,
  stopAll,
  versions,
  waitReady,
} from "./peers.ts";
import { leastDisturbed } from "./quiet.ts";
import { plbSource, snapshotSource } from "./snapshot.ts";
import { combine, errorLines, fix, int, pct, ratio as ratioOf } from "./table.ts";

const SOURCE = "/usr/sbin/smtp-source";
const SINK = "/usr/sbin/smtp-sink";
/** Parallel SMTP sessions of smtp-source. */
export const SESSIONS = 32;
/** Sequential connections for the "421 with all servers down" timing. */
const DOWN_CONNS = 200;

// ---------------------------------------------------------------- options

type Options = BaseOptions;

const USAGE = "usage: bun bench/run.ts --mode smtp [--binary] [--duration 1-120] [--rounds 1-10] [--only haproxy|plb] [--no-direct] [--no-pin]";

/** smtp-source and smtp-sink come with Debian's postfix package. */
export function ensurePostfixTools(): void {
  if (existsSync(SOURCE) && existsSync(SINK)) return;
  log("installing postfix (for smtp-source and smtp-sink)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => Bun.spawnSync(["apt-get", "install", "-y", "postfix"], { env, stdout: "ignore", stderr: "pipe" }).exitCode === 0;
  if (!install()) {
    Bun.spawnSync(["apt-get", "update"], { env, stdout: "ignore", stderr: "ignore" });
    install();
  }
  if (!existsSync(SOURCE) || !existsSync(SINK)) throw new Error(`${SOURCE} / ${SINK} missing after apt-get install postfix`);
}

export function postfixVersion(): string {
  const r = Bun.spawnSync(["dpkg-query", "-W", "-f", "${Version}", "postfix"], { stdout: "pipe", stderr: "ignore" });
  return `postfix ${r.stdout.toString().trim() || "?"} (smtp-source, smtp-sink)`;
}

// ---------------------------------------------------------------- peers

/** One smtp-sink server: accepts any mail and discards it. */
export function startSink(dir: string, name: string, port: number): Peer {
  // -u nobody: required when run as root (drops privileges after binding).
  // -m 1024: max concurrent sessions (default 256).
  return launch(name, [SINK, "-u", "nobody", "-m", "1024", `127.0.0.1:${port}`, "1024"], LOAD_CPU, join(dir, `${name}.log`));
}

/** The plb configuration: one protocol = "smtp" service (keys as in plb.toml.example's "mail"). */
export function plbSmtpConfig(port: number, servers: readonly number[], extra = ""): string {
  return `loglevel = "warn"
timeout_shutdown = 0

[[service]]
name = "bench"
protocol = "smtp"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
${extra}`;
}

function startPlbSmtp(dir: string, name: string, config: string, o: Options, src: string): Peer {
  return startPlbWith(dir, name, config, { cmd: plbCommand(o.binary, src), cwd: src });
}

// ---------------------------------------------------------------- smtp-source

const clients = new Set<Subprocess>();

/** SIGKILL the smtp-source runs under way (a bench interrupted). */
export function killSources(): void {
  for (const c of clients) c.kill("SIGKILL");
}

export interface SourceRun {
  messages: number;
  seconds: number;
  rate: number;
}

/** smtp-source -s 32 -m N [-d] to `port`; wall time measured here. Throws on a non-zero exit (it aborts on any unexpected reply). */
export async function source(port: number, messages: number, keepOpen: boolean, limitSeconds: number): Promise<SourceRun> {
  const args = [SOURCE, ...(keepOpen ? ["-d"] : []), "-s", String(SESSIONS), "-m", String(messages), "-M", "bench.example", `127.0.0.1:${port}`];
  const t0 = performance.now();
  const proc = Bun.spawn(["taskset", "-c", LOAD_CPU, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  clients.add(proc);
  const killer = setTimeout(() => proc.kill("SIGKILL"), limitSeconds * 1000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  const seconds = (performance.now() - t0) / 1000;
  clearTimeout(killer);
  clients.delete(proc);
  if (code !== 0) throw new Error(`smtp-source ${args.slice(1).join(" ")} failed (exit ${code}${proc.signalCode ? `, ${proc.signalCode}` : ""}): ${(out + err).trim().split("\n").slice(-3).join(" / ")}`);
  return { messages, seconds, rate: messages / seconds };
}

/** A short run to size N so that the measured run takes about `duration` s (also the warm-up). */
export async function calibrate(port: number, keepOpen: boolean, duration: number): Promise<number> {
  let n = keepOpen ? 4000 : 1500;
  for (let i = 0; i < 3; i++) {
    const r = await source(port, n, keepOpen, 60);
    if (r.seconds >= 1 || i === 2) return Math.max(SESSIONS * 10, Math.min(5_000_000, Math.round(r.rate * duration)));
    n = Math.round(Math.max(n * 2, r.rate * 1.5));
  }
  return n;
}

// ---------------------------------------------------------------- one target, one round

type Target = "direct" | "haproxy" | "plb";
const TARGETS: readonly Target[] = ["direct", "haproxy", "plb"];
const LABEL: Record<Target, string> = { direct: "smtp-sink direct", haproxy: "HAProxy", plb: "plb" };

interface Measured {
  oneRate?: number; // msgs/s, one session per message
  oneMsgs?: number;
  oneSecs?: number;
  oneCpu?: number; // % of one core
  oneUs?: number; // balancer CPU µs per message
  oneForeign?: number;
  keepRate?: number; // msgs/s, sessions kept open (-d)
  keepMsgs?: number;
  keepSecs?: number;
  keepCpu?: number;
  keepUs?: number;
  keepForeign?: number;
  down50?: number; // ms, time to the 421 line with all servers down
  down99?: number;
  downMax?: number;
  downOk?: number; // connections that got the full 421 line
  error?: string;
}

/** Calibrate, then the measured run on a quiet machine (run again, up to 3 times, if disturbed). */
async function loadRun(target: Target, port: number, pid: number | undefined, keepOpen: boolean, o: Options): Promise<Partial<Measured>> {
  const what = `${target} ${keepOpen ? "sessions kept open (-d)" : "one session per message"}`;
  log(`${what}: sizing N`);
  const n = await calibrate(port, keepOpen, o.duration);
  const { result: m, foreign } = await leastDisturbed(what, async () => {
    log(`${what}: smtp-source ${keepOpen ? "-d " : ""}-s ${SESSIONS} -m ${n}`);
    const [r, cpu] = await withCpu(pid, () => source(port, n, keepOpen, o.duration * 6 + 30));
    const us = cpu ? (cpu.seconds * 1e6) / r.messages : undefined;
    const m: Partial<Measured> = keepOpen
      ? { keepRate: r.rate, keepMsgs: r.messages, keepSecs: r.seconds, keepCpu: cpu?.percent, keepUs: us }
      : { oneRate: r.rate, oneMsgs: r.messages, oneSecs: r.seconds, oneCpu: cpu?.percent, oneUs: us };
    return m;
  });
  if (keepOpen) m.keepForeign = foreign;
  else m.oneForeign = foreign;
  return m;
}

async function measure(target: Target, dir: string, sinks: readonly number[], o: Options, src: string): Promise<Measured> {
  const m: Measured = {};
  await guarded(target, m, async (own) => {
    let peer: Peer | undefined;
    let port = sinks[0];
    if (target !== "direct") {
      [port] = freePorts(1);
      peer = own(
        target === "haproxy"
          ? startHaproxy(dir, [{ name: "bench", port, servers: sinks }])
          : startPlbSmtp(dir, "plb-smtp", plbSmtpConfig(port, sinks), o, src),
      );
      await waitReady(peer, port);
      log(`${target}: pid ${peer.pid}`);
    }
    await source(port, 4, false, 20); // sanity: 4 messages go through
    Object.assign(m, await loadRun(target, port, peer?.pid, false, o));
    await Bun.sleep(1000);
    Object.assign(m, await loadRun(target, port, peer?.pid, true, o));
  });
  return m;
}

// ---------------------------------------------------------------- 421 with all servers down

/** Connect to `port`, read until the first CRLF (or close, or 5 s); ms from the connect call, and the line. */
function firstLine(port: number): Promise<{ ms: number; line: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let buf = "";
    let done = false;
    const finish = (s?: { end(): void }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s?.end();
      resolve({ ms: performance.now() - t0, line: buf.split("\r\n")[0] + (buf.includes("\r\n") ? "\r\n" : "") });
    };
    const timer = setTimeout(() => finish(), 5000);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(s, d) {
          buf += d.toString("latin1");
          if (buf.includes("\r\n")) finish(s);
        },
        close() {
          finish();
        },
        error() {
          finish();
        },
      },
    }).catch(() => finish());
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** plb with two servers that do not listen: wait until both are marked down, then time the 421 over DOWN_CONNS sequential connections. */
async function measureDown(dir: string, o: Options, src: string): Promise<Partial<Measured>> {
  const [port, s1, s2] = freePorts(3); // s1, s2: nothing listens there
  const peer = startPlbSmtp(dir, "plb-down", plbSmtpConfig(port, [s1, s2], 'server_retry = 1\ntimeout_connect = "1s"\n'), o, src);
  try {
    await waitReady(peer, port);
    // Each client makes plb try both servers once: with server_retry = 1 both go down.
    const deadline = Date.now() + 20_000;
    const marked = () => /has no server left/.test(readFileSync(peer.log, "utf8"));
    while (!marked() && Date.now() < deadline) {
      await firstLine(port);
      await Bun.sleep(200);
    }
    if (!marked()) throw new Error(`plb did not mark both servers down within 20 s:\n${readFileSync(peer.log, "utf8").split("\n").slice(-6).join("\n")}`);
    log(`plb: both servers down; ${DOWN_CONNS} sequential connections`);
    for (let i = 0; i < 20; i++) await firstLine(port); // warm-up
    const times: number[] = [];
    let ok = 0;
    let bad = "";
    for (let i = 0; i < DOWN_CONNS; i++) {
      const r = await firstLine(port);
      if (/^421 4\.3\.2 .*\r\n$/.test(r.line)) {
        ok++;
        times.push(r.ms);
      } else bad ||= JSON.stringify(r.line);
    }
    times.sort((a, b) => a - b);
    const out: Partial<Measured> = { downOk: ok };
    if (times.length) Object.assign(out, { down50: quantile(times, 0.5), down99: quantile(times, 0.99), downMax: times[times.length - 1] });
    if (ok < DOWN_CONNS) out.error = `${DOWN_CONNS - ok} of ${DOWN_CONNS} connections did not get a "421 4.3.2 ..." line (first: ${bad})`;
    return out;
  } finally {
    await stop(peer);
  }
}

// ---------------------------------------------------------------- table

type NumKey = Exclude<keyof Measured, "error">;

function render(r: Record<Target, Measured | undefined>, down: Partial<Measured> | undefined, o: Options, source: string): string {
  const { direct: d, haproxy: h, plb: p } = r;
  const cell = (m: Measured | undefined, k: NumKey, fmt: (x?: number) => string) => (m ? fmt(m[k]) : "—");
  const ratio = (k: NumKey) => ratioOf(p?.[k], h?.[k]);
  const rows: string[] = [];
  const row = (metric: string, k: NumKey, fmt: (x?: number) => string, target: string, result: string, showDirect: boolean) => {
    const q = ratio(k);
    rows.push(
      `| ${metric} | ${showDirect ? cell(d, k, fmt) : "—"} | ${cell(h, k, fmt)} | ${cell(p, k, fmt)} | ${q === undefined ? "n/a" : `${q.toFixed(2)}×`} | ${target} | ${result} |`,
    );
  };
  const atLeast = (metric: string, k: NumKey, min: number) => {
    const q = ratio(k);
    row(metric, k, int, `≥ ${min.toFixed(2)}×`, q === undefined ? "n/a" : q >= min ? "PASS" : "FAIL", true);
  };
  atLeast(`msgs/s, one session per message (smtp-source -s ${SESSIONS}, ~${o.duration}s)`, "oneRate", 1.1);
  atLeast(`msgs/s, sessions kept open (smtp-source -d -s ${SESSIONS}, ~${o.duration}s)`, "keepRate", 1.1);
  row("balancer CPU per message, one session per message (µs)", "oneUs", fix(1), "— (lower is better)", "info", false);
  row("balancer CPU per message, sessions kept open (µs)", "keepUs", fix(1), "— (lower is better)", "info", false);
  const downCell = (k: NumKey) => (down ? fix(2)(down[k] as number | undefined) : "not run");
  rows.push(
    `| time to 421 with all servers down, median (ms)² | — | —³ | ${downCell("down50")} | — | info | ${down ? `${int(down.downOk)}/${DOWN_CONNS} got 421` : "n/a"} |`,
    `| time to 421 with all servers down, p99 (ms)² | — | —³ | ${downCell("down99")} | — | info | max ${downCell("downMax")} ms |`,
  );

  const detail = (name: string, m: Measured | undefined) =>
    m === undefined
      ? []
      : [
          `| ${name} | ${int(m.oneMsgs)} in ${fix(2)(m.oneSecs)} s | ${pct(m.oneCpu)} | ${int(m.keepMsgs)} in ${fix(2)(m.keepSecs)} s | ${pct(m.keepCpu)} | ${pct(m.oneForeign)} / ${pct(m.keepForeign)} |`,
        ];
  const errors = [
    ...errorLines(r, (t) => LABEL[t]),
    ...(down?.error ? [`- **time to 421 failed:** ${down.error.split("\n").slice(0, 6).join(" / ")}`] : []),
  ];
  return [
    "# plb vs HAProxy (smtp mode)",
    "",
    `${new Date().toISOString()} · plb from ${source} · ${versions()}; ${postfixVersion()} · ${o.rounds > 1 ? `median of ${o.rounds} rounds` : "1 round"}`,
    "",
    "| metric | smtp-sink direct¹ | HAProxy (tcp) | plb (smtp) | plb / HAProxy | target | result |",
    "|---|--:|--:|--:|--:|---|---|",
    ...rows,
    "",
    "¹ smtp-source straight to one smtp-sink, no balancer: the ceiling of the load side, for reference only.",
    "",
    `² plb alone (protocol = "smtp", server_retry = 1) with two servers that do not listen, after both were marked down:` +
      ` ${DOWN_CONNS} sequential connections, time from the connect call to the full "421 4.3.2 ..." line (CRLF included).`,
    "",
    "³ not measured: HAProxy in tcp mode has no SMTP reply of its own to give when no server is available.",
    "",
    "| target | one session per message: messages in wall time | balancer CPU | kept open: messages in wall time | balancer CPU | other processes' CPU one / kept open |",
    "|---|--:|--:|--:|--:|--:|",
    ...TARGETS.flatMap((t) => detail(LABEL[t], r[t])),
    "",
    `${o.pin ? `Pinning: balancer on CPU ${BALANCER_CPU}; smtp-source and both smtp-sink servers on CPU ${LOAD_CPU}.` : "No pinning (--no-pin): all processes share both CPUs."}` +
      ` smtp-source -s ${SESSIONS} -m N (-d: one session sends message after message), N sized by a short calibration run (also the warm-up) so that a run takes ~${o.duration} s;` +
      " msgs/s = N / wall time of smtp-source. Balancer CPU: user+system time of the balancer's processes (all threads), % of one core; per message = CPU time / N." +
      ' HAProxy: mode tcp, nbthread 1, balance roundrobin. plb: protocol = "smtp" (greeting checked before relaying), defaults otherwise.' +
      " Other processes' CPU: what processes this bench did not start used meanwhile (each run waits up to 90 s for < 10% and is repeated up to 3 times if disturbed).",
    ...(errors.length ? ["", ...errors] : []),
    "",
  ].join("\n");
}

// ---------------------------------------------------------------- main

export async function runSmtp(argv: string[]): Promise<number> {
  const o = parseBase(argv, [], [], ["haproxy", "plb"])?.o;
  if (!o) {
    console.error(USAGE);
    return 2;
  }
  const dir = setUp(o, "smtp", ensurePostfixTools, killSources);
  try {
    const src = o.binary ? ROOT : snapshotSource(dir);
    const source = plbSource(o.binary);
    const sinks = freePorts(2);
    const peers = sinks.map((port, i) => startSink(dir, `sink${i + 1}`, port));
    for (let i = 0; i < peers.length; i++) await waitReady(peers[i], sinks[i]);
    log(`smtp-sink servers on ${sinks.join(", ")}`);

    const targets = TARGETS.filter((t) => (t === "direct" ? o.direct : o.only === undefined || o.only === t));
    const runs: Record<Target, Measured[]> = { direct: [], haproxy: [], plb: [] };
    await runRounds(o.rounds, targets, runs, (t) => measure(t, dir, sinks, o, src));
    let down: Partial<Measured> | undefined;
    if (o.only !== "haproxy") {
      try {
        down = await measureDown(dir, o, src);
      } catch (err) {
        down = { error: (err as Error).message };
      }
    }
    const results = Object.fromEntries(TARGETS.map((t) => [t, combine<Measured>(runs[t])])) as Record<Target, Measured | undefined>;
    const table = render(results, down, o, source);
    writeTable("latest-smtp.md", table);
    return Object.values(results).some((m) => m?.error) || down?.error ? 1 : 0;
  } finally {
    killSources();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
