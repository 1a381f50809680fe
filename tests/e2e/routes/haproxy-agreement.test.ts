/**
 * plb's route table agrees with HAProxy 2.6 (Debian's), which has the same
 * first-match rule: ~50 random routes (exact and wildcard hosts, prefixes,
 * exact paths, regexes, methods, headers) written as plb [[service.route]]
 * tables and as HAProxy acl + use_backend rules; 2,000 random requests
 * (hosts in capitals, with ports, trailing dots, deeper subdomains, unknown;
 * HTTP/1.0 without Host; queries; repeated headers) go through HAProxy to a
 * real server that tells which backend HAProxy chose, and plb's
 * `buildRouteTable(...).match(...)` on the same request bytes (parsed by
 * plb's head parser) must pick the same one. A request no route matches goes
 * to HAProxy's default_backend and, in plb, to the service's servers.
 * Then the same requests go through a real plb running those routes (each
 * route's backend tells the server its name, as HAProxy's do), and reach
 * the same backends.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rng } from "../../../fuzz/rng.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { parseRequestHead } from "../../../src/http/head.ts";
import { HeadFacts } from "../../../src/routes/facts.ts";
import { buildRouteTable } from "../../../src/routes/table.ts";
import { startHAProxy, type HAProxy } from "../../support/haproxy.ts";
import { type PlbProcess, startPlb } from "../../support/plb.ts";
import { type HttpBackend, httpBackend } from "../../support/http-backends.ts";
import { freePort } from "../../support/ports.ts";
import { RawClient } from "../../support/raw-client.ts";
import { HTTP_SERVICE, withBackends } from "../../support/routes.ts";
import { haproxyRoutes, plbRoutes, randomRequest, randomRoutes, requestText } from "../../support/route-gen.ts";

const SEED = 20261207;
const ROUTES = 50;
const REQUESTS = 2000;

let server: HttpBackend;
let fallback: HttpBackend;
let haproxy: HAProxy;
let plbProc: PlbProcess;
let port: number;
let plbPort: number;
const r = rng(SEED);
const specs = randomRoutes(r, ROUTES);

beforeAll(async () => {
  server = await httpBackend("echo", (req, res) => {
    res.setHeader("X-Chosen", String(req.headers["x-backend"]));
    res.end(String(req.headers["x-backend"]));
  });
  // What no route takes: plb's service servers, which answer as HAProxy's default_backend does.
  fallback = await httpBackend("be_default", (_req, res) => {
    res.setHeader("X-Chosen", "be_default");
    res.end("be_default");
  });
  port = await freePort();
  haproxy = await startHAProxy(haproxyRoutes(specs, port, server.port), [port]);
  plbPort = await freePort();
  const backends = specs.map((_, i) => `[[backend]]\nname = "be_${i}"\nservers = ["127.0.0.1:${server.port}"]\n`).join("\n");
  plbProc = await startPlb(`[[service]]\nname = "edge"\nprotocol = "http"\nlisten = ["127.0.0.1:${plbPort}"]\nservers = ["127.0.0.1:${fallback.port}"]\n\n${plbRoutes(specs, { tag: true })}\n\n${backends}`, ["--loglevel", "info"]);
});

afterAll(async () => {
  await plbProc?.stop();
  await haproxy?.stop();
  await server?.close();
  await fallback?.close();
});

/** Sends each request in order over kept-alive connections to `port` (a new one when it closed); returns the backend each reached. */
async function through(port: number, requests: string[], who: string, log: () => string): Promise<string[]> {
  const out: string[] = [];
  let client: RawClient | undefined;
  for (const text of requests) {
    if (client === undefined || client.closed) client = await RawClient.open(port);
    const before = client.responses.length;
    if (text.startsWith("HEAD ")) client.noBody.add(before);
    client.write(text);
    const c = client;
    if (!(await c.until(() => c.responses.length > before || c.closed, 10_000)) || c.responses.length === before) {
      throw new Error(`no answer from ${who} to ${JSON.stringify(text)}: ${c.error ?? ""} ${log().slice(-2000)}`);
    }
    const res = c.responses[before];
    out.push(res.fields.find((f) => f.name.toLowerCase() === "x-chosen")?.value ?? `status ${res.status}`);
  }
  client?.close();
  return out;
}

test(`${REQUESTS} random requests reach the same backend through HAProxy, plb's route table and a real plb (seed ${SEED}, ${ROUTES} routes)`, async () => {
  const config = parseConfig(withBackends(`${HTTP_SERVICE}${plbRoutes(specs)}\n`), "plb.toml");
  const table = buildRouteTable(config.services[0].routes);
  expect(table.routes.length).toBe(ROUTES);
  const requests = Array.from({ length: REQUESTS }, () => requestText(randomRequest(r)));
  const facts = new HeadFacts();
  const plb = requests.map((text) => {
    const p = parseRequestHead(new TextEncoder().encode(text));
    if (p.kind !== "done") throw new Error(`plb refuses ${JSON.stringify(text)}: ${JSON.stringify(p)}`);
    const route = table.match(facts.reset(p.head));
    return route === undefined ? "be_default" : `be_${route.index}`;
  });
  const got = await through(port, requests, "HAProxy", () => haproxy.log());
  const differ = requests.flatMap((text, i) => (got[i] === plb[i] ? [] : [`${JSON.stringify(text)}: HAProxy ${got[i]}, plb ${plb[i]}`]));
  expect(differ.slice(0, 10)).toEqual([]);
  // The same requests through a real plb with those routes.
  const real = await through(plbPort, requests, "plb", () => plbProc.log());
  const apart = requests.flatMap((text, i) => (got[i] === real[i] ? [] : [`${JSON.stringify(text)}: HAProxy ${got[i]}, plb ${real[i]}`]));
  expect(apart.slice(0, 10)).toEqual([]);
  // Not vacuous (with this seed; some tables start with a catch-all): many routes are reached, and so is the default.
  const reached = new Set(plb);
  expect(reached.size).toBeGreaterThan(25);
  expect(plb.filter((b) => b === "be_default").length).toBeGreaterThan(REQUESTS / 50);
  expect(plb.filter((b) => b !== "be_default").length).toBeGreaterThan(REQUESTS / 2);
});
