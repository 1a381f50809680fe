/**
 * Many sites on one port, as an operator moving from nginx writes them:
 * www / example.com to "web", api.example.com's /v1/ to other servers
 * (prefix stripped, headers set and removed), shop.example.com to its own,
 * /robots.txt answered at the edge, HSTS on every answer, http:// sent to
 * https:// — through curl and Python's http.client (keep-alive: each
 * request of one connection is routed on its own).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { httpBackend, type HttpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { type PlbProcess, startPlb, tempDir } from "../../support/plb.ts";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

let web: HttpBackend, api: HttpBackend, apiV1: HttpBackend, shop: HttpBackend;
let plb: PlbProcess;
let edge = 0;
let plain = 0;
let bare = 0;
let shopPort = 0;
const accessLog = join(tempDir(), "bare.log");

beforeAll(async () => {
  web = await httpBackend("web", (_req, res) => {
    res.setHeader("Server", "internal-web/1.2");
    res.setHeader("Content-Type", "text/plain");
    res.end("web");
  });
  api = await httpBackend("api");
  apiV1 = await httpBackend("api-v1");
  shop = await httpBackend("shop");
  [edge, plain, bare, shopPort] = await freePorts(4);
  plb = await startPlb(`
[[backend]]
name = "web"
servers = ["127.0.0.1:${web.port}"]

[[backend]]
name = "api"
servers = ["127.0.0.1:${api.port}"]

[[backend]]
name = "api-v1"
servers = ["127.0.0.1:${apiV1.port}"]

[[service]]
name = "edge"
protocol = "http"
listen = ["127.0.0.1:${edge}"]
backend = "web"
request_id = true

[[service.route]]
host = ["api.example.com"]
path = "/v1/"
backend = "api-v1"
strip_prefix = "/v1"
request_headers = { remove = ["X-Internal"], set = { "X-Env" = "prod", "X-Client" = "{client_ip}" } }

[[service.route]]
host = ["api.example.com"]
backend = "api"

[[service.route]]
host = ["example.com", "*.example.com"]
path = "/robots.txt"
respond = { status = 200, body = "User-agent: *\\nDisallow:\\n", content_type = "text/plain" }

[[service.route]]
host = ["shop.example.com"]
backend = "shop"
response_headers = { set = { "Strict-Transport-Security" = "max-age=63072000" } }

[[service.route]]
host = ["example.com", "*.example.com"]
backend = "web"
response_headers = { set = { "Strict-Transport-Security" = "max-age=63072000" }, remove = ["Server"] }

# A service's own servers are a backend the edge's routes may name too.
[[service]]
name = "shop"
protocol = "http"
listen = ["127.0.0.1:${shopPort}"]
servers = ["127.0.0.1:${shop.port}"]

# Routes only: what none takes is 404.
[[service]]
name = "bare"
protocol = "http"
listen = ["127.0.0.1:${bare}"]
access_log = { path = "${accessLog}", format = "json" }
[[service.route]]
path_exact = "/only"
backend = "shop"

[[service]]
name = "plain"
protocol = "http"
listen = ["127.0.0.1:${plain}"]
[[service.route]]
redirect = { scheme = "https", status = 308 }
`);
});

afterAll(async () => {
  await plb?.stop();
  for (const b of [web, api, apiV1, shop]) await b?.close();
});

async function curl(args: string[]): Promise<{ out: string; code: number }> {
  const p = Bun.spawn(["curl", "-s", "-i", "--max-time", "10", ...args], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  return { out, code: await p.exited };
}

const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
const header = (raw: string, name: string) => new RegExp(`^${name}: (.*)\\r$`, "mi").exec(raw)?.[1];
const body = (raw: string) => raw.slice(raw.indexOf("\r\n\r\n") + 4);

test("each host goes to its backend; the HSTS rule adds its header and removes the server's Server", async () => {
  const r = await curl(["-H", "Host: www.example.com", `http://127.0.0.1:${edge}/`]);
  expect([status(r.out), body(r.out)]).toEqual([200, "web"]);
  expect(header(r.out, "Strict-Transport-Security")).toBe("max-age=63072000");
  expect(header(r.out, "Server")).toBeUndefined();
  const s = await curl(["-H", "Host: SHOP.Example.COM.:8443", `http://127.0.0.1:${edge}/cart`]);
  expect(body(s.out)).toBe("shop");
  expect(header(s.out, "Strict-Transport-Security")).toBe("max-age=63072000");
  const a = await curl(["-H", "Host: api.example.com", `http://127.0.0.1:${edge}/v2/users`]);
  expect(body(a.out)).toBe("api");
  // Not a subdomain of example.com, no route: the service's default backend.
  const other = await curl(["-H", "Host: example.org", `http://127.0.0.1:${edge}/`]);
  expect(body(other.out)).toBe("web");
  expect(header(other.out, "Server")).toBe("internal-web/1.2");
});

test("api.example.com/v1/: prefix stripped on segment boundaries, request headers removed and set with variables", async () => {
  const r = await curl(["-H", "Host: api.example.com", "-H", "X-Internal: secret", `http://127.0.0.1:${edge}/v1/users?page=2`]);
  expect(body(r.out)).toBe("api-v1");
  const seen = apiV1.seen.at(-1)!;
  expect(seen.url).toBe("/users?page=2");
  expect(seen.headers["x-internal"]).toBeUndefined();
  expect(seen.headers["x-env"]).toBe("prod");
  expect(seen.headers["x-client"]).toBe("127.0.0.1");
  // "/v1x" is not under "/v1/": the next route takes it, unchanged.
  const n = apiV1.seen.length;
  expect(body((await curl(["-H", "Host: api.example.com", `http://127.0.0.1:${edge}/v1x`])).out)).toBe("api");
  expect(api.seen.at(-1)!.url).toBe("/v1x");
  expect(apiV1.seen.length).toBe(n);
});

test("/robots.txt is answered at the edge (HEAD: the same head, no body); no server sees it", async () => {
  const before = web.seen.length + api.seen.length + shop.seen.length;
  const r = await curl(["-H", "Host: www.example.com", `http://127.0.0.1:${edge}/robots.txt`]);
  expect([status(r.out), header(r.out, "Content-Type"), body(r.out)]).toEqual([200, "text/plain", "User-agent: *\nDisallow:\n"]);
  const h = await curl(["-I", "-H", "Host: example.com", `http://127.0.0.1:${edge}/robots.txt`]);
  expect([status(h.out), header(h.out, "Content-Length"), body(h.out)]).toEqual([200, "24", ""]);
  expect(web.seen.length + api.seen.length + shop.seen.length).toBe(before);
});

test("http:// is redirected to https:// with 308, host, path and query kept", async () => {
  const r = await curl(["-H", "Host: www.example.com", `http://127.0.0.1:${plain}/a/b?c=1&d`]);
  expect(status(r.out)).toBe(308);
  expect(header(r.out, "Location")).toBe("https://www.example.com/a/b?c=1&d");
  const port = await curl(["-H", "Host: example.com:8080", `http://127.0.0.1:${plain}/`]);
  expect(header(port.out, "Location")).toBe("https://example.com/");
});

test("no route and no default backend: 404 (a service whose only route is /only)", async () => {
  expect(body((await curl([`http://127.0.0.1:${bare}/only`])).out)).toBe("shop");
  const n = shop.seen.length;
  const r = await curl([`http://127.0.0.1:${bare}/only/not`]);
  expect(status(r.out)).toBe(404);
  expect(shop.seen.length).toBe(n);
  // The shop service's own servers take everything it gets.
  expect(body((await curl([`http://127.0.0.1:${shopPort}/other`])).out)).toBe("shop");
});

test("a 404 after a served request on the same connection names no server in the access log (not the previous one's)", async () => {
  const script = `
import http.client
c = http.client.HTTPConnection("127.0.0.1", ${bare}, timeout=10)
for path in ["/only", "/nowhere"]:
    c.request("GET", path)
    r = c.getresponse()
    print(r.status, r.read().decode())
`;
  const p = Bun.spawn(["/usr/bin/python3", "-c", script], { stdout: "pipe", stderr: "pipe" });
  expect((await new Response(p.stdout).text()).split("\n")[0]).toBe("200 shop");
  await p.exited;
  const lines = async () => (existsSync(accessLog) ? readFileSync(accessLog, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
  const deadline = Date.now() + 10_000;
  let logged = await lines();
  while (!logged.some((l) => l.path === "/nowhere") && Date.now() < deadline) {
    await Bun.sleep(100);
    logged = await lines();
  }
  const served = logged.find((l) => l.path === "/only")!;
  const missed = logged.find((l) => l.path === "/nowhere")!;
  expect([served.status, served.backend, served.server]).toEqual([200, "shop", `127.0.0.1:${shop.port}`]);
  expect([missed.status, missed.backend, missed.server]).toEqual([404, null, null]);
});

test("request_id: X-Request-Id added when the client sent none, kept when it did", async () => {
  await curl(["-H", "Host: www.example.com", `http://127.0.0.1:${edge}/id`]);
  const made = web.seen.at(-1)!.headers["x-request-id"] as string;
  expect(made).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  await curl(["-H", "Host: www.example.com", "-H", "X-Request-Id: abc-123", `http://127.0.0.1:${edge}/id`]);
  expect(web.seen.at(-1)!.headers["x-request-id"]).toBe("abc-123");
});

test("Python http.client on one keep-alive connection: every request is routed on its own, an edge answer keeps the connection", async () => {
  const script = `
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", ${edge}, timeout=10)
out = []
for host, path in [("www.example.com", "/"), ("api.example.com", "/v1/x"), ("example.com", "/robots.txt"), ("shop.example.com", "/"), ("api.example.com", "/y")]:
    c.request("GET", path, headers={"Host": host})
    r = c.getresponse()
    out.append([r.status, r.read().decode()])
print(json.dumps({"answers": out, "port": c.sock.getsockname()[1]}))
`;
  const p = Bun.spawn(["/usr/bin/python3", "-c", script], { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(p.stdout).text();
  expect(await p.exited).toBe(0);
  const r = JSON.parse(text) as { answers: [number, string][] };
  expect(r.answers).toEqual([[200, "web"], [200, "api-v1"], [200, "User-agent: *\nDisallow:\n"], [200, "shop"], [200, "api"]]);
});

test("the start log names the routes; --check-style warnings are absent for this file", async () => {
  expect(plb.log()).toContain('service "edge" (http, roundrobin) listening on');
  expect(plb.log()).toContain("5 route(s)");
  expect(plb.log()).not.toContain("can never match");
});
