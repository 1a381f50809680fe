/**
 * src/tcp/sni.ts: the backend a tcp service with routes chooses from what a
 * client sends first, over routes parsed from TOML and the route table
 * (the relay session around it runs in tests/e2e/tcp/sni-*.test.ts).
 */
import { describe, expect, test } from "bun:test";
import { clientHello, records } from "../fuzz/formats/tls.ts";
import { latin1 } from "../fuzz/rng.ts";
import { parseConfig } from "../src/config/load.ts";
import type { Sock } from "../src/net/types.ts";
import { now } from "../src/net/clock.ts";
import type { BackendHandle, ServiceHandle } from "../src/protocol.ts";
import { buildRouteTable } from "../src/routes/table.ts";
import type { RequestFacts } from "../src/routes/types.ts";
import { sniReader } from "../src/tcp/sni.ts";

const ROUTES = `
[[service.route]]
sni = "a.example.test"
backend = "a"
[[service.route]]
sni = "*.b.example.test"
backend = "b"
[[service.route]]
sni = "own.example.test"
[[backend]]
name = "a"
servers = ["127.0.0.1:9"]
[[backend]]
name = "b"
servers = ["127.0.0.1:9"]
`;

/** A service as the reader sees it: its configuration, routes and backends by name (no sockets). */
function service(own: boolean): ServiceHandle {
  const cfg = parseConfig(`[[service]]\nname = "edge"\nprotocol = "tcp"\nlisten = ["127.0.0.1:8443"]\ntimeout_client = "7s"\n${own ? 'servers = ["127.0.0.1:9"]\n' : ""}${own ? ROUTES : ROUTES.replace('[[service.route]]\nsni = "own.example.test"\n', "")}`, "plb.toml").services[0];
  const handle = (name: string) => ({ name }) as BackendHandle;
  const table = buildRouteTable(cfg.routes);
  return {
    name: "edge",
    cfg,
    backend: own ? handle("edge") : undefined,
    route: (facts: RequestFacts) => {
      const r = table.match(facts);
      return r && { route: r, backend: r.action.kind === "backend" && r.action.name !== undefined ? handle(r.action.name) : undefined };
    },
  } as unknown as ServiceHandle;
}

const CLIENT = { remoteAddress: "127.0.0.1" } as unknown as Sock;
const pick = (own: boolean, ...chunks: Uint8Array[]) => {
  const reader = sniReader(service(own), CLIENT);
  let r: ReturnType<typeof reader.data> = undefined;
  for (const c of chunks) r = reader.data(c);
  return typeof r === "object" ? r.name : r;
};

describe("the backend chosen", () => {
  test("by the first route whose names hold, in lower case", () => {
    expect(pick(true, clientHello({ names: ["A.Example.Test"] }))).toBe("a");
    expect(pick(true, clientHello({ names: ["x.y.b.example.test"] }))).toBe("b");
  });
  test("a route without backend, no name, an unknown name, not TLS: the service's own", () => {
    expect(pick(true, clientHello({ names: ["own.example.test"] }))).toBe("edge");
    expect(pick(true, clientHello({ alpn: ["h2"] }))).toBe("edge");
    expect(pick(true, clientHello({ names: ["b.example.test"] }))).toBe("edge"); // "*.b" is not "b"
    expect(pick(true, latin1("SSH-2.0-OpenSSH_9.2\r\n"))).toBe("edge");
  });
  test("without servers of its own: none", () => {
    expect(pick(false, clientHello({ names: ["c.example.test"] }))).toBe("none");
    expect(pick(false, latin1("GET / HTTP/1.1\r\n"))).toBe("none");
    expect(pick(false, clientHello({ names: ["a.example.test"] }))).toBe("a");
  });
  test("a broken ClientHello is refused, whatever the service has", () => {
    const bad = clientHello({ names: ["a.example.test"] });
    bad[9] = 9; // the client version's major
    expect(pick(true, bad)).toBe("refused");
    expect(pick(true, records(clientHello({ names: ["a.example.test"] }).subarray(5), [1, 1, 1, 1]))).toBe("refused"); // 5 records
  });
});

describe("reading", () => {
  test("undefined until the ClientHello is whole, one byte per read, then the backend", () => {
    const hello = records(clientHello({ names: ["a.example.test"] }).subarray(5), [3, 50]);
    const reader = sniReader(service(true), CLIENT);
    for (let i = 0; i < hello.length - 1; i++) expect(reader.data(hello.subarray(i, i + 1))).toBeUndefined();
    expect((reader.data(hello.subarray(hello.length - 1)) as BackendHandle).name).toBe("a");
  });
  test("the deadline is timeout_client after the reader starts", () => {
    const t = now();
    const reader = sniReader(service(true), CLIENT);
    expect(reader.deadline - t).toBeGreaterThanOrEqual(7000);
    expect(reader.deadline - t).toBeLessThanOrEqual(7000 + 100);
  });
});
