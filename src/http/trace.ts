/**
 * What an http client connection tells the lifecycle events (events.ts):
 * byte totals of the connection and its end, and the current request's
 * bytes, connect time, time to first response byte and total time. Clocks are read only
 * while someone listens; the byte counts are plain additions.
 */
import { type EndCause, events, type RequestEvent } from "../events.ts";
import { now } from "../net/clock.ts";
import type { Server } from "../servers/server.ts";
import type { RequestHead } from "./types.ts";

/** What a request event names besides the trace's own numbers. */
export interface RequestFacts {
  readonly service: string;
  readonly client: string;
  readonly clientPort: number;
  /** The backend of `server`. */
  readonly backend: string | undefined;
  readonly server: string | undefined;
  readonly req: RequestHead | undefined;
  /** X-Request-Id (request_id = true), else "". */
  readonly requestId: string;
  /** Bytes held of a head that never completed (a malformed one). */
  readonly held: number;
  /** Bytes of the response heads sent (the rest of what was sent is body). */
  readonly headBytes: number;
  readonly retries: number;
}

export class HttpTrace {
  readonly started = now();
  /** Of the whole connection (a tunnel's bytes are the pipe's). */
  bytesIn = 0;
  bytesOut = 0;
  /** The protocol the access log names ("HTTP/2.0" for an h2 stream); undefined: the request's HTTP/1 version. */
  version: string | undefined;
  /** Why plb ended the connection, when plb did. */
  endCause: EndCause | undefined;
  private reqStart = 0;
  private reqBytesIn = 0;
  private reqBytesOut = 0;
  /** performance.now() of the request head while someone listens to requests (0: nobody). */
  private t0 = 0;
  /** ms the current request's server connect took (-1: none, a pooled connection, or not measured); set by the exchange. */
  connectMs = -1;
  private ttfbMs = -1;

  /** A request head of `bytes` bytes is complete. */
  request(bytes: number): void {
    this.reqBytesIn = bytes;
    this.reqBytesOut = 0;
    this.replyHead = 0;
    this.connectMs = this.ttfbMs = -1;
    // Clocks only for a listener (a request published without one never happens).
    const told = events.request.active;
    this.reqStart = told ? now() : 0;
    this.t0 = told ? performance.now() : 0;
  }

  /** Request body bytes went to the server. */
  body(n: number): void {
    this.reqBytesIn += n;
  }

  /** plb answered itself with `reply` (head and body): counts its head too. */
  replied(reply: Uint8Array): void {
    this.sent(reply.length, false);
    this.replyHead = headLength(reply);
  }
  /** The head of plb's own reply, when it answered itself. */
  replyHead = 0;

  /** Bytes went to the client; `first`: the first of the response. */
  sent(n: number, first: boolean): void {
    if (first && this.t0 !== 0) this.ttfbMs = performance.now() - this.t0;
    this.reqBytesOut += n;
    this.bytesOut += n;
  }

  /** Whether the current request's times are measured (someone listens to request events). */
  get timed(): boolean {
    return this.t0 !== 0;
  }

  /**
   * The client connection is over: tell session-end listeners (call only
   * while events.sessionEnd.active). `server`: a tunnel's; `tunnelIn`,
   * `tunnelOut`: the bytes it relayed; `served`: responses completed.
   */
  publishEnd(service: string, client: string, clientPort: number, server: Server | undefined, tunnelIn: number, tunnelOut: number, clientEnded: boolean, served: number): void {
    events.sessionEnd.publish({
      service,
      protocol: "http",
      client,
      clientPort,
      backend: server?.backend,
      server: server?.key,
      start: this.started,
      durationMs: now() - this.started,
      bytesIn: this.bytesIn + tunnelIn,
      bytesOut: this.bytesOut + tunnelOut,
      cause: this.endCause ?? (clientEnded ? "client_closed" : "client_reset"),
      tried: served,
      handshake: undefined,
      handshakeDetail: "",
    });
  }

  /** The request is over with `status` (0: nothing answered); call only while events.request.active. */
  publish(f: RequestFacts, status: number, cause: EndCause): void {
    const req = f.req;
    let host = "";
    let referer = "";
    let userAgent = "";
    if (req) {
      // One pass over the fields for the three a log may want.
      for (const fl of req.fields) {
        const n = fl.lower;
        if (n === "host") host ||= fl.value;
        else if (n === "referer") referer ||= fl.value;
        else if (n === "user-agent") userAgent ||= fl.value;
      }
    }
    // One object for every request event (events.ts: valid during the call only): no garbage per request.
    const e = SHARED;
    e.service = f.service;
    e.client = f.client;
    e.clientPort = f.clientPort;
    e.server = req ? f.server : undefined;
    e.backend = req ? f.backend : undefined;
    e.requestId = f.requestId;
    e.method = req?.method ?? "";
    e.target = req?.target ?? "";
    e.version = req ? (this.version ?? VERSIONS[req.versionMinor]) : "";
    e.status = status;
    e.start = req && this.reqStart !== 0 ? this.reqStart : now();
    e.bytesIn = req ? this.reqBytesIn : f.held;
    e.bytesOut = this.reqBytesOut;
    e.bodyBytesOut = Math.max(0, this.reqBytesOut - f.headBytes - this.replyHead);
    e.host = host;
    e.referer = referer;
    e.userAgent = userAgent;
    e.connectMs = this.connectMs;
    e.ttfbMs = this.ttfbMs;
    e.totalMs = this.t0 !== 0 ? performance.now() - this.t0 : 0;
    e.retries = f.retries;
    e.cause = cause;
    events.request.publish(e);
  }
}

const VERSIONS = ["HTTP/1.0", "HTTP/1.1"] as const;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const SHARED: Mutable<RequestEvent> = {
  service: "", client: "", clientPort: 0, backend: undefined, server: undefined, requestId: "", method: "", target: "", version: "", status: 0, start: 0, bytesIn: 0, bytesOut: 0,
  bodyBytesOut: 0, host: "", referer: "", userAgent: "", connectMs: -1, ttfbMs: -1, totalMs: 0, retries: 0, cause: "done",
};

/** Why a request ended, from the status plb answered (0: nothing) and whether a response had begun. */
export function causeOf(status: number, started: boolean): EndCause {
  if (status === 503) return "no_server";
  if (status === 408 || status === 504) return "timeout";
  if (status === 502) return "server_reset";
  if (status >= 400) return "refused";
  return started ? "server_closed" : "client_closed";
}

/** Length of the head of a complete message (up to and with CRLF CRLF). */
function headLength(msg: Uint8Array): number {
  for (let i = 3; i < msg.length; i++) if (msg[i] === 10 && msg[i - 1] === 13 && msg[i - 2] === 10 && msg[i - 3] === 13) return i + 1;
  return msg.length;
}
