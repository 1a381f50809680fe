/**
 * backends/server-attempt.ts, the one connect-and-fail-over path, on real
 * loopback sockets: a refused port, a listener, a listener that sends a bad
 * greeting. It picks with the servers tried, reports every outcome to the
 * pool, publishes connect events, runs the handshake, reuses what the owner
 * has, and stays silent once cancelled.
 */
import { afterEach, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { ServerAttempt } from "../src/backends/server-attempt.ts";
import { findAlgorithm } from "../src/balance/index.ts";
import type { BackendConfig } from "../src/config/types.ts";
import { type ConnectEvent, events } from "../src/events.ts";
import { handOver } from "../src/net/handlers.ts";
import type { Sock } from "../src/net/types.ts";
import type { BackendHandle, ServiceHandle } from "../src/protocol.ts";
import type { Handshake } from "../src/relay/handshake.ts";
import type { Server } from "../src/servers/server.ts";
import { ServerPool } from "../src/servers/state.ts";
import { freePorts } from "./support/ports.ts";
import { until } from "./support/until.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A listener on loopback that counts connections and closes, and runs `onOpen` on each. */
function listen(onOpen?: (s: Socket<unknown>) => void): { port: number; opened: () => number; closed: () => number } {
  let opened = 0;
  let closed = 0;
  const l: TCPSocketListener<unknown> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        opened++;
        onOpen?.(s);
      },
      data() {},
      close() {
        closed++;
      },
    },
  });
  cleanups.push(() => l.stop(true));
  return { port: l.port, opened: () => opened, closed: () => closed };
}

/** A backend of servers at `ports` (balance "first": in order), and a service to own attempts on it. */
function backend(ports: number[]): { backend: BackendHandle; service: ServiceHandle; servers: readonly Server[] } {
  const cfgs = ports.map((port) => ({ address: `127.0.0.1:${port}`, host: "127.0.0.1", port, weight: 1, backup: false }));
  const pool = new ServerPool("b", cfgs, 3, (h) => h);
  pool.balancer = findAlgorithm("first")!.create(pool.servers);
  const backend = { name: "b", cfg: { timeout_connect: 2000 } as BackendConfig, shared: undefined, pool, usesClient: false, hashes: undefined, clientKey: () => undefined } as BackendHandle;
  const service = { name: "svc", admission: { total: 0, shortage() {} } } as unknown as ServiceHandle;
  return { backend, service, servers: pool.servers };
}

/** An owner (a subclass, as the relay session and the http exchange are) that records what it is told; a ready socket is closed at once. */
class Recorder extends ServerAttempt {
  told: string[] = [];
  greeting: string | undefined;
  handshakeOk: boolean | undefined;
  reusable: Server | undefined;
  constructor(
    service: ServiceHandle,
    private readonly greet?: Handshake,
  ) {
    super(service);
  }
  protected reuse(server: Server): boolean {
    if (server !== this.reusable) return false;
    this.told.push(`reuse ${server.port}`);
    return true;
  }
  protected serverReady(sock: Sock, server: Server, toClient: Uint8Array | undefined): void {
    this.told.push(`ready ${server.port}`);
    if (toClient) this.greeting = new TextDecoder().decode(toClient);
    sock.terminate();
  }
  protected noServer(local: boolean): void {
    this.told.push(`none ${local}`);
  }
  protected override handshake(sock: Sock, server: Server): boolean {
    if (this.greet === undefined) return false;
    this.greet.run(sock, { client: undefined as unknown as Sock, server }, (r) => {
      this.handshakeOk = r.ok;
      this.handshaken(sock, server, r);
    });
    return true;
  }
  giveUp(): void {
    this.cancel();
  }
}

function recordConnects(): ConnectEvent[] {
  const seen: ConnectEvent[] = [];
  cleanups.push(events.connect.subscribe((e) => seen.push({ ...e })));
  return seen;
}

test("a refused server is reported once and skipped: the next one the balancer gives is connected", async () => {
  const ok = listen();
  const [refused] = await freePorts(1);
  const { backend: b, service, servers } = backend([refused, ok.port]);
  const connects = recordConnects();
  const owner = new Recorder(service);
  owner.start(b, undefined, undefined);
  await until(() => owner.told.length > 0, "the owner to be told");
  expect(owner.told).toEqual([`ready ${ok.port}`]);
  expect(servers[0].counters.failures).toBe(1);
  expect(servers[1].counters.failures).toBe(0);
  expect([...owner.tried!].map((s) => s.port)).toEqual([refused]);
  expect(owner.triedCount).toBe(2);
  expect(connects.map((e) => [e.service, e.backend, e.server, e.outcome])).toEqual([
    ["svc", "b", `127.0.0.1:${refused}`, "refused"],
    ["svc", "b", `127.0.0.1:${ok.port}`, "connected"],
  ]);
  expect(owner.connectMs).toBeGreaterThanOrEqual(0);
  await until(() => ok.opened() === 1, "the server to see the connection");
});

test("with every server refusing, the owner hears there is none after each was tried once", async () => {
  const ports = await freePorts(2);
  const { backend: b, service, servers } = backend(ports);
  const owner = new Recorder(service);
  owner.start(b, undefined, undefined);
  await until(() => owner.told.length > 0, "the owner to be told");
  await Bun.sleep(50);
  expect(owner.told).toEqual(["none false"]);
  expect(servers.map((s) => s.counters.failures)).toEqual([1, 1]);
  expect(owner.tried?.size).toBe(2);
  // A restart (the next http request) forgets what was tried.
  owner.start(b, undefined, undefined);
  await until(() => owner.told.length > 1, "the owner to be told again");
  expect(servers.map((s) => s.counters.failures)).toEqual([2, 2]);
});

test("a failed handshake counts against its server with the handshake's outcome, and the next server's greeting reaches the owner", async () => {
  const bad = listen((s) => void s.write("554 go away\r\n"));
  const good = listen((s) => void s.write("220 hello\r\n"));
  const { backend: b, service, servers } = backend([bad.port, good.port]);
  // Reads the first line a server sends: 220 is good.
  const greeting: Handshake = {
    run(sock, _ctx, done) {
      handOver(sock, {
        onData(buf: Uint8Array) {
          const line = new TextDecoder().decode(buf);
          if (line.startsWith("220")) done({ ok: true, toClient: buf });
          else {
            sock.terminate();
            done({ ok: false, outcome: "bad-greeting", detail: line.trim() });
          }
        },
        onDrain() {},
        onEnd() {},
        onClose() {},
      });
    },
  };
  const owner = new Recorder(service, greeting);
  owner.start(b, undefined, undefined);
  await until(() => owner.told.length > 0, "the owner to be told");
  expect(owner.told).toEqual([`ready ${good.port}`]);
  expect(owner.greeting).toBe("220 hello\r\n");
  expect(servers[0].counters.failures).toBe(1);
  expect(servers[0].failures).toBe(1);
  expect(servers[1].failures).toBe(0);
  expect(owner.handshakeOk).toBe(true);
});

test("a server the owner already has a connection to is not connected again", async () => {
  const ok = listen();
  const { backend: b, service, servers } = backend([ok.port]);
  const owner = new Recorder(service);
  owner.reusable = servers[0];
  owner.start(b, undefined, undefined);
  expect(owner.told).toEqual([`reuse ${ok.port}`]);
  await Bun.sleep(200);
  expect(ok.opened()).toBe(0);
});

test("once cancelled, a connect under way calls nobody back and its late socket is closed", async () => {
  const ok = listen();
  const { backend: b, service, servers } = backend([ok.port]);
  const owner = new Recorder(service);
  owner.start(b, undefined, undefined);
  owner.giveUp();
  await until(() => ok.opened() === 1 && ok.closed() === 1, "the late connection to be opened and closed");
  await Bun.sleep(100);
  expect(owner.told).toEqual([]);
  expect(servers[0].counters.failures).toBe(0);
});
