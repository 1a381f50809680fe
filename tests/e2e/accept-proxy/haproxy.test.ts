/**
 * A real third-party sender: Debian's HAProxy in front of plb, with
 * send-proxy (v1) and send-proxy-v2, and its health checks on (which send
 * the header too: v1 "PROXY TCP4 …" of the check, v2 LOCAL).
 */
import { afterEach, expect, test } from "bun:test";
import { startHAProxy } from "../../support/haproxy.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

test("HAProxy send-proxy and send-proxy-v2 in front of plb: the server sees the client's address in X-Forwarded-For; HAProxy's checks are accepted", async () => {
  const web = await httpBackend("web", (req, res) => res.end(`xff=${req.headers["x-forwarded-for"]}`));
  cleanup.push(() => web.close());
  const [back, v1, v2] = await freePorts(3);
  const plb = await startPlb(`
[[service]]
name = "back"
protocol = "http"
listen = ["127.0.0.1:${back}"]
servers = ["127.0.0.1:${web.port}"]
accept_proxy = true
proxy_from = ["127.0.0.1/32"]
`);
  cleanup.push(() => plb.stop());
  const haproxy = await startHAProxy(
    `frontend v1
  bind 127.0.0.1:${v1}
  default_backend plb-v1
frontend v2
  bind 127.0.0.1:${v2}
  default_backend plb-v2
backend plb-v1
  server plb 127.0.0.1:${back} send-proxy check inter 100ms
backend plb-v2
  server plb 127.0.0.1:${back} send-proxy-v2 check inter 100ms
`,
    [v1, v2],
  );
  cleanup.push(() => haproxy.stop());
  await Bun.sleep(500); // a few health checks first: a server they took down would fail the requests
  for (const [source, port] of [["127.0.0.2", v1], ["127.0.0.3", v2]] as const) {
    const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "--interface", source, `http://127.0.0.1:${port}/`], { stdout: "pipe" });
    expect(await new Response(p.stdout).text()).toBe(`xff=${source}`);
  }
  expect(plb.log()).not.toContain("closing the connection from");
  expect(haproxy.log()).not.toMatch(/is DOWN/);
  expect(haproxy.log()).toContain("Connect from 127.0.0.2:"); // its log is read: a DOWN would show
});
