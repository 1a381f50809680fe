/**
 * A reload swaps a service's whole route table at once: 20 keep-alive
 * clients keep sending while the routes change under them; no request
 * fails, each reaches a backend that the old or the new table sends its
 * path to (never a mix), and the backends keep their server state (a
 * drained server stays drained through a reload that changes only routes).
 */
import { afterAll, expect, test } from "bun:test";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlbFile, writeConfig } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

const TOKEN = "reload-routes-token-0123";

test("routes change under 20 keep-alive clients: no failure, no request to a backend its table did not name", async () => {
  const a = await httpBackend("a");
  const b = await httpBackend("b");
  const c = await httpBackend("c");
  cleanup.push(() => a.close(), () => b.close(), () => c.close());
  const [edge, stats] = await freePorts(2);
  const config = (routes: string) => `
[stats]
listen = "127.0.0.1:${stats}"
token = "${TOKEN}"

[[backend]]
name = "a"
servers = ["127.0.0.1:${a.port}"]
[[backend]]
name = "b"
servers = ["127.0.0.1:${b.port}"]
[[backend]]
name = "c"
servers = ["127.0.0.1:${c.port}"]

[[service]]
name = "edge"
protocol = "http"
listen = ["127.0.0.1:${edge}"]
backend = "c"
${routes}`;
  // Old table: /x → a, /y → b. New table: /x → b, /y → a.
  const OLD = `[[service.route]]\npath = "/x"\nbackend = "a"\n[[service.route]]\npath = "/y"\nbackend = "b"\n`;
  const NEW = `[[service.route]]\npath = "/x"\nbackend = "b"\n[[service.route]]\npath = "/y"\nbackend = "a"\n`;
  const file = writeConfig(config(OLD));
  const plb = await startPlbFile(file, ["--loglevel", "info"]);
  cleanup.push(() => plb.stop());

  // The third backend's server drained by the operator: a reload of routes alone keeps it so.
  const drained = await fetch(`http://127.0.0.1:${stats}/servers/c/127.0.0.1:${c.port}/drain`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(drained.status).toBe(200);

  let running = true;
  const failures: string[] = [];
  const answers = new Map<string, Set<string>>([["/x", new Set()], ["/y", new Set()]]);
  let sent = 0;
  const client = async (n: number) => {
    const path = n % 2 === 0 ? "/x" : "/y";
    // One keep-alive connection per client (Bun's fetch pools them per origin).
    while (running) {
      try {
        const r = await fetch(`http://127.0.0.1:${edge}${path}`);
        const text = await r.text();
        sent++;
        if (r.status !== 200) failures.push(`${path}: ${r.status} ${text}`);
        else answers.get(path)!.add(text);
      } catch (err) {
        failures.push(`${path}: ${(err as Error).message}`);
      }
    }
  };
  const clients = Array.from({ length: 20 }, (_, i) => client(i));
  const until = async (n: number) => {
    const deadline = Date.now() + 20_000;
    while (sent < n && Date.now() < deadline) await Bun.sleep(20);
  };
  await until(200);
  const beforeReload = sent;
  expect(await reloadWith(plb, file, config(NEW))).toMatch(/\[reload\] reload: 1 setting changed/);
  await until(beforeReload + 400);
  const afterFirst = sent;
  expect(await reloadWith(plb, file, config(OLD))).toMatch(/\[reload\] reload: 1 setting changed/);
  await until(afterFirst + 400);
  running = false;
  await Promise.all(clients);

  expect(failures.slice(0, 5)).toEqual([]);
  // Each path only ever reached a backend one of the tables sends it to (never "c", the default).
  expect([...answers.get("/x")!].sort()).toEqual(["a", "b"]);
  expect([...answers.get("/y")!].sort()).toEqual(["a", "b"]);
  expect(c.seen.length).toBe(0);
  const st = (await (await fetch(`http://127.0.0.1:${stats}/status.json`)).json()) as { backends: { name: string; servers: { admin: string }[] }[] };
  expect(st.backends.find((x) => x.name === "c")!.servers[0].admin).toBe("drain");
});
