/**
 * The cost of active health checks (issue 19 §3: 1,000 servers checked
 * every second should cost less than 5 % of one core): plb with 10 services
 * of 100 servers each, `health = { interval = "1s" }`, against 1,000
 * loopback listeners in this process (http: a 200 to GET /healthz on a
 * kept connection (health.reuse, the default); http-close: the same with
 * `reuse = false`, one connection per check; tcp: accept and close; smtp:
 * 220, 250 to EHLO, 221 to QUIT).
 * plb's CPU (its process tree, /proc) over --seconds after a warm-up,
 * as % of one core, beside the same plb without `health` (idle: only its
 * start checks), the checks the servers saw per second, and a floor: a
 * bare Bun process (this script with --floor) doing the same exchanges on
 * the same schedule (±10 %, on 25 ms slots) with nothing else (Bun.connect, the bytes, close; no
 * timeout timers, no state, no promises): what a Bun program cannot go below.
 *
 *   bun bench/checks.ts [--seconds 20] [--warmup 5] [--servers 1000] [--only http,http-close,tcp,smtp]
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TCPSocketListener } from "bun";
import { cpuTree } from "./measure.ts";
import { freePorts, log, plbCommand, startPlbWith, stop, stopAll, waitReady } from "./peers.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg("seconds", 20);
const WARMUP = arg("warmup", 5);
const SERVERS = arg("servers", 1000);
const PER_SERVICE = 100;
type Kind = "http" | "http-close" | "tcp" | "smtp";
const KINDS = (process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1]!.split(",") : ["http", "http-close", "tcp", "smtp"]) as Kind[];
const protocolOf = (kind: Kind) => (kind === "http-close" ? "http" : kind);

if (process.argv.includes("--floor")) await floor(process.argv[process.argv.indexOf("--floor") + 1] as Kind, JSON.parse(process.env.CHECK_PORTS!));

/** The floor: each port every second (spread), the kind's exchange, then close; runs until killed. */
async function floor(kind: Kind, ports: number[]): Promise<never> {
  const say = kind === "http-close" ? "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" : kind === "http" ? "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" : undefined;
  const kept = new Map<number, { write(s: string): number }>();
  const one = (port: number) => {
    const k = kept.get(port);
    if (k) return void k.write(say!);
    return Bun.connect<{ n: number }>({
      hostname: "127.0.0.1",
      port,
      data: { n: 0 },
      socket: {
        open(s) {
          if (kind === "tcp") s.end();
          else if (say) s.write(say);
          if (kind === "http") kept.set(port, s);
        },
        data(s, d) {
          if (kind !== "smtp") return;
          const t = d.toString();
          if (t.startsWith("220")) s.write("EHLO floor\r\n");
          else if (t.startsWith("250")) s.write("QUIT\r\n");
          else s.end();
        },
        close() {
          kept.delete(port);
        },
        error() {},
        connectError() {},
      },
    }).catch(() => {});
  };
  // on 25 ms slots, as plb's checks (src/scheduler.ts checkDelay): the same wake-ups
  const slotted = (d: number) => Math.max(1, Math.ceil((Date.now() + d - 12.5) / 25) * 25 - Date.now());
  for (const port of ports) {
    const tick = () => {
      void one(port);
      setTimeout(tick, slotted(900 + 200 * Math.random()));
    };
    setTimeout(tick, slotted(Math.random() * 1000));
  }
  await new Promise(() => {});
  throw new Error("unreachable");
}

/** Checks seen by the servers: connections (tcp, smtp) or requests (http). */
let accepted = 0;
const listeners: TCPSocketListener<{ buf: string }>[] = [];
const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const OK_CLOSE = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
function listenAll(kind: Kind): number[] {
  for (const l of listeners.splice(0)) l.stop(true);
  for (let i = 0; i < SERVERS; i++) {
    listeners.push(
      Bun.listen<{ buf: string }>({
        hostname: "127.0.0.1",
        port: 0,
        data: { buf: "" },
        socket: {
          open(s) {
            if (protocolOf(kind) !== "http") accepted++;
            s.data = { buf: "" };
            if (kind === "tcp") s.end();
            else if (kind === "smtp") s.write("220 bench ESMTP\r\n");
          },
          data(s, d) {
            s.data.buf += d.toString();
            if (protocolOf(kind) === "http") {
              for (let end = s.data.buf.indexOf("\r\n\r\n"); end >= 0; end = s.data.buf.indexOf("\r\n\r\n")) {
                const close = /\r\nconnection: close/i.test(s.data.buf.slice(0, end));
                s.data.buf = s.data.buf.slice(end + 4);
                accepted++;
                if (close) return void s.end(OK_CLOSE);
                s.write(OK);
              }
            }
            if (kind !== "smtp") return;
            for (let nl = s.data.buf.indexOf("\n"); nl >= 0; nl = s.data.buf.indexOf("\n")) {
              const cmd = s.data.buf.slice(0, 4).toUpperCase();
              s.data.buf = s.data.buf.slice(nl + 1);
              if (cmd === "QUIT") return void s.end("221 bye\r\n");
              s.write(cmd === "EHLO" ? "250 bench\r\n" : "502 what\r\n");
            }
          },
          close() {},
          error() {},
        },
      }),
    );
  }
  return listeners.map((l) => l.port);
}

function config(kind: Kind, ports: number[], listen: number[], health: boolean): string {
  let out = `loglevel = "warn"\ntimeout_shutdown = 0\n`;
  for (let i = 0; i * PER_SERVICE < ports.length; i++) {
    const servers = ports.slice(i * PER_SERVICE, (i + 1) * PER_SERVICE).map((p) => `"127.0.0.1:${p}"`);
    out += `[[service]]\nname = "s${i}"\nprotocol = "${protocolOf(kind)}"\nlisten = ["127.0.0.1:${listen[i]}"]\nservers = [${servers.join(", ")}]\n`;
    const http = kind === "http" ? ', path = "/healthz"' : kind === "http-close" ? ', path = "/healthz", reuse = false' : "";
    if (health) out += `health = { interval = "1s", timeout = "500ms"${http} }\n`;
  }
  return out;
}

const dir = join(tmpdir(), `plb-bench-checks-${process.pid}`);
mkdirSync(dir, { recursive: true });
const rows: string[] = [];
try {
  for (const kind of KINDS) {
    const ports = listenAll(kind);
    const listen = freePorts(Math.ceil(SERVERS / PER_SERVICE));
    const cpu: Record<string, number> = {};
    let rate = 0;
    for (const health of [false, true]) {
      const cmd = process.env.CHECKS_PLB_ARGS ? [plbCommand(false)[0]!, ...process.env.CHECKS_PLB_ARGS.split(" "), plbCommand(false)[1]!] : plbCommand(false);
      const plb = startPlbWith(dir, `plb-${kind}-${health ? "health" : "idle"}`, config(kind, ports, listen, health), { cmd });
      await waitReady(plb, listen[listen.length - 1]!);
      await Bun.sleep(WARMUP * 1000);
      const c0 = cpuTree(plb.pid);
      const a0 = accepted;
      const t0 = performance.now();
      await Bun.sleep(SECONDS * 1000);
      const wall = (performance.now() - t0) / 1000;
      cpu[String(health)] = ((cpuTree(plb.pid) - c0) / wall) * 100;
      if (health) rate = (accepted - a0) / wall;
      log(`${kind} ${health ? "with health" : "without health"}: ${cpu[String(health)]!.toFixed(2)} % of one core${health ? `, ${Math.round(rate)} checks/s` : ""}`);
      await stop(plb);
    }
    const bare = Bun.spawn([process.execPath, import.meta.path, "--floor", kind], { env: { ...process.env, CHECK_PORTS: JSON.stringify(ports) }, stdout: "inherit", stderr: "inherit" });
    await Bun.sleep(WARMUP * 1000);
    const f0 = cpuTree(bare.pid);
    const a0 = accepted;
    const t0 = performance.now();
    await Bun.sleep(SECONDS * 1000);
    const wall = (performance.now() - t0) / 1000;
    const floorCpu = ((cpuTree(bare.pid) - f0) / wall) * 100;
    log(`${kind} floor (bare Bun): ${floorCpu.toFixed(2)} % of one core, ${Math.round((accepted - a0) / wall)} exchanges/s`);
    bare.kill();
    await bare.exited;
    rows.push(`| ${kind} | ${Math.round(rate)} | ${cpu.false!.toFixed(2)} % | ${cpu.true!.toFixed(2)} % | ${(cpu.true! - cpu.false!).toFixed(2)} % | ${floorCpu.toFixed(2)} % |`);
  }
} finally {
  await stopAll();
  for (const l of listeners) l.stop(true);
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  [
    `${new Date().toISOString().slice(0, 10)}, load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} at the end`,
    `active checks: ${SERVERS} servers (${PER_SERVICE} per service), health.interval = 1s, plb's CPU over ${SECONDS} s after ${WARMUP} s (% of one core; target < 5 %)`,
    "",
    "| checks | checks/s seen by the servers | plb without health | plb with health | cost of the checks | floor: bare Bun, same exchanges |",
    "|---|--:|--:|--:|--:|--:|",
    ...rows,
  ].join("\n"),
);
process.exit(0);
