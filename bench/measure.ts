/**
 * Measurements: wrk runs and their parsing, curl downloads, RSS and CPU time
 * of a process tree, and idle proxied connections held open through a
 * balancer to an in-process backend that accepts and never closes.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Socket, Subprocess, TCPSocketListener } from "bun";

/** Core for the balancer under test; wrk, curl and nginx get the other one. */
export let BALANCER_CPU = "0";
export let LOAD_CPU = "1";

/** --no-pin: every process may run on both cores. */
export function unpin(): void {
  BALANCER_CPU = LOAD_CPU = "0-1";
}

// ---------------------------------------------------------------- /proc

function stat(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" "); // fields from #3 (state) on
  } catch {
    return undefined;
  }
}

/** Every live descendant of `pid` (children, grandchildren...). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const f = stat(Number(e));
    if (f) parent.set(Number(e), Number(f[1]));
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) {
      if (pp !== p || out.includes(c)) continue;
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** VmRSS of `pid` and its descendants, in bytes. */
export function rssTree(pid: number): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) total += Number(m[1]) * 1024;
    } catch {}
  }
  return total;
}

/** User + system CPU seconds of `pid` and its descendants (all threads). */
export function cpuTree(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    const f = stat(p);
    if (f) ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return ticks / 100; // CLK_TCK is 100 on Linux
}

export interface CpuUse {
  /** CPU seconds `pid` used meanwhile. */
  seconds: number;
  /** The same as a % of one core over the wall time. */
  percent: number;
}

/** Run `fn` and return its result with the CPU `pid` (and its children) used meanwhile. */
export async function withCpu<T>(pid: number | undefined, fn: () => Promise<T>): Promise<[T, CpuUse | undefined]> {
  const c0 = pid ? cpuTree(pid) : 0;
  const t0 = performance.now();
  const r = await fn();
  if (!pid) return [r, undefined];
  const seconds = cpuTree(pid) - c0;
  return [r, { seconds, percent: (seconds / ((performance.now() - t0) / 1000)) * 100 }];
}

// ---------------------------------------------------------------- load clients

/** wrk and curl processes running now (killed if the bench is interrupted). */
const clients = new Set<Subprocess>();

function client(cmd: string[]): Subprocess<"ignore", "pipe", "pipe"> {
  const proc = Bun.spawn(["taskset", "-c", LOAD_CPU, ...cmd], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  clients.add(proc);
  void proc.exited.then(() => clients.delete(proc));
  return proc;
}

export function killClients(): void {
  for (const p of clients) p.kill("SIGKILL");
}

// ---------------------------------------------------------------- wrk

export interface WrkResult {
  rps: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors (connect+read+write+timeout) and non-2xx/3xx responses. */
  errors: number;
  raw: string;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === "us" ? n / 1000 : unit === "ms" ? n : unit === "s" ? n * 1000 : unit === "m" ? n * 60000 : NaN;
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErr = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    p50Ms: pct("50"),
    p99Ms: pct("99"),
    errors: sockErr + (num(/Non-2xx or 3xx responses: (\d+)/) || 0),
    raw: out,
  };
}

export async function wrk(url: string, seconds: number, opts: { close?: boolean; conns?: number; host?: string } = {}): Promise<WrkResult> {
  const args = ["wrk", "-t1", `-c${opts.conns ?? 64}`, `-d${seconds}s`, "--timeout", "5s", "--latency"];
  if (opts.close) args.push("-H", "Connection: close");
  if (opts.host) args.push("-H", `Host: ${opts.host}`);
  const proc = client([...args, url]);
  const killer = setTimeout(() => proc.kill("SIGKILL"), (seconds + 20) * 1000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  clearTimeout(killer);
  const r = parseWrk(out);
  if (!(r.rps >= 0)) throw new Error(`wrk gave no result for ${url}:\n${out}${err}`);
  return r;
}

// ---------------------------------------------------------------- curl

/** Download `url` to /dev/null; MB/s (10^6 bytes) and bytes received. */
export async function download(url: string): Promise<{ mbps: number; bytes: number }> {
  const proc = client(["curl", "-sS", "--max-time", "60", "-o", "/dev/null", "-w", "%{speed_download} %{size_download}", url]);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  const [speed, size] = out.trim().split(/\s+/).map(Number);
  if (code !== 0) throw new Error(`curl ${url} failed (exit ${code}): ${err.trim()}`);
  return { mbps: speed / 1e6, bytes: size };
}

// ---------------------------------------------------------------- idle connections

/** Backends that accept connections and never read, write or close. */
export class IdleBackends {
  private readonly listeners: TCPSocketListener<undefined>[] = [];
  private readonly sockets = new Set<Socket<undefined>>();

  constructor(ports: readonly number[]) {
    const sockets = this.sockets;
    for (const port of ports) {
      this.listeners.push(
        Bun.listen<undefined>({
          hostname: "127.0.0.1",
          port,
          socket: {
            open(s) {
              sockets.add(s);
            },
            data() {},
            close(s) {
              sockets.delete(s);
            },
            error() {},
          },
        }),
      );
    }
  }

  get count(): number {
    return this.sockets.size;
  }

  closeAll(): void {
    for (const s of this.sockets) s.terminate();
    this.sockets.clear();
  }

  stop(): void {
    this.closeAll();
    for (const l of this.listeners) l.stop(true);
  }
}

export interface OpenOptions {
  /** Connecting at once (default 200). */
  parallel?: number;
  /** Sent on each connection once it is open. */
  send?: string | Uint8Array;
  /** Each connection counts as open once it received this (else once connected). */
  until?: string;
}

/** Open `n` client connections to `port`, at most `parallel` at once; returns the ones open (a closed one leaves the set). */
export async function openClients(port: number, n: number, { parallel = 200, send, until }: OpenOptions = {}): Promise<Set<Socket>> {
  const socks = new Set<Socket>();
  let next = 0;
  const one = () =>
    new Promise<void>((done) => {
      let got = "";
      void Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open(s) {
            socks.add(s);
            if (send) s.write(send);
            if (!until) done();
          },
          data(_s, d) {
            if (until && (got += d.toString()).includes(until)) done();
          },
          close(s) {
            socks.delete(s);
            done();
          },
          error: () => done(),
        },
      }).catch(() => done());
    });
  const worker = async () => {
    while (next < n) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return socks;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await Bun.sleep(50);
  return cond();
}

export interface IdleResult {
  n: number;
  /** Connections that reached the backend (both legs established). */
  proxied: number;
  rssBefore: number;
  rssAfter: number;
  bytesPerConn: number;
}

/**
 * RSS cost of `n` idle proxied connections through the balancer `pid`
 * listening on `port` in front of `backends`. A short warm-up round first
 * (so code paths are compiled before the baseline), then the real one.
 */
export async function idleCost(pid: number, port: number, backends: IdleBackends, n: number): Promise<IdleResult> {
  const warm = await openClients(port, 200);
  await waitFor(() => backends.count >= warm.size, 5000);
  for (const s of warm) s.terminate();
  backends.closeAll();
  await Bun.sleep(1500);

  const rssBefore = rssTree(pid);
  const clients = await openClients(port, n);
  await waitFor(() => backends.count >= n, 30000);
  await Bun.sleep(1500); // let the balancer settle (lazy allocations, GC)
  const proxied = backends.count;
  const rssAfter = rssTree(pid);
  for (const s of clients) s.terminate();
  backends.closeAll();
  await Bun.sleep(500);
  return { n, proxied, rssBefore, rssAfter, bytesPerConn: proxied > 0 ? (rssAfter - rssBefore) / proxied : NaN };
}
