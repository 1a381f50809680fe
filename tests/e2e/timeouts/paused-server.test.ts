/**
 * A server plb paused because its client reads slowly is not a silent
 * server: an HTTP/1 client that stops reading for longer than
 * timeout_server still gets the whole response (its own idleness is what
 * timeout_client bounds). Before, the sweep counted the pause as the
 * server's silence and cut the response midway.
 */
import { afterAll, expect, test } from "bun:test";
import { httpBackend } from "../../support/http-backends.ts";
import { startPlb } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const SIZE = 32 * 1024 * 1024;

test("an HTTP/1 client that stops reading longer than timeout_server still gets the whole response", async () => {
  const body = Buffer.alloc(SIZE, 0x61);
  const a = await httpBackend("A", (_req, res) => {
    res.setHeader("Content-Length", String(SIZE));
    res.end(body);
  });
  cleanups.push(() => a.close());
  const port = await freePort();
  const plb = await startPlb(`
timeout_server = "2s"
timeout_client = "30s"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}"]
`);
  cleanups.push(() => plb.stop());
  // Read 1 MiB, stop reading for 4.5 s (more than twice timeout_server), then read the rest.
  const script = `
import socket, time, sys
s = socket.create_connection(("127.0.0.1", ${port}))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET /big HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n")
got = 0
while got < 1 << 20:
    d = s.recv(65536)
    if not d: break
    got += len(d)
time.sleep(4.5)
s.settimeout(20)
while True:
    d = s.recv(1 << 20)
    if not d: break
    got += len(d)
    if got >= ${SIZE}: break
print(got)
`;
  const p = Bun.spawn(["/usr/bin/python3", "-c", script], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  // The head plus every body byte.
  expect(Number(out.trim())).toBeGreaterThanOrEqual(SIZE);
}, 60_000);
