import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { carryAddress, clientIp, clientPort, proxyHeaderFor } from "../src/net/client-address.ts";
import { parseProxyHeader } from "../src/net/proxy-protocol.ts";
import type { Sock } from "../src/net/types.ts";
import { ROOT } from "./support/plb.ts";

/** Two accepted loopback connections (server side) and the clients' local ports. */
async function accepted(): Promise<{ socks: Sock[]; ports: number[]; close(): void }> {
  const socks: Sock[] = [];
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void socks.push(s as unknown as Sock), data() {} } });
  const clients: import("bun").Socket[] = [];
  for (let i = 0; i < 2; i++) clients.push(await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } }));
  while (socks.length < 2) await Bun.sleep(1);
  const ports = clients.map((c) => c.localPort);
  // accept order is connect order on loopback, but match by port to be sure
  socks.sort((a, b) => ports.indexOf(a.remotePort) - ports.indexOf(b.remotePort));
  return { socks, ports, close: () => (clients.forEach((c) => c.end()), server.stop(true)) };
}

test("a carried address replaces the socket's own for every reader (IP, port, PROXY header towards servers); other connections keep theirs", async () => {
  const { socks, ports, close } = await accepted();
  try {
    const [a, b] = socks;
    carryAddress(a, { address: "::ffff:192.0.2.1", port: 1234 }, { address: "198.51.100.2", port: 80 });
    expect([clientIp(a), clientPort(a)]).toEqual(["192.0.2.1", 1234]);
    const h = parseProxyHeader(proxyHeaderFor("proxy-v2", a)!);
    expect(h.kind === "done" && [h.family, h.src, h.dst]).toEqual(["TCP4", { address: "192.0.2.1", port: 1234 }, { address: "198.51.100.2", port: 80 }]);
    expect([clientIp(b), clientPort(b)]).toEqual(["127.0.0.1", ports[1]]);
    const own = parseProxyHeader(proxyHeaderFor("proxy-v1", b)!);
    expect(own.kind === "done" && own.src).toEqual({ address: "127.0.0.1", port: ports[1] });
  } finally {
    close();
  }
});

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

test("outside src/net/ nothing reads a socket's peer address itself: client-address.ts decides who the client is", () => {
  const src = join(ROOT, "src");
  const readers = files(src)
    .filter((f) => !f.startsWith(join(src, "net") + "/"))
    .filter((f) => /\.remote(Address|Port)\b/.test(readFileSync(f, "utf8")))
    .map((f) => relative(src, f));
  expect(readers).toEqual([]);
});
