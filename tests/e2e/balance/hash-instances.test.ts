/**
 * The hashing algorithms across plb instances: two plb processes with the
 * same five servers listed in different orders send each of 1,000 keys
 * (client addresses for `source`, paths for `uri`, header values for
 * `header`) to the same server; when one server goes down only its own
 * keys move (about 1/5 of them), spread over the others, and both
 * instances still agree. The client is Python's http.client (source: a
 * distinct local address in 127.0.0.0/8 per key).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { httpBackend, type HttpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";

const KEYS = 1000;
const N = 5;
const CLIENT = join(import.meta.dir, "..", "..", "support", "hash_keys.py");
const MODES = ["source", "uri", "header"] as const;
type Mode = (typeof MODES)[number];

let backends: HttpBackend[] = [];
const plbs: { plb: PlbProcess; ports: Record<Mode, number> }[] = [];

/** One plb with the backends in `order`; the source service listens on `sourceHost`. */
async function instance(order: number[], sourceHost: string) {
  const [source, uri, header] = await freePorts(3);
  const servers = order.map((i) => `"127.0.0.1:${backends[i].port}"`).join(", ");
  const plb = await startPlb(`
timeout_cleanup = "60s"
[[service]]
name = "by-source"
protocol = "tcp"
balance = "source"
listen = ["${sourceHost}:${source}"]
servers = [${servers}]

[[service]]
name = "by-uri"
protocol = "http"
balance = "uri"
listen = ["127.0.0.1:${uri}"]
servers = [${servers}]

[[service]]
name = "by-header"
protocol = "http"
balance = "header"
hash_header = "X-Tenant"
listen = ["127.0.0.1:${header}"]
servers = [${servers}]
`);
  return { plb, ports: { source, uri, header } };
}

beforeAll(async () => {
  backends = await Promise.all(Array.from({ length: N }, (_, i) => httpBackend(`s${i}`)));
  // The second lists the servers in another order, and sees IPv4 clients as ::ffff:… on a dual-stack listener.
  plbs.push(await instance([0, 1, 2, 3, 4], "127.0.0.1"), await instance([3, 0, 4, 2, 1], "*"));
});
afterAll(async () => {
  for (const { plb } of plbs) await plb.stop();
  for (const b of backends) await b.close();
});

/** The server each key reached through `port` (Python's http.client). */
async function mapping(mode: Mode, port: number): Promise<string[]> {
  const p = Bun.spawn(["/usr/bin/python3", CLIENT, mode, "127.0.0.1", String(port), String(KEYS)], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`hash_keys.py ${mode} exited ${code}: ${err}`);
  return JSON.parse(out) as string[];
}

/** Every mode through every instance, all at once: result[instance][mode]. */
async function everything(): Promise<Record<Mode, string[]>[]> {
  return await Promise.all(
    plbs.map(async ({ ports }) => {
      const [source, uri, header] = await Promise.all(MODES.map((m) => mapping(m, ports[m])));
      return { source, uri, header };
    }),
  );
}

const names = Array.from({ length: N }, (_, i) => `s${i}`);
let before: Record<Mode, string[]>[];

test("two plb with the servers in different orders send each of 1,000 keys to the same server (source, uri, header)", async () => {
  before = await everything();
  for (const mode of MODES) {
    const [one, two] = [before[0][mode], before[1][mode]];
    expect(one.filter((s) => !names.includes(s)), `${mode}: failed keys`).toEqual([]);
    expect(two, `${mode}: the second instance`).toEqual(one);
    // Every server has its share (a ring of 100 points per server: within ±50 % of 1/5).
    for (const name of names) {
      const share = one.filter((s) => s === name).length / KEYS;
      expect(share, `${mode}: ${name}'s share`).toBeGreaterThan(0.1);
      expect(share, `${mode}: ${name}'s share`).toBeLessThan(0.3);
    }
  }
}, 60_000);

test("when a server goes down only its keys move, about 1/5 of them, spread over the others, the same way on both instances", async () => {
  expect(before, "the first test ran").toBeDefined();
  await backends[2].close();
  const after = await everything();
  for (const mode of MODES) {
    const [one, two] = [after[0][mode], after[1][mode]];
    expect(one.filter((s) => !names.includes(s) || s === "s2"), `${mode}: failed keys or keys on the stopped server`).toEqual([]);
    expect(two, `${mode}: the second instance`).toEqual(one);
    const was = before[0][mode];
    const moved = was.flatMap((s, i) => (s !== one[i] ? [i] : []));
    // Exactly the stopped server's keys moved, and no other.
    expect(moved).toEqual(was.flatMap((s, i) => (s === "s2" ? [i] : [])));
    const share = moved.length / KEYS;
    console.log(`${mode}: ${moved.length} of ${KEYS} keys moved (${(share * 100).toFixed(1)} %, 1/${N} = ${100 / N} %)`);
    expect(Math.abs(share - 1 / N)).toBeLessThan(0.07);
    // Spread over the four servers left, not piled on one.
    const to = new Set(moved.map((i) => one[i]));
    expect(to.size).toBe(N - 1);
  }
}, 60_000);
