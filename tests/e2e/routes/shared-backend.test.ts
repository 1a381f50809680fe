/**
 * Two services (two listeners, one http and its twin on another port) on
 * one [[backend]]: one state per server, one check per server, one set of
 * counters, whichever listener the traffic came through; the admin API
 * names the backend.
 */
import { afterAll, expect, test } from "bun:test";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

const cleanup: (() => unknown)[] = [];
const TOKEN = "shared-backend-token-0123";
const post = (stats: number, path: string) => fetch(`http://127.0.0.1:${stats}${path}`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface Status {
  services: { name: string; backend: string | null; sessions_total: number }[];
  backends: { name: string; declared: boolean; servers: { name: string; state: string; sessions_total: number }[] }[];
}

test("two services on one backend see one state, one count and one drain", async () => {
  const a = await httpBackend("A");
  cleanup.push(() => a.close());
  const [stats, p1, p2, dead] = await freePorts(4);
  const plb = await startPlb(`
timeout_cleanup = "300ms"
[stats]
listen = "127.0.0.1:${stats}"
token = "${TOKEN}"

[[backend]]
name = "app"
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${dead}"]

[[service]]
name = "front-a"
protocol = "http"
listen = ["127.0.0.1:${p1}"]
backend = "app"

[[service]]
name = "front-b"
protocol = "http"
listen = ["127.0.0.1:${p2}"]
backend = "app"
`);
  cleanup.push(() => plb.stop());
  const get = async (port: number) => {
    const r = await fetch(`http://127.0.0.1:${port}/`, { keepalive: false });
    return [r.status, await r.text()] as const;
  };
  const status = async () => (await (await fetch(`http://127.0.0.1:${stats}/status.json`)).json()) as Status;
  for (let i = 0; i < 3; i++) expect(await get(p1)).toEqual([200, "A"]);
  for (let i = 0; i < 2; i++) expect(await get(p2)).toEqual([200, "A"]);

  const st = await status();
  expect(st.services.map((s) => [s.name, s.backend, s.sessions_total])).toEqual([["front-a", "app", 3], ["front-b", "app", 2]]);
  expect(st.backends.map((b) => [b.name, b.declared])).toEqual([["app", true]]);
  const [up, down] = st.backends[0].servers;
  // One state and one count per server, whichever listener the requests came through.
  expect([up.name, up.state, up.sessions_total]).toEqual([`127.0.0.1:${a.port}`, "up", 5]);
  expect([down.name, down.state]).toEqual([`127.0.0.1:${dead}`, "down"]);
  // One check per server: the dead one was found down once, not once per service.
  expect(plb.log().split("\n").filter((l) => l.includes(`server 127.0.0.1:${dead} of "app" is down`))).toHaveLength(1);

  // Drained through the backend's name: neither service sends it anything new.
  const drain = await post(stats, `/servers/app/127.0.0.1:${a.port}/drain`);
  expect(drain.status).toBe(200);
  expect((await get(p1))[0]).toBe(503);
  expect((await get(p2))[0]).toBe(503);
  // Servers belong to backends: a service's name that is not a backend's finds none.
  expect((await post(stats, `/servers/front-a/127.0.0.1:${a.port}/ready`)).status).toBe(404);
  expect((await post(stats, `/servers/app/127.0.0.1:${a.port}/ready`)).status).toBe(200);
  expect(await get(p2)).toEqual([200, "A"]);
  expect(await get(p1)).toEqual([200, "A"]);
});
