/**
 * HTTP/2 to clients, HTTP/1.1 to servers (`bun bench/h2.ts`, or `bun
 * bench/run.ts --mode h2`): h2load -c 64 -m 10 through plb, HAProxy 2.6
 * (`alpn h2,http/1.1`, `proto h2`) and nginx 1.22 (`listen … http2`) to two
 * HTTP/1.1 nginx backends serving a 100-byte file, each balancer's whole
 * process tree capped to --cap % of one CPU in its own cgroup so that it,
 * and not the load side, is the bottleneck (bench/h2-peers.ts: the three
 * configurations). Rows: over TLS (ALPN h2) and h2c (prior knowledge),
 * and gRPC unary calls (h2load POSTing a 5-byte gRPC message, h2c both
 * sides) to --grpc-servers python3-grpcio server processes over HTTP/2
 * (plb `server_protocol = "h2"`, HAProxy `proto h2`, nginx `grpc_pass`),
 * each answer checked for the server's message and a sample for
 * grpc-status 0.
 * Reports requests per CPU-second of the balancer and p99 (h2load's
 * per-request log), medians over --rounds with the three interleaved row
 * by row, their order alternating. A balancer that does not answer over
 * HTTP/2 (plb before it speaks h2) is reported as "no h2", not measured.
 * Writes bench/results/latest-h2.md.
 *
 *   bun bench/h2.ts [--cap 25] [--duration 8] [--rounds 3] [--rows tls,h2c,grpc]
 *                   [--conns 64] [--streams 10] [--grpc-servers 3] [--binary]
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { h2load, type H2loadResult } from "../tests/support/h2-peers.ts";
import { cgroup, cgroupKind, launchIn, removeCgroups, throttling } from "./cgroup.ts";
import { FRONTS, type Front, GRPC_HEADERS, GRPC_METHOD, GRPC_REQUEST, GRPC_RESPONSE_BYTES, grpcRefusal, grpcStatusZero, h2Refusal, LABEL, startGrpcServers, startH2Front, startRefusal, type Transport } from "./h2-peers.ts";
import { parseBase, setUp, writeTable } from "./harness.ts";
import { cpuTree, LOAD_CPU, withCpu } from "./measure.ts";
import { freePorts, killAllNow, log, type Peer, plbCommand, ROOT, SMALL, startNginx, stopAll, versions, waitReady, writeContent } from "./peers.ts";
import { leastDisturbed } from "./quiet.ts";
import { plbSource, snapshotSource } from "./snapshot.ts";
import { fix, int, median, pct, spread } from "./table.ts";
import { makeCertificates } from "./tls-peers.ts";

// ---------------------------------------------------------------- rows

interface Row {
  readonly id: string;
  readonly title: string;
  readonly transport: Transport;
  /** gRPC unary calls (POST /test.Echo/Unary, a 5-byte message frame) to the python3-grpcio servers, over HTTP/2 to them; else GET of the 100-byte file from the nginx backends over HTTP/1.1. */
  readonly grpc?: boolean;
}

/** Each row: one load through each balancer's listener of its transport. */
const ROWS: readonly Row[] = [
  { id: "tls", title: "h2 over TLS, GET 100 B", transport: "tls" },
  { id: "h2c", title: "h2c (prior knowledge), GET 100 B", transport: "h2c" },
  { id: "grpc", title: "gRPC unary, h2c both sides", transport: "h2c", grpc: true },
];

/** As in bench/tls.ts: interleaved and capped alike rather than waited out. */
const QUIET = { maxWaitMs: 5_000, attempts: 2 };
/** The balancers' cgroups weigh 10 nice-0 tasks and h2load runs at nice -10: the cap stays the limit on a shared machine. */
const SHARES = 10 * 1024;
const CLIENT_PREFIX = ["nice", "-n", "-10"];
/** gRPC calls nghttp makes after each grpc run, each checked for grpc-status 0. */
const GRPC_CHECKS = 20;

// ---------------------------------------------------------------- options

interface Options {
  cap: number;
  duration: number;
  rounds: number;
  conns: number;
  streams: number;
  binary: boolean;
  rows: readonly Row[];
  /** python3-grpcio server processes behind the grpc row. */
  grpcServers: number;
}

const USAGE =
  "usage: bun bench/h2.ts [--cap 1-100] [--duration 1-120] [--rounds 1-10] [--rows ROW,...] [--conns 1-512] [--streams 1-100] [--grpc-servers 1-8] [--binary]\n" +
  `  ROW: ${ROWS.map((r) => r.id).join(", ")}`;

function parseOptions(argv: string[]): Options | undefined {
  const base = parseBase(argv, [], ["--cap", "--rows", "--conns", "--streams", "--grpc-servers"], [], { duration: 8, rounds: 3 });
  if (!base || (base.opt("mode") ?? "h2") !== "h2" || base.o.only !== undefined) return undefined;
  const num = (name: string, dflt: number, max: number) => {
    const n = Number(base.opt(name) ?? dflt);
    return Number.isInteger(n) && n >= 1 && n <= max ? n : undefined;
  };
  const cap = num("cap", 25, 100);
  const conns = num("conns", 64, 512);
  const streams = num("streams", 10, 100);
  const grpcServers = num("grpc-servers", 3, 8);
  const wanted = base.opt("rows")?.split(",") ?? ROWS.map((r) => r.id);
  if (cap === undefined || conns === undefined || streams === undefined || grpcServers === undefined || wanted.some((w) => !ROWS.some((r) => r.id === w))) return undefined;
  return { cap, conns, streams, duration: base.o.duration, rounds: base.o.rounds, binary: base.o.binary, rows: ROWS.filter((r) => wanted.includes(r.id)), grpcServers };
}

// ---------------------------------------------------------------- one row, one balancer

interface Cell {
  perCpuSecond: number; // requests per CPU-second of the balancer's process tree
  rate: number; // requests per second (h2load)
  p99: number; // ms
  cpu: number; // the balancer's CPU, % of one core
  throttled: number; // % of the quota's periods in which it ran out
  failed: number; // requests failed (h2load), or answered with another status than 2xx
  client: number; // h2load's CPU, % of one core
  servers?: number; // the gRPC servers' CPU, % of one core (all processes)
  busiestServer?: number; // the busiest gRPC server process's CPU, % of one core
  foreign: number; // other processes' CPU meanwhile, % of one core
}

interface Running {
  peer?: Peer;
  cgroup: string;
  port: number;
  /** Why it is not measured ("no h2: …", "did not start: …"). */
  refused?: string;
}

interface Ctx {
  o: Options;
  running: Map<string, Running>;
  /** The python3-grpcio servers' pids (the grpc row). */
  grpcPids: number[];
  /** The h2load request body of the grpc row. */
  grpcBody: string;
  cells: Map<string, Cell[]>;
  errors: string[];
}

const key = (row: Row, b: Front) => `${row.id}/${b}`;
const at = (port: number, row: Row) => `${row.transport === "tls" ? "https" : "http"}://127.0.0.1:${port}${row.grpc ? GRPC_METHOD : `/${SMALL}`}`;

async function loadRun(row: Row, b: Front, r: Running, ctx: Ctx): Promise<Cell> {
  const { o } = ctx;
  const url = at(r.port, row);
  const load = { clients: o.conns, streams: o.streams, prefix: CLIENT_PREFIX, ...(row.grpc ? { data: ctx.grpcBody, headers: GRPC_HEADERS } : {}) };
  const what = `${LABEL[b]} ${row.id}`;
  log(`${what}: warm-up 1s, then h2load -c ${o.conns} -m ${o.streams} for ${o.duration}s`);
  await h2load(url, { ...load, duration: 1 });
  const { result, foreign } = await leastDisturbed(
    what,
    async () => {
      const t0 = throttling(r.cgroup);
      const s0 = row.grpc ? ctx.grpcPids.map(cpuTree) : [];
      const [h, cpu] = await withCpu(r.peer!.pid, () => h2load(url, { ...load, duration: o.duration }));
      const t1 = throttling(r.cgroup);
      const s1 = row.grpc ? ctx.grpcPids.map(cpuTree) : [];
      const serverPct = s1.map((c, i) => (100 * (c - s0[i])) / h.seconds);
      // h2load's failed count includes errors, timeouts and HTTP failures; 3xx would count as succeeded.
      const failed = Math.max(h.failed, h.statusOther);
      if (!(h.succeeded > 0) || failed > h.total / 100) throw new Error(`${what}: ${h.succeeded} of ${h.total} requests succeeded, ${h.status2xx} 2xx:\n${h.stdout.slice(-600)}${h.stderr.slice(-300)}`);
      if (row.grpc) await checkGrpc(what, url, h);
      return {
        perCpuSecond: h.succeeded / cpu!.seconds,
        rate: h.reqPerSec,
        p99: h.p99Ms,
        cpu: cpu!.percent,
        throttled: (100 * (t1.throttled - t0.throttled)) / Math.max(1, t1.periods - t0.periods),
        failed,
        client: (100 * h.cpuSeconds) / h.seconds,
        ...(row.grpc ? { servers: serverPct.reduce((a, b) => a + b, 0), busiestServer: Math.max(...serverPct) } : {}),
      };
    },
    QUIET,
  );
  return { ...result, foreign };
}

/**
 * h2load counts a 200 as success, and a gRPC failure can be a 200 with a
 * trailers-only answer (grpc-status 14 from a balancer): every answer must
 * carry the server's message (DATA bytes = 9 per request), and nghttp's 20
 * calls on the same front must each end with grpc-status 0.
 */
async function checkGrpc(what: string, url: string, h: H2loadResult): Promise<void> {
  // h2load's traffic counts responses to requests still open when -D ended too: allow those (at most -c × -m).
  const answered = h.dataBytes / GRPC_RESPONSE_BYTES;
  if (!(answered >= h.succeeded && answered <= h.total + h.succeeded)) throw new Error(`${what}: ${h.succeeded} calls answered 200 but ${h.dataBytes} bytes of DATA (${GRPC_RESPONSE_BYTES} per answer)`);
  const z = await grpcStatusZero(url, GRPC_CHECKS);
  if (z.ok !== GRPC_CHECKS) throw new Error(`${what}: ${z.ok} of ${GRPC_CHECKS} nghttp calls ended with grpc-status 0 and the server's message:\n${z.out}`);
}

// ---------------------------------------------------------------- table

function render(ctx: Ctx, source: string): string {
  const { o } = ctx;
  const cellsOf = (row: Row, b: Front) => ctx.cells.get(key(row, b)) ?? [];
  const med = (row: Row, b: Front, f: (c: Cell) => number) => {
    const v = cellsOf(row, b).map(f).filter(Number.isFinite);
    return v.length ? median(v) : undefined;
  };
  const main: string[] = [];
  const check: string[] = [];
  for (const row of o.rows) {
    const shown = FRONTS.map((b) => {
      const refused = ctx.running.get(key(row, b))?.refused;
      if (refused) return refused.startsWith("no h2") ? "no h2" : "did not start";
      const v = cellsOf(row, b).map((c) => c.perCpuSecond);
      if (v.length === 0) return "failed";
      return `${int(median([...v]))}${v.length > 1 ? ` (${spread(v)})` : ""}`;
    });
    const q = (peer: Front) => {
      const a = med(row, "plb", (c) => c.perCpuSecond);
      const b = med(row, peer, (c) => c.perCpuSecond);
      return a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}×` : "n/a";
    };
    const p99 = FRONTS.map((b) => fix(1)(med(row, b, (c) => c.p99))).join(" · ");
    main.push(`| ${row.title} | ${shown.join(" | ")} | ${q("haproxy")} | ${q("nginx")} | ${p99} |`);
    const each = (f: (c: Cell) => number, fmt: (n?: number) => string) => FRONTS.map((b) => fmt(med(row, b, f))).join(" · ");
    const failed = FRONTS.map((b) => int(cellsOf(row, b).reduce((a, c) => a + c.failed, 0))).join(" · ");
    const worstClient = Math.max(0, ...FRONTS.flatMap((b) => cellsOf(row, b).map((c) => c.client)));
    const foreign = Math.max(0, ...FRONTS.flatMap((b) => cellsOf(row, b).map((c) => c.foreign)));
    const worst = (f: (c: Cell) => number | undefined) => Math.max(0, ...FRONTS.flatMap((b) => cellsOf(row, b).map((c) => f(c) ?? 0)));
    const servers = row.grpc ? `${pct(worst((c) => c.servers))} · ${pct(worst((c) => c.busiestServer))}` : "—";
    check.push(`| ${row.title} | ${each((c) => c.rate, int)} | ${each((c) => c.cpu, pct)} | ${each((c) => c.throttled, pct)} | ${pct(worstClient)} | ${servers} | ${failed} | ${pct(foreign)} |`);
  }
  const notes = o.rows.flatMap((row) => FRONTS.map((b) => [row, b, ctx.running.get(key(row, b))?.refused] as const))
    .filter(([, , refused]) => refused)
    .map(([row, b, refused]) => `- ${LABEL[b]}, ${row.title}: ${refused}`);
  return [
    `# HTTP/2 to clients (HTTP/1.1 or gRPC to servers): requests per CPU-second, plb vs HAProxy vs nginx, each capped to ${o.cap} % of one CPU`,
    "",
    `${new Date().toISOString()} · ${cgroupKind()}, period 100 ms · plb from ${source} · ${versions()} · ${h2loadVersion()}` +
      ` · h2load -c ${o.conns} -m ${o.streams}, ${o.duration} s per run · median of ${o.rounds} round${o.rounds > 1 ? "s (min–max), the three interleaved row by row, their order alternating" : ""}`,
    "",
    "Requests per CPU-second of the balancer (its process tree's user+system time, /proc); p99 from h2load's per-request log.",
    "",
    "| row | plb | HAProxy | nginx | plb / HAProxy | plb / nginx | p99 ms (plb · HAProxy · nginx) |",
    "|---|--:|--:|--:|--:|--:|--:|",
    ...main,
    "",
    `Was the cap the limit? Each balancer held at its cap shows about ${o.cap} % of a core and a throttled share near 100 %; h2load must stay well below its two CPUs (200 %), and each gRPC server process well below one core (a Python server is one core at most).`,
    "",
    "| row | req/s (plb · HAProxy · nginx) | balancer CPU | throttled periods | h2load CPU, worst run | gRPC servers' CPU, worst run (all · busiest process) | failed requests, all rounds | other processes' CPU, worst run |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
    ...check,
    "",
    `Capped: each balancer's whole process tree in its own cgroup (${o.cap} % of one CPU, free to run on both CPUs; cpu.shares ${SHARES}), one worker or thread each: plb \`workers = 1\`, HAProxy \`nbthread 1\`, nginx \`worker_processes 1\`.` +
      ` Each takes HTTP/2 from clients (TLS: ALPN h2,http/1.1 with an ECDSA P-256 certificate and its Debian default TLS settings; h2c: prior knowledge) and forwards each request over HTTP/1.1 to two nginx backends (pinned to CPU ${LOAD_CPU}, not capped), round robin, server connections reused, adding X-Forwarded-For, -Proto and -Host.` +
      ` Load: one h2load process at nice -10 on both CPUs, ${o.conns} connections with ${o.streams} streams each, after a 1 s warm-up run.` +
      (o.rows.some((r) => r.grpc)
        ? ` gRPC row: h2load POSTs a 5-byte gRPC message (\`content-type: application/grpc\`, \`te: trailers\`) to ${GRPC_METHOD} of ${o.grpcServers} python3-grpcio servers (tests/support/grpc_peer.py, one process each, both CPUs, not capped), h2c both sides: plb \`server_protocol = "h2"\`, HAProxy \`server … proto h2\`, nginx \`grpc_pass grpc://\` (upstream keepalive); every answer checked for the server's message (h2load's DATA bytes) and, after each run, ${GRPC_CHECKS} nghttp calls for grpc-status 0; a grpcio client's calls before measuring.`
        : ""),
    ...(notes.length ? ["", "Not measured:", "", ...notes] : []),
    ...(ctx.errors.length ? ["", ...ctx.errors.map((e) => `- **failed:** ${e}`)] : []),
    "",
  ].join("\n");
}

function h2loadVersion(): string {
  const out = Bun.spawnSync(["h2load", "--version"], { stdout: "pipe" }).stdout.toString();
  return `h2load ${/nghttp2\/([\d.]+)/.exec(out)?.[1] ?? out.trim()}`;
}

// ---------------------------------------------------------------- main

export async function runH2(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  if (!o) {
    console.error(USAGE);
    return 2;
  }
  if (Bun.spawnSync(["bash", "-c", "command -v h2load"], { stdout: "ignore" }).exitCode !== 0) {
    console.error("bench: h2load is missing: apt-get install -y nghttp2-client");
    return 1;
  }
  const onSignal = () => {
    killAllNow();
    Bun.sleepSync(300); // the killed processes leave their cgroups
    removeCgroups();
  };
  const dir = setUp({ binary: o.binary, duration: o.duration, rounds: o.rounds, direct: false, pin: true }, "h2", undefined, onSignal);
  try {
    const certs = makeCertificates(dir);
    const src = o.binary ? ROOT : snapshotSource(dir);
    const www = writeContent(dir, false);
    const servers = freePorts(2);
    for (const [i, p] of servers.entries()) await waitReady(startNginx(dir, www, `backend-${i + 1}`, p), p);
    // Several Python processes: one grpcio server answers about 6,000 calls/s with a whole core; the balancers, not they, must be the limit.
    const grpcPorts = o.rows.some((r) => r.grpc) ? freePorts(o.grpcServers) : [];
    const grpcPids = (await startGrpcServers(dir, grpcPorts, "0-1")).map((p) => p.pid);
    const grpcBody = join(dir, "grpc-request.bin");
    writeFileSync(grpcBody, GRPC_REQUEST);
    const ctx: Ctx = { o, running: new Map(), cells: new Map(), errors: [], grpcPids, grpcBody };
    for (const b of FRONTS) {
      const cg = cgroup(`h2-${b}`, o.cap, SHARES);
      for (const row of o.rows) {
        const [port] = freePorts(1);
        const r: Running = { cgroup: cg, port };
        ctx.running.set(key(row, b), r);
        try {
          r.peer = startH2Front(b, { transport: row.transport, port, servers: row.grpc ? grpcPorts : servers, certs, grpc: row.grpc }, { dir, start: (name, cmd, logFile, cwd) => launchIn(cg, name, cmd, logFile, cwd), plb: { cmd: plbCommand(o.binary, src), cwd: src } });
          await waitReady(r.peer, port);
          r.refused = row.grpc ? await grpcRefusal(port, row.transport, certs.ca) : await h2Refusal(port, row.transport, `/${SMALL}`);
        } catch (err) {
          r.refused = startRefusal(err);
        }
        if (r.refused) log(`${LABEL[b]} ${row.id}: ${r.refused}; not measured`);
      }
    }
    log(`each balancer capped to ${o.cap} % of one CPU (${cgroupKind()}); rows ${o.rows.map((r) => r.id).join(", ")}`);
    for (let round = 1; round <= o.rounds; round++) {
      const order: Front[] = round % 2 ? ["plb", "haproxy", "nginx"] : ["nginx", "haproxy", "plb"];
      for (const row of o.rows) {
        for (const b of order) {
          const r = ctx.running.get(key(row, b))!;
          if (r.refused) continue;
          log(`round ${round}/${o.rounds}: ${LABEL[b]} ${row.id}`);
          try {
            const c = await loadRun(row, b, r, ctx);
            ctx.cells.set(key(row, b), [...(ctx.cells.get(key(row, b)) ?? []), c]);
            log(`${LABEL[b]} ${row.id}: ${int(c.perCpuSecond)} per CPU-second, ${int(c.rate)}/s, p99 ${fix(1)(c.p99)} ms, ${pct(c.cpu)} of a core, throttled ${pct(c.throttled)}, h2load ${pct(c.client)}`);
          } catch (err) {
            const m = (err as Error).message.split("\n").slice(0, 4).join(" / ");
            ctx.errors.push(`${LABEL[b]} ${row.id} (round ${round}): ${m}`);
            log(`FAILED: ${m}`);
          }
          await Bun.sleep(500);
        }
      }
    }
    writeTable("latest-h2.md", render(ctx, plbSource(o.binary)));
    return ctx.errors.length ? 1 : 0;
  } finally {
    await stopAll();
    removeCgroups();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) process.exit(await runH2(process.argv.slice(2)));
