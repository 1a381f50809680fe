/**
 * TLS handshake cost (`bun bench/tls.ts`, or `bun bench/run.ts --mode tls`):
 * plb (Bun, BoringSSL) against HAProxy and nginx (Debian's, OpenSSL 3.0),
 * each terminating TLS on http listeners and answering a tiny request itself
 * (tls-peers.ts), each balancer's whole process tree capped to --cap % of
 * one CPU in its own cgroup so that it, and not the load generator, is the
 * bottleneck. Rows: full TLS 1.3 and TLS 1.2 handshakes with an ECDSA P-256
 * and an RSA 2048 certificate, and resumed TLS 1.3 and TLS 1.2 handshakes.
 * One connection per request (HTTP/1.1, Connection: close). Reports
 * handshakes per CPU-second of the balancer (medians over --rounds, the
 * three balancers interleaved row by row, their order alternating), the
 * ratios, and whether sessions were resumed. Writes bench/results/latest-tls.md.
 *
 *   bun bench/tls.ts [--cap 20] [--duration 8] [--rounds 3] [--conns 16]
 *                    [--rows full,resumed,tls13-ecdsa,...] [--binary]
 */
import { rmSync } from "node:fs";
import type { Subprocess } from "bun";
import { cgroup, cgroupKind, launchIn, removeCgroups, throttling } from "./cgroup.ts";
import { parseBase, setUp, writeTable } from "./harness.ts";
import { withCpu } from "./measure.ts";
import { BUN, freePorts, killAllNow, log, type Peer, plbCommand, ROOT, stopAll, versions, waitReady } from "./peers.ts";
import { leastDisturbed } from "./quiet.ts";
import { plbSource, snapshotSource } from "./snapshot.ts";
import { fix, int, median, pct, spread } from "./table.ts";
import { KEY_LABEL, type KeyType, LABEL, makeCertificates, type Negotiated, probe, startTerminator, TERMINATORS, type Terminator, type TlsListener } from "./tls-peers.ts";

// ---------------------------------------------------------------- rows

type Version = "1.2" | "1.3";

interface Row {
  readonly id: string;
  readonly group: "full" | "resumed";
  readonly version: Version;
  readonly keyType: KeyType;
}

const ROWS: readonly Row[] = [
  { id: "tls13-ecdsa", group: "full", version: "1.3", keyType: "ecdsa" },
  { id: "tls13-rsa", group: "full", version: "1.3", keyType: "rsa" },
  { id: "tls12-ecdsa", group: "full", version: "1.2", keyType: "ecdsa" },
  { id: "tls12-rsa", group: "full", version: "1.2", keyType: "rsa" },
  { id: "tls13-resumed", group: "resumed", version: "1.3", keyType: "ecdsa" },
  { id: "tls12-resumed", group: "resumed", version: "1.2", keyType: "ecdsa" },
];
const title = (r: Row) => `TLS ${r.version} ${r.group === "full" ? `full, ${KEY_LABEL[r.keyType]}` : `resumed (${KEY_LABEL[r.keyType]} certificate)`}`;

/**
 * How long a run waits for a quiet machine (quiet.ts) before it measures
 * anyway, and how often a disturbed run is made: the three balancers are
 * interleaved and capped alike, so that other work on the machine touches
 * them alike rather than being waited out; the table says how much there was.
 */
const QUIET = { maxWaitMs: 5_000, attempts: 2 };

/** Load generator processes; with the balancers capped, both CPUs are theirs to use. */
const CLIENT_PROCESSES = 2;

/**
 * On a machine shared with other work (tests, builds), the balancers' cgroups
 * weigh 10 nice-0 tasks (cpu.shares) and the load generator runs at nice -10,
 * so that each balancer still gets its whole quota and the generator keeps
 * up: the cap, not the neighbours, stays the limit. Together they use well
 * under one CPU.
 */
const SHARES = 10 * 1024;
const CLIENT_NICE = "-10";

// ---------------------------------------------------------------- options

interface Options {
  cap: number;
  duration: number;
  rounds: number;
  conns: number;
  binary: boolean;
  rows: readonly Row[];
}

const USAGE =
  "usage: bun bench/tls.ts [--cap 1-100] [--duration 1-120] [--rounds 1-10] [--conns 1-256] [--rows ROW,...] [--binary]\n" +
  `  ROW: ${ROWS.map((r) => r.id).join(", ")}, or a group: full, resumed`;

function parseOptions(argv: string[]): Options | undefined {
  const base = parseBase(argv, [], ["--cap", "--rows", "--conns"], [], { duration: 8, rounds: 3 });
  if (!base || (base.opt("mode") ?? "tls") !== "tls" || base.o.only !== undefined) return undefined;
  const cap = Number(base.opt("cap") ?? 20);
  const conns = Number(base.opt("conns") ?? 16);
  const wanted = base.opt("rows")?.split(",") ?? ["full", "resumed"];
  const matches = (r: Row, w: string) => r.id === w || r.group === w;
  if (!Number.isInteger(cap) || cap < 1 || cap > 100 || !Number.isInteger(conns) || conns < 1 || conns > 256) return undefined;
  if (wanted.some((w) => !ROWS.some((r) => matches(r, w)))) return undefined;
  return { cap, conns, duration: base.o.duration, rounds: base.o.rounds, binary: base.o.binary, rows: ROWS.filter((r) => wanted.some((w) => matches(r, w))) };
}

// ---------------------------------------------------------------- the load generator

interface ClientResult {
  done: number;
  resumed: number;
  failed: number;
  seconds: number;
  cpuSeconds: number;
  errors: Record<string, number>;
}

const clients = new Set<Subprocess>();

/** CLIENT_PROCESSES tls-client.ts processes at once, `conns` connections each; their results added up. */
async function load(port: number, row: Row, seconds: number, conns: number): Promise<ClientResult> {
  const mode = row.group === "full" ? "full" : "resume";
  const runs = Array.from({ length: CLIENT_PROCESSES }, async () => {
    const proc = Bun.spawn(["nice", "-n", CLIENT_NICE, BUN, `${ROOT}/bench/tls-client.ts`, String(port), row.version, mode, String(conns), String(seconds)], { stdout: "pipe", stderr: "pipe" });
    clients.add(proc);
    const killer = setTimeout(() => proc.kill("SIGKILL"), (seconds + 30) * 1000);
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    clearTimeout(killer);
    clients.delete(proc);
    try {
      return JSON.parse(out.trim().split("\n").at(-1) ?? "") as ClientResult;
    } catch {
      throw new Error(`tls-client gave no result (exit ${proc.exitCode}):\n${out}${err}`);
    }
  });
  const rs = await Promise.all(runs);
  const errors: Record<string, number> = {};
  for (const r of rs) for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n;
  return {
    done: rs.reduce((a, r) => a + r.done, 0),
    resumed: rs.reduce((a, r) => a + r.resumed, 0),
    failed: rs.reduce((a, r) => a + r.failed, 0),
    seconds: Math.max(...rs.map((r) => r.seconds)),
    cpuSeconds: rs.reduce((a, r) => a + r.cpuSeconds, 0),
    errors,
  };
}

// ---------------------------------------------------------------- one row, one balancer

interface Cell {
  perCpuSecond: number; // handshakes per CPU-second of the balancer's process tree
  rate: number; // handshakes per second
  cpu: number; // the balancer's CPU, % of one core
  throttled: number; // % of the quota's periods in which it ran out
  resumed: number; // % of handshakes resumed
  failed: number; // connections without a 200 answer
  client: number; // the load generator's CPU, % of one core
  foreign: number; // other processes' CPU meanwhile, % of one core
}

interface Running {
  peer: Peer;
  cgroup: string;
  ports: Record<KeyType, number>;
}

interface Ctx {
  o: Options;
  running: Record<Terminator, Running>;
  cells: Map<string, Cell[]>;
  errors: string[];
}

const key = (row: Row, t: Terminator) => `${row.id}/${t}`;

async function loadRun(row: Row, t: Terminator, ctx: Ctx): Promise<Cell> {
  const { o } = ctx;
  const { peer, cgroup: cg, ports } = ctx.running[t];
  const port = ports[row.keyType];
  const what = `${LABEL[t]} ${row.id}`;
  log(`${what}: warm-up 1s, then ${o.duration}s`);
  await load(port, row, 1, o.conns);
  const { result, foreign } = await leastDisturbed(what, async () => {
    const t0 = throttling(cg);
    const [r, cpu] = await withCpu(peer.pid, () => load(port, row, o.duration, o.conns));
    const t1 = throttling(cg);
    if (r.done === 0 || r.failed > r.done / 100) throw new Error(`${what}: ${r.failed} of ${r.done} connections got no 200 answer (${JSON.stringify(r.errors)})`);
    return {
      perCpuSecond: r.done / cpu!.seconds,
      rate: r.done / r.seconds,
      cpu: cpu!.percent,
      throttled: (100 * (t1.throttled - t0.throttled)) / Math.max(1, t1.periods - t0.periods),
      resumed: (100 * r.resumed) / r.done,
      failed: r.failed,
      client: (100 * r.cpuSeconds) / r.seconds,
    };
  }, QUIET);
  return { ...result, foreign };
}

// ---------------------------------------------------------------- table

function render(ctx: Ctx, source: string, negotiated: string[]): string {
  const { o } = ctx;
  const cellsOf = (row: Row, t: Terminator) => ctx.cells.get(key(row, t)) ?? [];
  const med = (row: Row, t: Terminator, f: (c: Cell) => number) => {
    const v = cellsOf(row, t).map(f);
    return v.length ? median(v) : undefined;
  };
  const main: string[] = [];
  const check: string[] = [];
  for (const row of o.rows) {
    const rate = (t: Terminator) => med(row, t, (c) => c.perCpuSecond);
    const shown = TERMINATORS.map((t) => {
      const v = cellsOf(row, t).map((c) => c.perCpuSecond);
      if (v.length === 0) return "failed";
      const r = row.group === "resumed" ? ` (${pct(med(row, t, (c) => c.resumed))} resumed)` : "";
      return `${int(median([...v]))}${v.length > 1 ? ` (${spread(v)})` : ""}${r}`;
    });
    const q = (peer: Terminator) => {
      const a = rate("plb");
      const b = rate(peer);
      return a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}×` : "n/a";
    };
    main.push(`| ${title(row)} | ${shown.join(" | ")} | ${q("haproxy")} | ${q("nginx")} |`);
    const each = (f: (c: Cell) => number, fmt: (n?: number) => string) => TERMINATORS.map((t) => fmt(med(row, t, f))).join(" · ");
    const failed = TERMINATORS.map((t) => int(cellsOf(row, t).reduce((a, c) => a + c.failed, 0))).join(" · ");
    const worstClient = Math.max(0, ...TERMINATORS.flatMap((t) => cellsOf(row, t).map((c) => c.client)));
    const foreign = Math.max(0, ...TERMINATORS.flatMap((t) => cellsOf(row, t).map((c) => c.foreign)));
    check.push(
      `| ${title(row)} | ${each((c) => c.rate, int)} | ${each((c) => c.cpu, pct)} | ${each((c) => c.throttled, pct)} | ${pct(worstClient)} | ${failed} | ${pct(foreign)} |`,
    );
  }
  return [
    `# TLS handshakes per CPU-second: plb vs HAProxy vs nginx, each capped to ${o.cap} % of one CPU`,
    "",
    `${new Date().toISOString()} · ${cgroupKind()}, period 100 ms · plb from ${source} · ${versions()} · ${opensslVersion()}` +
      ` · ${CLIENT_PROCESSES} × ${o.conns} connections (bench/tls-client.ts), ${o.duration} s per run · median of ${o.rounds} round${o.rounds > 1 ? "s (min–max), the three interleaved row by row, their order alternating" : ""}`,
    "",
    "Handshakes per CPU-second of the balancer (its process tree's user+system time, /proc): one connection, one handshake, one request answered in place, per count.",
    "",
    "| handshake | plb | HAProxy | nginx | plb / HAProxy | plb / nginx |",
    "|---|--:|--:|--:|--:|--:|",
    ...main,
    "",
    `Was the cap the limit? Each balancer held at its cap shows about ${o.cap} % of a core and a throttled share near 100 %; the load generator must stay well below its two CPUs (200 %).`,
    "",
    "| handshake | handshakes/s (plb · HAProxy · nginx) | balancer CPU | throttled periods | load generator CPU, worst run | connections without a 200, all rounds | other processes' CPU, worst run |",
    "|---|--:|--:|--:|--:|--:|--:|",
    ...check,
    "",
    "Negotiated (openssl s_client -brief, one probe each):",
    "",
    ...negotiated.map((l) => `- ${l}`),
    "",
    `Capped: each balancer's whole process tree in its own cgroup (${o.cap} % of one CPU, free to run on both CPUs; cpu.shares ${SHARES}, so that other work on the machine does not keep it under its quota), one worker or thread each: plb \`workers = 1\`, HAProxy \`nbthread 1\`, nginx \`worker_processes 1\`.` +
      " Each answers GET / itself with 200 \"ok\" (plb route `respond`, HAProxy `http-request return`, nginx `return 200`) with a certificate and key and its Debian default TLS settings otherwise (HAProxy: Debian's Mozilla-intermediate `ssl-default-bind-*` lines, which include `no-tls-tickets`; nginx: Debian's `ssl_protocols` and `ssl_prefer_server_ciphers on`)." +
      ` Load: ${CLIENT_PROCESSES} Bun processes (BoringSSL) on both CPUs at nice ${CLIENT_NICE}, each with ${o.conns} connections in a loop (HTTP/1.1, Connection: close); full handshakes through Bun.connect without a session cache, resumed ones through node:tls offering the last session each connection received.`,
    ...(ctx.errors.length ? ["", ...ctx.errors.map((e) => `- **failed:** ${e}`)] : []),
    "",
  ].join("\n");
}

function opensslVersion(): string {
  return Bun.spawnSync(["openssl", "version"], { stdout: "pipe" }).stdout.toString().trim();
}

// ---------------------------------------------------------------- main

export async function runTls(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  if (!o) {
    console.error(USAGE);
    return 2;
  }
  const onSignal = () => {
    for (const c of clients) c.kill("SIGKILL");
    killAllNow();
    Bun.sleepSync(300); // the killed processes leave their cgroups
    removeCgroups();
  };
  const dir = setUp({ binary: o.binary, duration: o.duration, rounds: o.rounds, direct: false, pin: false }, "tls", undefined, onSignal);
  try {
    const certs = makeCertificates(dir);
    const src = o.binary ? ROOT : snapshotSource(dir);
    const running = {} as Record<Terminator, Running>;
    const errors: string[] = [];
    const negotiated: string[] = [];
    for (const t of TERMINATORS) {
      const cg = cgroup(`tls-${t}`, o.cap, SHARES);
      const [ecdsa, rsa] = freePorts(2);
      const listeners: TlsListener[] = [
        { port: ecdsa, keyType: "ecdsa" },
        { port: rsa, keyType: "rsa" },
      ];
      const peer = startTerminator(t, { dir, certs, listeners, start: (name, cmd, logFile, cwd) => launchIn(cg, name, cmd, logFile, cwd), plb: { cmd: plbCommand(o.binary, src), cwd: src } });
      for (const l of listeners) await waitReady(peer, l.port);
      running[t] = { peer, cgroup: cg, ports: { ecdsa, rsa } };
      for (const k of ["ecdsa", "rsa"] as const) {
        for (const v of ["1.3", "1.2"] as const) {
          const n: Negotiated = probe(running[t].ports[k], v);
          if (!n.answered) throw new Error(`${LABEL[t]} (${KEY_LABEL[k]}, TLS ${v}) did not answer 200 through openssl s_client`);
          negotiated.push(`${LABEL[t]}, ${KEY_LABEL[k]}, TLS ${v}: ${n.protocol} ${n.cipher} ${n.group}`);
        }
      }
    }
    log(`each balancer capped to ${o.cap} % of one CPU (${cgroupKind()}); rows ${o.rows.map((r) => r.id).join(", ")}`);
    const ctx: Ctx = { o, running, cells: new Map(), errors };
    for (let round = 1; round <= o.rounds; round++) {
      const order: Terminator[] = round % 2 ? ["plb", "haproxy", "nginx"] : ["nginx", "haproxy", "plb"];
      for (const row of o.rows) {
        for (const t of order) {
          log(`round ${round}/${o.rounds}: ${LABEL[t]} ${row.id}`);
          try {
            const c = await loadRun(row, t, ctx);
            ctx.cells.set(key(row, t), [...(ctx.cells.get(key(row, t)) ?? []), c]);
            log(`${LABEL[t]} ${row.id}: ${int(c.perCpuSecond)} per CPU-second, ${int(c.rate)}/s, ${pct(c.cpu)} of a core, throttled ${pct(c.throttled)}, resumed ${pct(c.resumed)}, client ${pct(c.client)}`);
          } catch (err) {
            const m = (err as Error).message.split("\n").slice(0, 4).join(" / ");
            ctx.errors.push(`${LABEL[t]} ${row.id} (round ${round}): ${m}`);
            log(`FAILED: ${m}`);
          }
          await Bun.sleep(500);
        }
      }
    }
    writeTable("latest-tls.md", render(ctx, plbSource(o.binary), negotiated));
    return ctx.errors.length ? 1 : 0;
  } finally {
    for (const c of clients) c.kill("SIGKILL");
    await stopAll();
    removeCgroups();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) process.exit(await runTls(process.argv.slice(2)));
