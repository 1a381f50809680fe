/**
 * Reload cost at scale: plb with 100 http services × 10 servers, traffic
 * flowing (keep-alive clients on ten of the services), reloaded 20 times
 * between two files that differ in one server and one setting per service
 * (each reload: +100 servers, -100 servers, 100 settings changed).
 *
 * Reported: the time each reload held plb's event loop (plb measures the
 * whole synchronous reload, from reading the file to the commit, and logs
 * it), and the clients' latency while reloads ran against without them.
 * Bounded: 20 reloads, 400 ms apart; the load stops with them.
 *
 *   bun bench/reload.ts
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "./peers.ts";

const ROOT = join(import.meta.dir, "..");
const SERVICES = 100;
const SERVERS = 10;
const RELOADS = 20;
const CLIENTS = 20;


// Eleven backends: every service has ten of them; each reload swaps one.
const backends = Array.from({ length: SERVERS + 1 }, (_, i) => Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(`b${i}`) }));
const listenPorts = freePorts(SERVICES);

function config(variant: number): string {
  let out = `timeout_cleanup = "2s"\n`;
  for (let s = 0; s < SERVICES; s++) {
    const servers = backends.slice(0, SERVERS + 1).filter((_, i) => i !== (variant % 2 === 0 ? SERVERS : s % SERVERS));
    out += `
[[service]]
name = "svc-${s}"
protocol = "http"
listen = ["127.0.0.1:${listenPorts[s]}"]
servers = [${servers.map((b) => `"127.0.0.1:${b.port}"`).join(", ")}]
timeout_client = "${variant % 2 === 0 ? "60s" : "61s"}"
`;
  }
  return out;
}

const file = join(tmpdir(), `plb-bench-reload-${process.pid}.toml`);
writeFileSync(file, config(0));
const plb = Bun.spawn([process.execPath, join(ROOT, "src", "cli.ts"), "--config", file, "--logfile", "-", "--loglevel", "info", "--pidfile", join(tmpdir(), `plb-bench-reload-${process.pid}.pid`)], {
  stdout: "ignore",
  stderr: "pipe",
});
let log = "";
(async () => {
  const dec = new TextDecoder();
  for await (const c of plb.stderr) log += dec.decode(c, { stream: true });
})();
while (!/ready \(pid/.test(log)) {
  if (plb.exitCode !== null) throw new Error(`plb exited:\n${log}`);
  await Bun.sleep(20);
}

// Load: CLIENTS keep-alive loops over services 0..9, each request's latency recorded with whether a reload ran.
let reloading = false;
let running = true;
const during: number[] = [];
const between: number[] = [];
let errors = 0;
async function client(i: number): Promise<void> {
  const port = listenPorts[i % 10];
  while (running) {
    const t0 = performance.now();
    const wasReloading = reloading;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`);
      await r.text();
      if (r.status !== 200) errors++;
    } catch {
      errors++;
    }
    (wasReloading || reloading ? during : between).push(performance.now() - t0);
  }
}
const loads = Array.from({ length: CLIENTS }, (_, i) => client(i));
await Bun.sleep(500);

const times: number[] = [];
for (let n = 1; n <= RELOADS; n++) {
  writeFileSync(file, config(n));
  const before = (log.match(/\[reload\] reload: /g) ?? []).length;
  reloading = true;
  process.kill(plb.pid, "SIGHUP");
  while ((log.match(/\[reload\] reload: /g) ?? []).length === before) {
    if (/reload failed/.test(log)) throw new Error(`reload failed:\n${log}`);
    await Bun.sleep(2);
  }
  await Bun.sleep(50); // requests that were waiting on the loop finish
  reloading = false;
  const line = log.split("\n").filter((l) => /\[reload\] reload: /.test(l)).at(-1)!;
  times.push(Number(/\((\d+(?:\.\d+)?) ms\)$/.exec(line)![1]));
  if (n === 1) console.log(`first reload: ${line.replace(/^.*\[reload\] /, "")}`);
  await Bun.sleep(350);
}
running = false;
await Promise.all(loads);
plb.kill("SIGTERM");
await plb.exited;
for (const b of backends) b.stop(true);

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
const f = (x: number) => x.toFixed(1);
console.log(`${SERVICES} services × ${SERVERS} servers, ${RELOADS} reloads (each +${SERVICES} servers, -${SERVICES} servers, ${SERVICES} settings changed), ${CLIENTS} keep-alive clients`);
console.log(`event-loop time per reload (plb's own measure): min ${f(Math.min(...times))} ms, median ${f(q(times, 0.5))} ms, max ${f(Math.max(...times))} ms`);
console.log(`client latency between reloads: p50 ${f(q(between, 0.5))} ms, p99 ${f(q(between, 0.99))} ms, max ${f(Math.max(...between))} ms (${between.length} requests)`);
console.log(`client latency while reloading:  p50 ${f(q(during, 0.5))} ms, p99 ${f(q(during, 0.99))} ms, max ${f(Math.max(...during))} ms (${during.length} requests)`);
console.log(`failed requests: ${errors}`);
