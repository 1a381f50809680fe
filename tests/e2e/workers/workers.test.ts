/**
 * workers = N: a master that owns state and probes, workers that accept on
 * the same ports (SO_REUSEPORT) and relay. Real processes, real sockets.
 */
import { afterEach, expect, test } from "bun:test";
import { chmodSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { backend } from "../../support/backends.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePort, freePorts, privilegedPort } from "../../support/ports.ts";
import { startPlbFile, tempDir, writeConfig, type PlbProcess } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";
import { until } from "../../support/until.ts";

const isRoot = process.getuid?.() === 0;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function plbWith(toml: string): Promise<{ plb: PlbProcess; file: string; workers: number[] }> {
  const file = writeConfig(toml);
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());
  const line = await plb.waitForLog(/workers running \(pids /);
  const workers = /pids ([\d, ]+)\)/.exec(line)![1].split(", ").map(Number);
  return { plb, file, workers };
}

/** Pids holding established connections whose local port is `port`. */
function holders(port: number): Set<number> {
  const r = Bun.spawnSync(["ss", "-Htnp", "state", "established", `( sport = :${port} )`], { stdout: "pipe" });
  return new Set([...r.stdout.toString().matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

function procStatus(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1].trim();
}

/** `n` tcp connections through `port` to an echo server, each checked with one round trip. */
async function openEchoes(port: number, n: number) {
  const socks = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      let got = "";
      const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, d) => void (got += d.toString()) } });
      s.write(`hello ${i};`);
      await until(() => got.includes(`hello ${i};`), `the echo of connection ${i}`);
      return { s, text: () => got };
    }),
  );
  cleanup.push(() => socks.forEach((x) => x.s.end()));
  return socks;
}

test("both workers take connections; a killed worker is started again (back-off doubling) and the other serves on, its sessions untouched", async () => {
  const echo = backend("echo");
  cleanup.push(() => echo.stop());
  const port = await freePort();
  const { plb, workers } = await plbWith(`
workers = 2
[[service]]
name = "echo"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${echo.port}"]
`);
  expect(workers.length).toBe(2);
  const socks = await openEchoes(port, 40);
  expect(holders(port)).toEqual(new Set(workers));

  // Kill worker 0: its clients are gone, worker 1's keep talking.
  const [w0, w1] = workers;
  process.kill(w0, "SIGKILL");
  const line = await plb.waitForLog(new RegExp(`worker 0 \\(pid ${w0}\\) killed by SIGKILL: starting a new one in 100 ms`));
  expect(line).toContain("[master] [workers]");
  let alive = 0;
  for (const [i, x] of socks.entries()) {
    try {
      x.s.write(`again ${i};`);
    } catch {}
  }
  await Bun.sleep(200);
  for (const [i, x] of socks.entries()) if (x.text().includes(`again ${i};`)) alive++;
  expect(alive).toBeGreaterThan(0); // worker 1's sessions
  expect(alive).toBeLessThan(40); // worker 0's were lost with it
  // New clients are served all along; soon by the new worker too.
  const deadline = Date.now() + 10_000;
  let now = new Set<number>();
  while (Date.now() < deadline) {
    await openEchoes(port, 10);
    now = holders(port);
    if (now.size === 3 || (now.size === 2 && !now.has(w0) && now.has(w1))) break;
    await Bun.sleep(100);
  }
  expect(now.has(w0)).toBe(false);
  expect(now.has(w1)).toBe(true);
  const fresh = [...now].find((p) => p !== w1)!; // the new worker 0
  expect(fresh).toBeDefined();
  // Dying again soon after its start: the back-off doubles.
  process.kill(fresh, "SIGKILL");
  await plb.waitForLog(new RegExp(`worker 0 \\(pid ${fresh}\\) killed by SIGKILL: starting a new one in 200 ms`));
});

test("one owner of state: a server that fails in one worker is down in every worker at once (the master pushes it; no worker probes)", async () => {
  const a = await httpBackend("a");
  cleanup.push(() => a.close());
  const bPort = await freePort();
  const b = createServer((_q, r) => r.end("b")).listen(bPort, "127.0.0.1");
  let checked = 0;
  b.on("connection", () => checked++);
  await new Promise((r) => b.once("listening", r));
  const port = await freePort();
  const { plb, workers } = await plbWith(`
workers = 2
server_retry = 1
timeout_cleanup = "30s"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${bPort}"]
`);
  expect(workers.length).toBe(2);
  await until(() => checked > 0, "the start check", 15_000); // passed: b was listening
  await new Promise((r) => b.close(r));
  // Requests until one worker meets the dead server (it fails over to a: every request answers).
  for (let i = 0; i < 8; i++) expect((await fetch(`http://127.0.0.1:${port}/`, { keepalive: false })).status).toBe(200);
  const down = await plb.waitForLog(new RegExp(`\\[master\\] \\[state\\] server 127\\.0\\.0\\.1:${bPort} of "web" is down after 1 failure`));
  const t0 = Date.parse(down.slice(0, 24));
  for (const w of ["w0", "w1"]) {
    const seen = await plb.waitForLog(new RegExp(`\\[${w}\\] \\[state\\] server 127\\.0\\.0\\.1:${bPort} of "web" takes no new connections`), 15_000);
    expect(Date.parse(seen.slice(0, 24)) - t0).toBeLessThan(10_000); // pushed, not probed: timeout_cleanup is 30 s
  }
  // Only the master probes.
  expect(plb.log()).not.toMatch(/\[w\d\] \[scheduler\]/);
  expect(plb.log()).toMatch(/\[master\] \[scheduler\]|\[master\] \[state\]/);
});

test("a service a reload adds is wired as the start's: its traffic failures go to the master, which takes the server down in every worker", async () => {
  const a = await httpBackend("a");
  cleanup.push(() => a.close());
  const [port, apiPort, dead] = await freePorts(3);
  const web = `
workers = 2
server_retry = 1
timeout_cleanup = "30s"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}"]
`;
  const { plb, file } = await plbWith(web);
  const api = `${web}
[[service]]
name = "api"
protocol = "http"
listen = ["127.0.0.1:${apiPort}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${dead}"]
`;
  // The second server passes the new service's start checks, then dies: only live traffic finds out.
  const b = createServer((_q, r) => r.end("b")).listen(dead, "127.0.0.1");
  let checked = 0;
  b.on("connection", () => checked++);
  await new Promise((r) => b.once("listening", r));
  expect(await reloadWith(plb, file, api)).toContain("+1 service");
  await until(() => checked > 0, "the new service's start check", 15_000); // it passes while the server listens
  await new Promise((r) => b.close(r));
  for (let i = 0; i < 8; i++) expect((await fetch(`http://127.0.0.1:${apiPort}/`, { keepalive: false })).status).toBe(200);
  await plb.waitForLog(new RegExp(`\\[master\\] \\[state\\] server 127\\.0\\.0\\.1:${dead} of "api" is down after 1 failure`));
  for (const w of ["w0", "w1"]) await plb.waitForLog(new RegExp(`\\[${w}\\] \\[state\\] server 127\\.0\\.0\\.1:${dead} of "api" takes no new connections`), 15_000);
  // No worker decided on its own.
  expect(plb.log()).not.toMatch(/\[w\d\] \[state\] server [^\n]* is down after/);
});

test("SIGHUP reloads every worker from one parse; a reload a worker cannot apply changes none of them; SIGTERM drains them all", async () => {
  const [a, b] = await Promise.all([httpBackend("a"), httpBackend("b")]);
  cleanup.push(() => a.close(), () => b.close());
  const slowBody = "x".repeat(1 << 20);
  const slow = createServer((_q, res) => {
    res.writeHead(200, { "Content-Length": String(slowBody.length) });
    res.write(slowBody.slice(0, 1000));
    setTimeout(() => res.end(slowBody.slice(1000)), 800);
  }).listen(0, "127.0.0.1");
  await new Promise((r) => slow.once("listening", r));
  cleanup.push(() => slow.close());
  const [port, slowPort, taken] = await freePorts(3);
  const conf = (servers: number[], extraListen = "") => `
workers = 2
timeout_cleanup = "300ms"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"${extraListen}]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
[[service]]
name = "slow"
protocol = "http"
listen = ["127.0.0.1:${slowPort}"]
servers = ["127.0.0.1:${(slow.address() as { port: number }).port}"]
`;
  const { plb, file } = await plbWith(conf([a.port]));
  const line = await reloadWith(plb, file, conf([a.port, b.port]));
  expect(line).toContain("[reload] reload: +1 server");
  expect(plb.log().match(/\[reload\] reload: \+1 server/g)?.length).toBe(1); // one parse, one line
  await plb.waitForLog(new RegExp(`\\[master\\] \\[state\\] server 127\\.0\\.0\\.1:${b.port} of "web" is up: its first check passed`));
  // …and the workers are told: it joins in both.
  for (const w of ["w0", "w1"]) await plb.waitForLog(new RegExp(`\\[${w}\\] \\[state\\] server 127\\.0\\.0\\.1:${b.port} of "web" up`), 15_000);
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(await (await fetch(`http://127.0.0.1:${port}/`, { keepalive: false })).text());
  expect([...seen].sort()).toEqual(["a", "b"]);
  expect(b.connections()).toBeGreaterThan(0);

  // A new listen port that is taken: the workers cannot bind it, so nothing changes anywhere.
  const blocker = createServer().listen(taken, "127.0.0.1");
  await new Promise((r) => blocker.once("listening", r));
  cleanup.push(() => blocker.close());
  const refused = await reloadWith(plb, file, conf([a.port], `, "127.0.0.1:${taken}"`));
  expect(refused).toContain("reload failed");
  expect(plb.log()).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}: address already in use`));
  const after = new Set<string>();
  for (let i = 0; i < 40 && after.size < 2; i++) after.add(await (await fetch(`http://127.0.0.1:${port}/`, { keepalive: false })).text());
  expect([...after].sort()).toEqual(["a", "b"]); // b still in

  // A download in flight when SIGTERM comes completes; every process exits.
  const download = fetch(`http://127.0.0.1:${slowPort}/`).then((r) => r.text());
  await Bun.sleep(200);
  process.kill(plb.pid, "SIGTERM");
  expect((await download).length).toBe(slowBody.length);
  expect(await plb.exited).toBe(0);
  expect(plb.log()).toMatch(/\[w0\] \[main\] stopped/);
  expect(plb.log()).toMatch(/\[w1\] \[main\] stopped/);
});

test.skipIf(!isRoot)("each worker binds a port below 1024, chroots and drops to nobody as a single plb does; the master keeps root to start new ones", async () => {
  const root = tempDir("plb-chroot-");
  chmodSync(root, 0o755);
  const echo = backend("echo");
  cleanup.push(() => echo.stop());
  const low = privilegedPort();
  const high = await freePort();
  const { plb, workers } = await plbWith(`
workers = 2
user = "nobody"
group = "nogroup"
chroot_dir = "${root}"
[[service]]
name = "echo"
listen = ["127.0.0.1:${low}", "127.0.0.1:${high}"]
servers = ["127.0.0.1:${echo.port}"]
`);
  for (const pid of workers) {
    expect(procStatus(pid, "Uid").split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
    expect(procStatus(pid, "Gid").split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
    expect(readlinkSync(`/proc/${pid}/root`)).toBe(root);
  }
  expect(procStatus(plb.pid, "Uid").split(/\s+/)[1]).toBe("0");
  expect((await openEchoes(low, 20)).length).toBe(20);
  expect((await openEchoes(high, 20)).length).toBe(20);
  expect(holders(low)).toEqual(new Set(workers));
  // A worker started again joins both ports' groups (below 1024 as root, the other as nobody).
  process.kill(workers[1], "SIGKILL");
  await plb.waitForLog(/worker 1 \(pid \d+\) killed by SIGKILL: starting a new one/);
  const deadline = Date.now() + 10_000;
  let fresh: number[] = [];
  while (Date.now() < deadline && fresh.length === 0) {
    await Bun.sleep(100);
    await openEchoes(low, 10);
    await openEchoes(high, 10);
    fresh = [...holders(low)].filter((p) => !workers.includes(p) && holders(high).has(p));
  }
  expect(fresh.length).toBe(1);
  expect(procStatus(fresh[0], "Uid").split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
  expect(readlinkSync(`/proc/${fresh[0]}/root`)).toBe(root);
  void join;
});
