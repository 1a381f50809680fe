/**
 * One port passing some names through and terminating others, as the
 * README's two-hop setup writes it: a tcp route sends the names plb
 * terminates to plb's own http service with tls on a loopback port (Bun
 * cannot terminate a ClientHello it has already read: tests/tls-bun-passthrough).
 * Passed-through names reach their server with its certificate; terminated
 * ones get plb's certificate and plb's http features (routes, headers).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { type HttpBackend, httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { type PlbProcess, startPlb } from "../../support/plb.ts";
import { type CertFiles, curlName, httpsServer, makeCert } from "../../support/tls-peers.ts";

let plb: PlbProcess;
let edge: number;
let passCert: CertFiles, appCert: CertFiles;
let pass: Server<undefined>;
let app: HttpBackend;

beforeAll(async () => {
  [passCert, appCert] = await Promise.all([makeCert(["pass.example.test"]), makeCert(["app.example.test", "www.example.test"])]);
  pass = httpsServer("PASS", passCert);
  app = await httpBackend("APP");
  let inner: number;
  [edge, inner] = await freePorts(2);
  plb = await startPlb(`
[[backend]]
name = "pass"
servers = ["127.0.0.1:${pass.port}"]

# plb's own http service, reached through the edge
[[backend]]
name = "terminate"
servers = ["127.0.0.1:${inner}"]

[[service]]
name = "edge"
protocol = "tcp"
listen = ["127.0.0.1:${edge}"]

[[service.route]]
sni = "pass.example.test"
backend = "pass"

[[service.route]]
sni = ["app.example.test", "www.example.test"]
backend = "terminate"

[[service]]
name = "app"
protocol = "http"
listen = ["127.0.0.1:${inner}"]
tls = { cert = "${appCert.cert}", key = "${appCert.key}" }
servers = ["127.0.0.1:${app.port}"]

[[service.route]]
host = "www.example.test"
redirect = { host = "app.example.test" }
`);
});

afterAll(async () => {
  await plb?.stop();
  pass?.stop(true);
  await app?.close();
});

test("a passed-through name reaches its own server with its own certificate", async () => {
  const r = await curlName("pass.example.test", edge, passCert.cert);
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe("PASS");
});

test("a terminated name is served by plb's http service with plb's certificate", async () => {
  const r = await curlName("app.example.test", edge, appCert.cert);
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe("APP");
  const seen = app.seen.at(-1)!;
  expect(seen.headers["x-forwarded-proto"]).toBe("https");
  // The client's address does not cross the second hop: the http service sees plb's (README).
  expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
});

test("http routes of the terminating service apply to the names sent to it", async () => {
  const p = Bun.spawn(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--max-time", "10", "--cacert", appCert.cert, "--connect-to", `www.example.test:${edge}:127.0.0.1:${edge}`, `https://www.example.test:${edge}/x`], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  expect(out).toBe("308 https://app.example.test/x");
});
