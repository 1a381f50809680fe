import { afterAll, beforeAll, expect, test } from "bun:test";
import { httpBackend, type HttpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";

let backends: HttpBackend[] = [];
let plb: PlbProcess;
let uriPort: number;
let hdrPort: number;

beforeAll(async () => {
  backends = await Promise.all(["A", "B", "C"].map((n) => httpBackend(n)));
  [uriPort, hdrPort] = await freePorts(2);
  const servers = backends.map((b) => `"127.0.0.1:${b.port}"`).join(", ");
  plb = await startPlb(`
[[service]]
name = "by-uri"
protocol = "http"
balance = "uri"
listen = ["127.0.0.1:${uriPort}"]
servers = [${servers}]

[[service]]
name = "by-tenant"
protocol = "http"
balance = "header"
hash_header = "X-Tenant"
listen = ["127.0.0.1:${hdrPort}"]
servers = [${servers}]
`);
});
afterAll(async () => {
  await plb?.stop();
  for (const b of backends) await b.close();
});

const get = async (port: number, path: string, headers: Record<string, string> = {}) =>
  (await fetch(`http://127.0.0.1:${port}${path}`, { headers })).text();

test('balance = "uri": a path always reaches the same server, whatever its query string; paths spread', async () => {
  const first = await get(uriPort, "/a/b?x=1");
  for (let i = 0; i < 10; i++) expect(await get(uriPort, `/a/b?x=${i}`)).toBe(first);
  const seen = new Set<string>();
  for (let i = 0; i < 60; i++) seen.add(await get(uriPort, `/p${i}`));
  expect(seen.size).toBe(3);
});

test('balance = "header": a tenant always reaches the same server; tenants spread', async () => {
  const first = await get(hdrPort, "/", { "X-Tenant": "acme" });
  for (let i = 0; i < 10; i++) expect(await get(hdrPort, `/r${i}`, { "x-tenant": "acme" })).toBe(first);
  const seen = new Set<string>();
  for (let i = 0; i < 60; i++) seen.add(await get(hdrPort, "/", { "X-Tenant": `t${i}` }));
  expect(seen.size).toBe(3);
});
