/**
 * http/exchange.ts does not know its carrier: driven here by a carrier of
 * the test's own (no client socket, no HTTP/1 head reading), against real
 * servers on loopback, an exchange routes a request, connects, hands back
 * the response bytes and its end, pools the server connection for the next
 * request, and asks the carrier to answer 503 or 502 itself.
 */
import { afterEach, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { parseConfig } from "../src/config/load.ts";
import type { SendResult } from "../src/net/outbox.ts";
import { SENT } from "../src/net/outbox.ts";
import type { Sock } from "../src/net/types.ts";
import { prepare } from "../src/prepare.ts";
import type { BackendHandle } from "../src/protocol.ts";
import type { ExchangeCarrier } from "../src/http/carrier.ts";
import { HttpExchange } from "../src/http/exchange.ts";
import { parseRequestHead } from "../src/http/head.ts";
import { HttpTrace } from "../src/http/trace.ts";
import type { Upstream } from "../src/http/upstream.ts";
import { freePorts } from "./support/ports.ts";
import { until } from "./support/until.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A server that answers every request it reads with `reply` (undefined: closes without answering), counting its connections. */
function server(reply: string | undefined): { port: number; connections: () => number; requests: string[] } {
  let connections = 0;
  const requests: string[] = [];
  const l: TCPSocketListener<unknown> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open() {
        connections++;
      },
      data(s, buf) {
        requests.push(dec.decode(buf));
        if (reply === undefined) s.end();
        else s.write(reply);
      },
    },
  });
  cleanups.push(() => l.stop(true));
  return { port: l.port, connections: () => connections, requests };
}

/** A carrier that is not an HTTP/1 connection: it records what the exchange hands back. */
class TestCarrier implements ExchangeCarrier {
  readonly socket = undefined as unknown as Sock; // no client socket: only a PROXY header would read it
  readonly clientAddress = "192.0.2.7";
  readonly clientPort = 0;
  readonly trace = new HttpTrace();
  readonly closesAfterResponse = false;
  readonly heldBytes = 0;
  served = 0;
  exchange!: HttpExchange;
  out: string[] = [];
  ends: string[] = [];
  respond(chunk: Uint8Array): SendResult {
    this.out.push(dec.decode(chunk));
    return SENT;
  }
  answered(_bytes: Uint8Array, status: number): void {
    this.ends.push(`answered ${status}`);
  }
  attached(_up: Upstream): void {
    this.exchange.bodyEnded(); // the requests here have no body
  }
  pauseClient(): void {}
  resumeClient(): void {}
  completed(close: boolean): void {
    this.served++;
    this.ends.push(`completed close=${close}`);
  }
  failed(status: number): void {
    this.ends.push(`failed ${status}`);
  }
  lost(): void {
    this.ends.push("lost");
  }
  upgraded(_up: Upstream, _backend: BackendHandle): void {
    this.ends.push("upgraded");
  }
}

async function exchangeFor(serverPorts: number[]): Promise<{ carrier: TestCarrier; exchange: HttpExchange }> {
  const [listen] = await freePorts(1);
  const servers = serverPorts.map((p) => `"127.0.0.1:${p}"`).join(", ");
  const config = parseConfig(`[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:${listen}"]\nservers = [${servers}]\n`, "exchange.toml");
  const [service] = prepare(config, { privileges: false }).services;
  const carrier = new TestCarrier();
  const exchange = (carrier.exchange = new HttpExchange(service, carrier));
  return { carrier, exchange };
}

/** Hand the exchange one request, as a carrier does once it has a head. */
function request(carrier: TestCarrier, exchange: HttpExchange, text: string): void {
  const raw = enc.encode(text);
  const r = parseRequestHead(raw, { maxRequestLine: 8192, maxHeaderBytes: 65536, maxHeaders: 100 }, 0);
  if (r.kind !== "done") throw new Error(`bad test request: ${r.kind}`);
  carrier.trace.request(r.consumed);
  if (exchange.begin(r.head, raw)) exchange.forward({ done: true });
}

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

test("a request goes to the server, its response comes back to the carrier, and the next request reuses the pooled connection", async () => {
  const s = server(OK);
  const { carrier, exchange } = await exchangeFor([s.port]);
  request(carrier, exchange, "GET /one HTTP/1.1\r\nHost: example\r\n\r\n");
  await until(() => carrier.ends.length === 1, "the first exchange to end");
  expect(carrier.ends).toEqual(["completed close=false"]);
  expect(carrier.out.join("")).toBe(OK);
  expect(s.requests[0]).toStartWith("GET /one HTTP/1.1\r\n");
  expect(s.requests[0]).toContain("X-Forwarded-For: 192.0.2.7\r\n");
  exchange.reset();
  request(carrier, exchange, "GET /two HTTP/1.1\r\nHost: example\r\n\r\n");
  await until(() => carrier.ends.length === 2, "the second exchange to end");
  expect(carrier.ends[1]).toBe("completed close=false");
  expect(s.requests[1]).toStartWith("GET /two HTTP/1.1\r\n");
  expect(s.connections()).toBe(1);
  exchange.close();
});

test("with no server that accepts, the carrier is asked to answer 503 itself", async () => {
  const [refused] = await freePorts(1);
  const { carrier, exchange } = await exchangeFor([refused]);
  request(carrier, exchange, "GET / HTTP/1.1\r\nHost: example\r\n\r\n");
  await until(() => carrier.ends.length === 1, "the exchange to end");
  expect(carrier.ends).toEqual(["failed 503"]);
  expect(carrier.out).toEqual([]);
});

test("a fresh server connection closed before any answer asks the carrier for 502", async () => {
  const s = server(undefined);
  const { carrier, exchange } = await exchangeFor([s.port]);
  request(carrier, exchange, "GET / HTTP/1.1\r\nHost: example\r\n\r\n");
  await until(() => carrier.ends.length === 1, "the exchange to end");
  expect(carrier.ends).toEqual(["failed 502"]);
  expect(carrier.out).toEqual([]);
});
