/**
 * The first sessions after a quiet period longer than every timeout: each
 * must get its whole timeout, not be taken for idle by a clock that stood
 * still while nothing was open (issue 8: a tcp client reset after 0.8 s, an
 * http request 504 after 0.75 s with timeouts of 3 s).
 */
import { afterAll, expect, test } from "bun:test";
import { backend } from "../../support/backends.ts";
import { blackholeAfterStartCheck } from "../../support/blackhole.ts";
import { fakeSmtp } from "../../support/fake-smtp.ts";
import { httpBackend, rawHttp } from "../../support/http-backends.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { RawClient } from "../../support/raw-client.ts";

const QUIET_MS = 2600; // longer than every timeout below
const started: PlbProcess[] = [];
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const p of started) await p.stop();
  for (const c of cleanups) await c();
});

async function plb(toml: string): Promise<PlbProcess> {
  const p = await startPlb(toml);
  started.push(p);
  return p;
}

/** Send a line every 200 ms for `ms` and expect each echoed back while the connection stays open. */
async function chatter(c: RawClient, ms: number, line = (i: number) => `line ${i}\r\n`): Promise<number> {
  let i = 0;
  const until = Date.now() + ms;
  let expected = "";
  while (Date.now() < until) {
    const l = line(i++);
    expected += l;
    c.write(l);
    const got = await c.until(() => c.text.length >= expected.length || c.closed, 1000);
    expect(c.closed).toBe(false);
    expect(got).toBe(true);
    await Bun.sleep(200);
  }
  expect(c.text).toBe(expected);
  return i;
}

test("tcp: after a quiet period, a session that is never idle for a whole timeout stays open", async () => {
  const echo = backend("echo");
  cleanups.push(() => echo.stop());
  const [listen] = await freePorts(1);
  await plb(`
timeout_client = 1
timeout_server = 1
[[service]]
name = "quiet-tcp"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${echo.port}"]
`);
  await Bun.sleep(QUIET_MS);
  const c = await RawClient.open(listen);
  expect(await chatter(c, 2200)).toBeGreaterThanOrEqual(8);
  // and an idle one is still closed after its timeout
  expect(await c.until(() => c.closed, 3000)).toBe(true);
});

test("http: after a quiet period, a response that takes 60% of timeout_server is relayed, not answered 504", async () => {
  const slow = await httpBackend("slow", (_req, res) => setTimeout(() => res.end("late but fine"), 600));
  cleanups.push(() => slow.close());
  const [listen] = await freePorts(1);
  const p = await plb(`
timeout_client = 1
timeout_server = 1
[[service]]
name = "quiet-http"
protocol = "http"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${slow.port}"]
`);
  for (let round = 0; round < 2; round++) {
    await Bun.sleep(QUIET_MS);
    const t0 = Date.now();
    const res = await rawHttp(listen, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", /late but fine/);
    expect(res).toStartWith("HTTP/1.1 200");
    expect(res).toContain("late but fine");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
  }
  expect(p.log()).not.toMatch(/failure \d+\/\d+/); // the server was never charged with a timeout
});

test("smtp: after a quiet period, a session that talks every 200 ms stays open", async () => {
  const mx = fakeSmtp("mx", "ok");
  cleanups.push(() => mx.stop());
  const [listen] = await freePorts(1);
  await plb(`
timeout_client = 1
timeout_server = 1
[[service]]
name = "quiet-smtp"
protocol = "smtp"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${mx.port}"]
`);
  await Bun.sleep(QUIET_MS);
  const c = await RawClient.open(listen);
  expect(await c.until(() => c.text.includes("220 mx"), 2000)).toBe(true);
  for (let i = 0; i < 10; i++) {
    const before = c.text.length;
    c.write("NOOP\r\n");
    expect(await c.until(() => c.text.length > before, 1000)).toBe(true);
    expect(c.closed).toBe(false);
    await Bun.sleep(200);
  }
  expect(c.text.match(/^250 /gm)?.length).toBe(10);
});

test("connect timeouts after a quiet period wait their whole timeout_connect", async () => {
  const a = backend({ name: "A" });
  cleanups.push(() => a.stop());
  const [hp, listen] = await freePorts(2);
  const h = backend({ name: "H" }, hp);
  await plb(`
timeout_connect = 1
timeout_client = 1
timeout_server = 1
timeout_cleanup = 60
server_retry = 100
[[service]]
name = "quiet-connect"
balance = "first"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${hp}", "127.0.0.1:${a.port}"]
`);
  // up at the start check, then a black hole on the same port
  const hole = await blackholeAfterStartCheck(h);
  cleanups.push(() => hole.close());
  await Bun.sleep(QUIET_MS);
  const t0 = Date.now();
  const c = await RawClient.open(listen);
  expect(await c.until(() => c.text.includes("A\n"), 4000)).toBe(true);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
});

test("health probes after a quiet period: a down server whose check answers in 600 ms (timeout_server 1 s) comes back", async () => {
  let healthy = false;
  const web = await httpBackend("web", (_req, res) => {
    if (!healthy) {
      res.statusCode = 503;
      return res.end("no");
    }
    setTimeout(() => res.end("ok"), 600);
  });
  cleanups.push(() => web.close());
  const [listen] = await freePorts(1);
  const p = await plb(`
timeout_client = 1
timeout_server = 1
timeout_cleanup = 3
[[service]]
name = "quiet-probe"
protocol = "http"
health_path = "/health"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${web.port}"]
`);
  await p.waitForLog(/is down/);
  healthy = true;
  await p.waitForLog(/is up again/, 8000);
  const res = await rawHttp(listen, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", /ok$/);
  expect(res).toStartWith("HTTP/1.1 200");
});
