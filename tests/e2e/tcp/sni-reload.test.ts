/**
 * A reload swaps a tcp service's routes by name: new connections follow
 * the new table, a connection passed through before the reload stays with
 * its server, and routes added to (or removed from) a service that had none
 * take effect for the next client.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import tls from "node:tls";
import type { Server } from "bun";
import { freePorts } from "../../support/ports.ts";
import { startPlbFile, writeConfig } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";
import { curlName, httpsServer, makeCert } from "../../support/tls-peers.ts";

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** One GET on a kept-alive TLS connection; the body. */
function get(t: tls.TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (b: Buffer) => {
      text += b.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      const m = /content-length: (\d+)/i.exec(text.slice(0, end));
      if (end >= 0 && m && text.length >= end + 4 + Number(m[1])) {
        t.off("data", onData);
        resolve(text.slice(end + 4));
      }
    };
    t.on("data", onData);
    t.once("error", reject);
    t.write("GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n");
  });
}

test("routes by name change on a reload; a session passed through before it stays with its server", async () => {
  // Every server holds a certificate for the name, so clients verify whichever they reach.
  const cert = await makeCert(["a.example.test"]);
  const servers: Server<undefined>[] = ["A", "B", "D"].map((l) => httpsServer(l, cert));
  cleanup.push(() => servers.forEach((s) => s.stop(true)));
  const [a, b, d] = servers.map((s) => s.port);
  const [edge] = await freePorts(1);
  const config = (routes: string) => `
[[backend]]
name = "a"
servers = ["127.0.0.1:${a}"]
[[backend]]
name = "b"
servers = ["127.0.0.1:${b}"]

[[service]]
name = "edge"
protocol = "tcp"
listen = ["127.0.0.1:${edge}"]
servers = ["127.0.0.1:${d}"]
${routes}`;
  const route = (backend: string) => `[[service.route]]\nsni = "a.example.test"\nbackend = "${backend}"\n`;
  const file = writeConfig(config(route("a")));
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());

  expect((await curlName("a.example.test", edge, cert.cert)).stdout).toBe("A");
  const held = tls.connect({ host: "127.0.0.1", port: edge, servername: "a.example.test", ca: readFileSync(cert.cert, "utf8") });
  cleanup.push(() => held.destroy());
  await new Promise<void>((r, j) => (held.once("secureConnect", () => r()), held.once("error", j)));
  expect(await get(held)).toBe("A");

  expect(await reloadWith(plb, file, config(route("b")))).toContain("reload: ");
  expect((await curlName("a.example.test", edge, cert.cert)).stdout).toBe("B");
  expect(await get(held)).toBe("A"); // the session keeps its server

  // No routes: every client to the service's servers; routes again: by name.
  expect(await reloadWith(plb, file, config(""))).toContain("reload: ");
  expect((await curlName("a.example.test", edge, cert.cert)).stdout).toBe("D");
  expect(await reloadWith(plb, file, config(route("a")))).toContain("reload: ");
  expect((await curlName("a.example.test", edge, cert.cert)).stdout).toBe("A");
  expect(await get(held)).toBe("A");
});
