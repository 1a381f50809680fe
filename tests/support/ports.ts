/**
 * Free loopback ports for tests.
 *
 * Chosen at random below the kernel's ephemeral range and checked by a
 * listen: a port handed out is only used a moment later (plb binds it), and
 * on a machine shared with other test runs and benchmarks, a port from the
 * ephemeral range is soon taken again by someone's `listen(0)` or by the
 * source port of someone's connection (tens of thousands of them in
 * TIME-WAIT), and plb then fails to start with EADDRINUSE. The kernel never
 * hands out ports below the range on its own.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (Linux: net.ipv4.ip_local_port_range). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}
const HIGHEST = ephemeralLow() - 1;

/** Ports this process handed out already: never twice. */
const given = new Set<number>();

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** What the kernel gives for port 0 (the fallback when no port below the range is free). */
function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1));
    if (given.has(port)) continue;
    if (await canListen(port, host)) {
      given.add(port);
      return port;
    }
  }
  for (;;) {
    const port = await kernelPort(host);
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
}

export async function freePorts(n: number, host = "127.0.0.1"): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) out.push(await freePort(host));
  return out;
}

/** A free port below 1024 on 127.0.0.1 (binding it needs root). */
export function privilegedPort(): number {
  for (let p = 600 + Math.floor(Math.random() * 300); p < 1024; p++) {
    try {
      Bun.listen({ hostname: "127.0.0.1", port: p, socket: { data() {} } }).stop(true);
      return p;
    } catch {}
  }
  throw new Error("no free port below 1024");
}
