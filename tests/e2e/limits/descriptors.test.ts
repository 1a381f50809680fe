/**
 * Out of descriptors and connection limits. plb stops accepting before it
 * would run out of file descriptors (maxconn, by default what the limit
 * allows) or when a service reaches its own maxconn: new clients wait in
 * the listen queue, plb uses no CPU meanwhile, and accepting resumes as
 * connections close. (Issue 8: under `ulimit -n 512` with 600 idle clients
 * plb burnt 86-100 % CPU on 18,069 failing accept4 calls a second.)
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { readFileSync } from "node:fs";
import { backend } from "../../support/backends.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { RawClient } from "../../support/raw-client.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in ticks of 10 ms
}

/** Share of one core plb used over `ms`. */
async function cpuShare(pid: number, ms: number): Promise<number> {
  const c0 = cpuMs(pid);
  const t0 = performance.now();
  await Bun.sleep(ms);
  return (cpuMs(pid) - c0) / (performance.now() - t0);
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await Bun.sleep(10);
  return cond();
}

/** Open `n` client connections and keep them (idle). */
async function hold(port: number, n: number): Promise<Socket[]> {
  const out: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close() {}, error() {} } }).catch(() => undefined);
    if (s) out.push(s);
    if (i % 50 === 49) await Bun.sleep(2);
  }
  return out;
}

async function plbOn(toml: string, maxFiles?: number): Promise<PlbProcess> {
  const p = await startPlb(toml, [], maxFiles ? { maxFiles } : {});
  cleanups.push(() => p.stop());
  return p;
}

test("tcp under ulimit -n 512 with 600 idle clients: 224 accepted (maxconn from the limit), the rest wait in the queue, plb idle, served again once clients leave", async () => {
  const echo = backend("echo");
  cleanups.push(() => echo.stop());
  const [port] = await freePorts(1);
  const plb = await plbOn(
    `
[[service]]
name = "fd"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${echo.port}"]
`,
    512,
  );
  await plb.waitForLog(/maxconn 224 \(open-file limit 512\)/);
  expect(await waitFor(() => echo.accepted() > 0, 15_000)).toBe(true); // the start check reached it
  const before = echo.accepted();
  const held = await hold(port, 600);
  expect(held.length).toBe(600); // the kernel completes every handshake: they are queued, not refused
  expect(await waitFor(() => echo.accepted() - before >= 224, 15_000)).toBe(true);
  await Bun.sleep(200); // (and no more: an absence is waited for with a pause)
  expect(echo.accepted() - before).toBe(224);
  await plb.waitForLog(/service "fd" \(plb at 224 of maxconn 224, or out of descriptors\): not accepting for now/);
  // saturated: no spinning
  const share = await cpuShare(plb.pid, 1000);
  console.log(`tcp at maxconn: plb CPU ${(share * 100).toFixed(1)} % of a core`);
  expect(share).toBeLessThan(0.1);
  // a new client waits...
  const late = await RawClient.open(port);
  late.write("hello\n");
  expect(await late.until(() => late.text.length > 0, 300)).toBe(false);
  // ...and is served once earlier clients leave (the queue drains in order)
  for (const s of held.splice(0, 400)) s.end();
  expect(await late.until(() => late.text === "hello\n", 5000)).toBe(true);
  expect(echo.accepted() - before).toBe(600 + 1);
  expect(plb.log()).not.toMatch(/is down|failure \d/);
  for (const s of held) s.end();
  late.close();
}, 30_000);

test("http under ulimit -n 512 with 600 idle clients: no spinning, and answers resume once clients leave", async () => {
  const be = await httpBackend("B");
  cleanups.push(() => be.close());
  const [port] = await freePorts(1);
  const plb = await plbOn(
    `
[[service]]
name = "fdh"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${be.port}"]
`,
    512,
  );
  const held = await hold(port, 600);
  await plb.waitForLog(/not accepting for now/);
  const share = await cpuShare(plb.pid, 1000);
  console.log(`http at maxconn: plb CPU ${(share * 100).toFixed(1)} % of a core`);
  expect(share).toBeLessThan(0.1);
  const late = await RawClient.open(port);
  late.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(await late.until(() => late.responses.length > 0, 300)).toBe(false);
  for (const s of held.splice(0, 400)) s.end(); // the 200 left and this one fit in maxconn
  expect(await late.until(() => late.responses.length > 0, 5000)).toBe(true);
  expect(late.responses[0].status).toBe(200);
  for (const s of held) s.end();
  late.close();
}, 30_000);

test("a service's maxconn: above it that service waits, another service keeps accepting", async () => {
  const echo = backend("echo");
  cleanups.push(() => echo.stop());
  const [p1, p2] = await freePorts(2);
  const plb = await plbOn(`
[[service]]
name = "small"
maxconn = 5
listen = ["127.0.0.1:${p1}"]
servers = ["127.0.0.1:${echo.port}"]

[[service]]
name = "other"
listen = ["127.0.0.1:${p2}"]
servers = ["127.0.0.1:${echo.port}"]
`);
  const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.open(p1)));
  clients.forEach((c, i) => c.write(`c${i}\n`));
  const answered = () => clients.filter((c) => c.text.length > 0).length;
  expect(await waitFor(() => answered() >= 5, 15_000)).toBe(true);
  await Bun.sleep(300); // (and no more: an absence is waited for with a pause)
  expect(answered()).toBe(5);
  await plb.waitForLog(/service "small" at its maxconn \(5\): not accepting for now/);
  // the other service is not held back
  const o = await RawClient.open(p2);
  o.write("other\n");
  expect(await o.until(() => o.text === "other\n", 2000)).toBe(true);
  // two leave: two more come in
  const served = clients.filter((c) => c.text.length > 0);
  served[0].close();
  served[1].close();
  expect(await waitFor(() => answered() === 7, 15_000)).toBe(true);
  for (const c of clients) c.close();
  o.close();
});

test("the global maxconn counts every service together", async () => {
  const echo = backend("echo");
  cleanups.push(() => echo.stop());
  const [p1, p2] = await freePorts(2);
  await plbOn(`
maxconn = 4
[[service]]
name = "a"
listen = ["127.0.0.1:${p1}"]
servers = ["127.0.0.1:${echo.port}"]

[[service]]
name = "b"
listen = ["127.0.0.1:${p2}"]
servers = ["127.0.0.1:${echo.port}"]
`);
  const clients = await Promise.all([p1, p1, p1, p2, p2, p2].map((p) => RawClient.open(p)));
  clients.forEach((c, i) => c.write(`c${i}\n`));
  const answered = () => clients.filter((c) => c.text.length > 0).length;
  expect(await waitFor(() => answered() >= 4, 15_000)).toBe(true);
  await Bun.sleep(300); // (and no more: an absence is waited for with a pause)
  expect(answered()).toBe(4);
  clients.find((c) => c.text.length > 0)!.close();
  expect(await waitFor(() => answered() === 5, 15_000)).toBe(true);
  for (const c of clients) c.close();
});

test("a maxconn the open-file limit cannot hold is warned about at start, and plb does not spin when it runs out", async () => {
  const echo = backend("echo");
  cleanups.push(() => echo.stop());
  const [port] = await freePorts(1);
  const plb = await plbOn(
    `
maxconn = 1000
[[service]]
name = "over"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${echo.port}"]
`,
    256,
  );
  await plb.waitForLog(/maxconn 1000 needs about 2064 file descriptors .* but the limit is 256: raise it .* or lower maxconn to 96/);
  const held = await hold(port, 300);
  await plb.waitForLog(/out of file descriptors/, 5000);
  const share = await cpuShare(plb.pid, 1500);
  console.log(`overcommitted maxconn, out of descriptors: plb CPU ${(share * 100).toFixed(1)} % of a core`);
  expect(share).toBeLessThan(0.15);
  expect(plb.log()).not.toMatch(/is down/);
  for (const s of held) s.end();
  await Bun.sleep(3000); // the back-off ends
  const c = await RawClient.open(port).catch((e) => {
    throw new Error(`${e}\n${plb.log()}`);
  });
  c.write("again\n");
  expect(await c.until(() => c.text === "again\n", 5000)).toBe(true);
  c.close();
}, 30_000);
