/**
 * A server's GOAWAY (python3-h2 server, tests/support/h2_goaway_server.py):
 * streams above its last stream id were never processed, so plb sends a
 * retryable request (GET) once more on a new connection and answers a
 * request it cannot repeat (POST) with 502; the stream below the last id is
 * answered on the old connection.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { join } from "node:path";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";

let server: Subprocess<"ignore", "pipe", "pipe">;
let plb: PlbProcess;
let port: number;

beforeAll(async () => {
  const [sp, p] = await freePorts(2);
  port = p;
  server = Bun.spawn(["/usr/bin/python3", join(import.meta.dir, "../../support/h2_goaway_server.py"), String(sp), "3"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const reader = server.stdout.getReader();
  let text = "";
  while (!text.includes("ready")) {
    const r = await reader.read();
    if (r.done) throw new Error("the h2 server did not start");
    text += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  plb = await startPlb(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${sp}"]
server_protocol = "h2"
h2_max_connections = 1
`);
});

afterAll(async () => {
  await plb?.stop();
  server?.kill("SIGKILL");
  await server?.exited;
});

test("streams above the GOAWAY's last id: the GET is retried on a new connection, the POST gets 502; the one below is answered", async () => {
  const hold = fetch(`http://127.0.0.1:${port}/hold`);
  await Bun.sleep(300); // the first stream on the connection
  const get = fetch(`http://127.0.0.1:${port}/again`);
  const post = fetch(`http://127.0.0.1:${port}/once`, { method: "POST", body: "x" });
  const [h, g, p] = await Promise.all([hold, get, post]);
  expect([h.status, await h.text()]).toEqual([200, "conn=1 GET /hold"]);
  expect([g.status, await g.text()]).toEqual([200, "conn=2 GET /again"]);
  expect(p.status).toBe(502);
  expect(plb.log()).toMatch(/GOAWAY NO_ERROR \(last stream 1\)/);
  expect(plb.log()).not.toContain("refused the stream (GOAWAY)"); // not counted as a failure of the server
  // and the new connection serves what comes next
  const next = await fetch(`http://127.0.0.1:${port}/next`);
  expect(await next.text()).toBe("conn=2 GET /next");
});
