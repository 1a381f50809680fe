/**
 * Access logs with real traffic: nginx's combined format read by Debian's
 * goaccess, tcp sessions in HAProxy's tcplog layout and json, SIGUSR1 after
 * logrotate's mv, and a full disk that never stops traffic.
 */
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../../support/backends.ts";
import { fakeSmtp } from "../../support/fake-smtp.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb, tempDir, type PlbProcess } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function plbOn(toml: string): Promise<PlbProcess> {
  const plb = await startPlb(toml);
  cleanup.push(() => plb.stop());
  return plb;
}

/** Wait until each file holds a complete line: the session ended and its line was flushed (within a second). */
async function untilLogged(...files: string[]): Promise<void> {
  await until(() => files.every((f) => existsSync(f) && readFileSync(f, "utf8").endsWith("\n")), `a line in each of ${files.join(", ")}`, 15_000);
}

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { keepalive: false, headers });
  await r.text();
  return r.status;
}

test("combined: one nginx-exact line per request, and goaccess (COMBINED) counts every request", async () => {
  const web = await httpBackend("web");
  cleanup.push(() => web.close());
  const [port, dead] = await freePorts(2);
  const log = join(tempDir(), "web.log");
  const plb = await plbOn(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${web.port}"]
access_log = { path = "${log}", format = "combined" }
[[service]]
name = "none"
protocol = "http"
listen = ["127.0.0.1:${dead}"]
servers = ["127.0.0.1:1"]
access_log = { path = "${log}" }
`);
  for (let i = 0; i < 25; i++) expect(await get(port, `/page/${i}?q=${i}`, { "User-Agent": "plb-test/1", Referer: "http://ref.test/" })).toBe(200);
  expect(await get(dead, "/x")).toBe(503);
  expect(await plb.stop()).toBe(0); // the last lines are written at stop
  const lines = readFileSync(log, "utf8").trimEnd().split("\n");
  expect(lines.length).toBe(26);
  const re = /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/page\/0\?q=0 HTTP\/1\.1" 200 3 "http:\/\/ref\.test\/" "plb-test\/1"$/;
  expect(lines[0]).toMatch(re);
  expect(lines.at(-1)).toMatch(/"GET \/x HTTP\/1\.1" 503 \d+ "-" "Bun\/[^"]+"$/);
  const out = Bun.spawnSync(["goaccess", log, "--log-format=COMBINED", "--no-global-config", "-o", "json"], { stdout: "pipe", stderr: "pipe" });
  expect(out.exitCode).toBe(0);
  const report = JSON.parse(out.stdout.toString()) as { general: { total_requests: number; valid_requests: number; failed_requests: number } };
  expect(report.general.total_requests).toBe(26);
  expect(report.general.valid_requests).toBe(26);
  expect(report.general.failed_requests).toBe(0);
});

test("tcp sessions: haproxy's tcplog layout (default) and json, one line per session with bytes, duration and cause", async () => {
  const echo = backend("echo");
  cleanup.push(() => echo.stop());
  const [p1, p2] = await freePorts(2);
  const dir = tempDir();
  const plb = await plbOn(`
[[service]]
name = "t1"
listen = ["127.0.0.1:${p1}"]
servers = ["127.0.0.1:${echo.port}"]
access_log = { path = "${join(dir, "tcp.log")}" }
[[service]]
name = "t2"
listen = ["127.0.0.1:${p2}"]
servers = ["127.0.0.1:${echo.port}"]
access_log = { path = "${join(dir, "tcp.json")}", format = "json" }
`);
  for (const port of [p1, p2]) {
    let got = "";
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, b) => void (got += b.toString()) } });
    s.write("twelve bytes");
    await until(() => got.length === 12, "the echo");
    s.end();
  }
  await untilLogged(join(dir, "tcp.log"), join(dir, "tcp.json"));
  expect(await plb.stop()).toBe(0);
  expect(readFileSync(join(dir, "tcp.log"), "utf8")).toMatch(new RegExp(`^127\\.0\\.0\\.1:\\d+ \\[\\d{2}/[A-Z][a-z]{2}/\\d{4}:[\\d:.]+\\] t1 t1/127\\.0\\.0\\.1:${echo.port} 0/0/\\d+ 12 CD 0/0/0/0/0 0/0\\n$`));
  const j = JSON.parse(readFileSync(join(dir, "tcp.json"), "utf8"));
  expect(j).toMatchObject({ service: "t2", protocol: "tcp", server: `127.0.0.1:${echo.port}`, bytes_in: 12, bytes_out: 12, cause: "client_closed", tried: 1 });
});

test("smtp sessions: the greeting outcome and the servers tried, in json and at the end of the tcplog line", async () => {
  // both greet well at start (the start check), and badly from the first session on
  const garbage = fakeSmtp("garbage", "ok");
  const good = fakeSmtp("good", "ok");
  const busy = fakeSmtp("busy", "ok");
  cleanup.push(() => garbage.stop(), () => good.stop(), () => busy.stop());
  const [p1, p2] = await freePorts(2);
  const dir = tempDir();
  const plb = await plbOn(`
timeout_cleanup = 60
[[service]]
name = "mail"
protocol = "smtp"
balance = "first"
server_retry = 5
listen = ["127.0.0.1:${p1}"]
servers = ["127.0.0.1:${garbage.port}", "127.0.0.1:${good.port}"]
access_log = { path = "${join(dir, "mail.json")}", format = "json" }
[[service]]
name = "busy"
protocol = "smtp"
server_retry = 5
listen = ["127.0.0.1:${p2}"]
servers = ["127.0.0.1:${busy.port}"]
access_log = { path = "${join(dir, "busy.log")}" }
`);
  // the start checks are over (each ends with QUIT) before the servers turn bad
  await until(() => [garbage, busy].every((f) => f.conns.some((c) => c.includes("QUIT"))), "the start checks");
  garbage.setMode("garbage");
  busy.setMode("421");
  for (const port of [p1, p2]) {
    let got = "";
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, b) => void (got += b.toString()) } });
    await until(() => got.includes("\r\n"), "a reply");
    expect(got).toStartWith(port === p1 ? "220 good" : "421 ");
    s.end();
  }
  await untilLogged(join(dir, "mail.json"), join(dir, "busy.log"));
  expect(await plb.stop()).toBe(0);
  const j = JSON.parse(readFileSync(join(dir, "mail.json"), "utf8"));
  expect(j).toMatchObject({ service: "mail", protocol: "smtp", server: `127.0.0.1:${good.port}`, tried: 2, greeting: "ok", greeting_detail: "" });
  // the only server said 421: the session names it (the last one tried, as HAProxy does), no server took it
  // (SC) and plb's own 421 went to the client
  expect(readFileSync(join(dir, "busy.log"), "utf8")).toMatch(new RegExp(` busy busy/127\\.0\\.0\\.1:${busy.port} 0/0/\\d+ [1-9]\\d* SC 0/0/0/0/0 0/0 greeting=bad-greeting\\n$`));
});

test("SIGUSR1 after mv: new lines go to a new file; a full disk (/dev/full) is logged once and traffic goes on", async () => {
  const web = await httpBackend("web");
  cleanup.push(() => web.close());
  const [port, port2] = await freePorts(2);
  const dir = tempDir();
  const log = join(dir, "a.log");
  const plb = await plbOn(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${web.port}"]
access_log = { path = "${log}", format = "json" }
[[service]]
name = "full"
protocol = "http"
listen = ["127.0.0.1:${port2}"]
servers = ["127.0.0.1:${web.port}"]
access_log = { path = "/dev/full" }
`);
  await get(port, "/before");
  await until(() => existsSync(log) && readFileSync(log, "utf8").includes("/before"), "the first line (flushed within a second)", 3000);
  renameSync(log, `${log}.1`);
  process.kill(plb.pid, "SIGUSR1");
  await plb.waitForLog(/SIGUSR1: reopening the log file/);
  await Bun.sleep(50);
  await get(port, "/after");
  for (let i = 0; i < 5; i++) expect(await get(port2, "/f")).toBe(200);
  expect(await plb.stop()).toBe(0);
  expect(readFileSync(`${log}.1`, "utf8")).toContain("/before");
  expect(readFileSync(`${log}.1`, "utf8")).not.toContain("/after");
  expect(readFileSync(log, "utf8")).toContain("/after");
  const errors = plb.log().split("\n").filter((l) => l.includes("cannot write access log /dev/full"));
  expect(errors.length).toBe(1);
  expect(errors[0].toLowerCase()).toContain("no space left on device");
});
