/**
 * Reload (SIGHUP and plb --reload) with real backends: what a new file
 * changes, and what it must not.
 */
import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { join } from "node:path";
import { httpBackend, type HttpBackend } from "../../support/http-backends.ts";
import { backend } from "../../support/backends.ts";
import { freePort, freePorts } from "../../support/ports.ts";
import { BUN, CLI, startPlbFile, tempDir, writeConfig, type PlbProcess } from "../../support/plb.ts";
import { logSince, reloadWith } from "../../support/reload.ts";
import { until } from "../../support/until.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function backends(...names: string[]): Promise<HttpBackend[]> {
  const list = await Promise.all(names.map((n) => httpBackend(n)));
  for (const b of list) cleanup.push(() => b.close());
  return list;
}

async function plbOn(toml: string): Promise<{ plb: PlbProcess; file: string; pidfile: string }> {
  const file = writeConfig(toml);
  const pidfile = join(tempDir(), "plb.pid");
  const plb = await startPlbFile(file, ["--pidfile", pidfile]);
  cleanup.push(() => plb.stop());
  return { plb, file, pidfile };
}

async function get(port: number, path = "/"): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { keepalive: false });
  return `${res.status} ${await res.text()}`;
}

function web(port: number, servers: number[], extra = ""): string {
  return `
timeout_cleanup = "300ms"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
${extra}
`;
}

function plbReload(file: string, pidfile: string) {
  return Bun.spawnSync([BUN, CLI, "--config", file, "--pidfile", pidfile, "--reload"], { stdout: "pipe", stderr: "pipe" });
}

test("a bad file changes nothing: every problem is logged with its line, plb keeps serving, plb --reload exits 1", async () => {
  const [a, b] = await backends("a", "b");
  const port = await freePort();
  const { plb, file, pidfile } = await plbOn(web(port, [a.port]));
  expect(await get(port)).toBe("200 a");

  // Two problems, each on its own line; the new server must not join.
  const bad = web(port, [a.port, b.port], 'timeout_client = "soon"\nbalanse = "first"');
  const line = await reloadWith(plb, file, bad);
  expect(line).toContain("reload failed");
  const log = plb.log();
  expect(log).toMatch(/plb\.toml:8: .*timeout_client/);
  expect(log).toMatch(/plb\.toml:9: .*balanse/);
  for (let i = 0; i < 6; i++) expect(await get(port)).toBe("200 a");

  const cli = plbReload(file, pidfile);
  expect(cli.exitCode).toBe(1);
  expect(cli.stderr.toString()).toMatch(/plb\.toml:8: .*timeout_client/);
  expect(cli.stderr.toString()).toContain("not reloaded");

  // A file that parses and checks but cannot be applied: its new listen port is taken.
  const taken = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => taken.once("listening", r));
  cleanup.push(() => taken.close());
  const takenPort = (taken.address() as { port: number }).port;
  const unbindable = web(port, [a.port, b.port]).replace(`listen = ["127.0.0.1:${port}"]`, `listen = ["127.0.0.1:${port}", "127.0.0.1:${takenPort}"]`);
  await Bun.write(file, unbindable);
  const refused = plbReload(file, pidfile);
  expect(refused.exitCode).toBe(1);
  expect(refused.stderr.toString()).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${takenPort}: address already in use.*unchanged`));
  for (let i = 0; i < 6; i++) expect(await get(port)).toBe("200 a"); // b was not added either

  // The same file without the taken port is taken whole.
  await Bun.write(file, web(port, [a.port, b.port]));
  const ok = plbReload(file, pidfile);
  expect(ok.stdout.toString()).toMatch(/reload: \+1 server/);
  expect(ok.exitCode).toBe(0);
  await plb.waitForLog(/server 127\.0\.0\.1:\d+ of "web" is up: its first check passed/);
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(await get(port));
  expect([...seen].sort()).toEqual(["200 a", "200 b"]);
});

test("a new server gets requests only once its first check passed; a server down before the reload stays down", async () => {
  const [a, b] = await backends("a", "b");
  const [port, dead, later] = await freePorts(3);
  const { plb, file } = await plbOn(web(port, [a.port, dead]));
  await plb.waitForLog(new RegExp(`server 127\\.0\\.0\\.1:${dead} of "web" is down at start`));

  // b joins and passes; `later` joins but nothing listens there yet; dead stays as it was.
  const mark = plb.log().length;
  const line = await reloadWith(plb, file, web(port, [a.port, dead, b.port, later], 'timeout_server = "20s"'));
  expect(line).toContain("reload: +2 servers, 1 setting changed");
  await plb.waitForLog(new RegExp(`127\\.0\\.0\\.1:${later} of "web" joined, but its first check failed`));
  await plb.waitForLog(new RegExp(`127\\.0\\.0\\.1:${b.port} of "web" is up: its first check passed`));
  const answers = new Set<string>();
  for (let i = 0; i < 12; i++) answers.add(await get(port));
  expect([...answers].sort()).toEqual(["200 a", "200 b"]);
  // Nothing was sent to the down server or to the one still waiting: no failure counted by traffic.
  const since = logSince(plb, mark);
  expect(since).not.toMatch(new RegExp(`127\\.0\\.0\\.1:${dead} of "web": failure`));
  expect(since).not.toMatch(new RegExp(`127\\.0\\.0\\.1:${dead} of "web" is up`));
  expect(since).not.toMatch(new RegExp(`127\\.0\\.0\\.1:${later} of "web": failure`));

  // Once something listens on `later`, its probe brings it in.
  const c = createServer((_q, r) => r.end("c")).listen(later, "127.0.0.1");
  cleanup.push(() => c.close());
  await plb.waitForLog(new RegExp(`127\\.0\\.0\\.1:${later} of "web" is up`));
  for (let i = 0; i < 6; i++) answers.add(await get(port));
  expect(answers.has("200 c")).toBe(true);
});

test("a removed server takes no new requests, and a download through it completes byte-exact", async () => {
  const body = new Uint8Array(8 << 20).map((_, i) => (i * 7) & 0xff);
  let downloads = 0;
  const slow = createServer((_q, res) => {
    downloads++;
    res.writeHead(200, { "Content-Length": String(body.length) });
    let off = 0;
    const step = () => {
      if (off >= body.length) return void res.end();
      res.write(body.subarray(off, off + (256 << 10)));
      off += 256 << 10;
      setTimeout(step, 40);
    };
    step();
  }).listen(0, "127.0.0.1");
  await new Promise((r) => slow.once("listening", r));
  cleanup.push(() => {
    slow.closeAllConnections();
    slow.close();
  });
  const slowPort = (slow.address() as { port: number }).port;
  const [a] = await backends("a");
  const port = await freePort();
  const { plb, file } = await plbOn(web(port, [slowPort, a.port], 'balance = "first"'));

  const started = Date.now();
  const download = fetch(`http://127.0.0.1:${port}/big`).then(async (r) => new Uint8Array(await r.arrayBuffer()));
  await until(() => downloads === 1, "the download to start at the slow server"); // (8 MB at 6.4 MB/s: it runs on)
  const line = await reloadWith(plb, file, web(port, [a.port], 'balance = "first"'));
  expect(line).toContain("reload: -1 server");
  // New requests go to a at once, while the download still runs.
  for (let i = 0; i < 5; i++) expect(await get(port)).toBe("200 a");
  const got = await download;
  expect(Date.now() - started).toBeGreaterThan(1000);
  expect(got.length).toBe(body.length);
  expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(body).digest("hex"));
});

test("a session through a removed server is closed once timeout_shutdown has passed since the reload", async () => {
  const echo = backend("echo");
  cleanup.push(() => echo.stop());
  const other = backend("echo");
  cleanup.push(() => other.stop());
  const port = await freePort();
  const tcp = (servers: number[]) => `
timeout_shutdown = "1s"
[[service]]
name = "tunnel"
protocol = "tcp"
balance = "first"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
`;
  const { plb, file } = await plbOn(tcp([echo.port, other.port]));
  let text = "";
  let closedAt = 0;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        text += d.toString();
      },
      close() {
        closedAt = Date.now();
      },
    },
  });
  sock.write("one;");
  await until(() => text.includes("one;"), "the first echo");
  const reloadedAt = Date.now();
  expect(await reloadWith(plb, file, tcp([other.port]))).toContain("reload: -1 server");
  sock.write("two;");
  await until(() => text.includes("two;"), "the echo after the reload");
  expect(closedAt).toBe(0); // still relayed after the reload
  while (closedAt === 0 && Date.now() - reloadedAt < 15_000) await Bun.sleep(20);
  expect(closedAt - reloadedAt).toBeGreaterThanOrEqual(950);
  expect(closedAt - reloadedAt).toBeLessThan(4000); // 1 s and a sweep, with a busy machine's margin (not the default 10 s)
  await plb.waitForLog(/closed 1 session still using a removed service or server after timeout_shutdown/);
});

test("listen addresses are bound and unbound; services come and go; a new algorithm keeps server states", async () => {
  const [a] = await backends("a");
  const echo = backend("echo");
  cleanup.push(() => echo.stop());
  const [p1, p2, tcpPort, tcp2Port, dead] = await freePorts(5);
  const conf = (webPort: number, tcpName: string, tcpListen: number, balance: string) => `
timeout_cleanup = "300ms"
[[service]]
name = "web"
protocol = "http"
balance = "${balance}"
listen = ["127.0.0.1:${webPort}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${dead}"]
[[service]]
name = "${tcpName}"
protocol = "tcp"
listen = ["127.0.0.1:${tcpListen}"]
servers = ["127.0.0.1:${echo.port}"]
`;
  const { plb, file } = await plbOn(conf(p1, "echo", tcpPort, "roundrobin"));
  await plb.waitForLog(new RegExp(`127\\.0\\.0\\.1:${dead} of "web" is down at start`));
  // A tcp session of the service about to go.
  let text = "";
  const sock = await Bun.connect({ hostname: "127.0.0.1", port: tcpPort, socket: { data: (_s, d) => void (text += d.toString()) } });
  cleanup.push(() => sock.end());
  sock.write("first;"); // relayed before the reload (a client still in a removed listener's queue is reset)
  await until(() => text.includes("first;"), "the first echo");

  const mark = plb.log().length;
  const line = await reloadWith(plb, file, conf(p2, "echo2", tcp2Port, "leastconn"));
  expect(line).toContain("reload: +1 server, -1 server, +1 service, -1 service, 2 listeners bound, 1 setting changed");
  expect(await get(p2)).toBe("200 a");
  await expect(fetch(`http://127.0.0.1:${p1}/`)).rejects.toThrow();
  await expect(Bun.connect({ hostname: "127.0.0.1", port: tcpPort, socket: { data() {} } })).rejects.toThrow();
  // The new tcp service relays; the old one's session still does.
  const fresh = await Bun.connect({ hostname: "127.0.0.1", port: tcp2Port, socket: { data: (_s, d) => void (text += d.toString()) } });
  fresh.write("new;");
  sock.write("old;");
  await until(() => text.includes("new;") && text.includes("old;"), `both echoes (have ${JSON.stringify(text)})`);
  fresh.end();
  // leastconn took over with the down server still down: no request tried it.
  for (let i = 0; i < 8; i++) expect(await get(p2)).toBe("200 a");
  expect(logSince(plb, mark)).not.toMatch(new RegExp(`127\\.0\\.0\\.1:${dead} of "web"(: failure| is up)`));
});

test("the consecutive-failure count goes on across a reload: two failures before, one after, and server_retry 3 takes the server down", async () => {
  const [a] = await backends("a");
  const [port, dead] = await freePorts(2);
  // A server that accepts the start check and then refuses: it is up, and fails with traffic.
  let accepted = 0;
  const flaky = Bun.listen({ hostname: "127.0.0.1", port: dead, socket: { data() {}, open(s) { accepted++; s.end(); } } });
  const conf = (timeout: string) => `
server_retry = 3
timeout_cleanup = "60s"
[[service]]
name = "web"
protocol = "tcp"
balance = "roundrobin"
timeout_client = "${timeout}"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${dead}"]
`;
  const { plb, file } = await plbOn(conf("60s"));
  await until(() => accepted > 0, "the start check", 15_000); // passed: it only connects
  flaky.stop(true);
  const failures = () => (plb.log().match(new RegExp(`127\\.0\\.0\\.1:${dead} of "web": failure \\d/3`, "g")) ?? []).length;
  // Each client of the dead server is failed over to a; stop at two failures.
  for (let i = 0; i < 20 && failures() < 2; i++) await fetch(`http://127.0.0.1:${port}/`, { keepalive: false }).catch(() => {});
  expect(failures()).toBe(2);
  expect(await reloadWith(plb, file, conf("61s"))).toContain("reload: 1 setting changed");
  for (let i = 0; i < 20 && !/is down after 3 consecutive failures/.test(plb.log()); i++) await fetch(`http://127.0.0.1:${port}/`, { keepalive: false }).catch(() => {});
  expect(plb.log()).toMatch(new RegExp(`server 127\\.0\\.0\\.1:${dead} of "web" is down after 3 consecutive failures`));
});

test("--daemonize keeps working with reload: plb --reload reaches the daemon through its pid file", async () => {
  const [a, b] = await backends("a", "b");
  const port = await freePort();
  const file = writeConfig(web(port, [a.port]));
  const dir = tempDir();
  const pidfile = join(dir, "plb.pid");
  const started = Bun.spawnSync([BUN, CLI, "--daemonize", "--config", file, "--pidfile", pidfile, "--logfile", join(dir, "plb.log")], { stdout: "pipe", stderr: "pipe" });
  expect(started.exitCode).toBe(0);
  const pid = Number(await Bun.file(pidfile).text());
  cleanup.push(() => {
    try {
      process.kill(pid, "SIGTERM");
    } catch {}
  });
  await Bun.write(file, web(port, [a.port, b.port]));
  const r = plbReload(file, pidfile);
  expect(r.stdout.toString()).toContain(`plb process ${pid}: reload: +1 server`);
  expect(r.exitCode).toBe(0);
  const seen = new Set<string>();
  for (let i = 0; i < 20 && seen.size < 2; i++) {
    seen.add(await get(port));
    await Bun.sleep(20);
  }
  expect([...seen].sort()).toEqual(["200 a", "200 b"]);
});
