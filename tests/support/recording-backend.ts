/**
 * A raw TCP "HTTP server" for smuggling and fuzz tests: it records every
 * byte it receives per connection, delimits requests with the independent
 * strict reader (strict-http.ts, not plb's parser) and answers each one it
 * can delimit with one response (by default `200 OK`, `Content-Length: 2`,
 * `ok`). Anything it cannot read as a well-formed, unambiguous request is a
 * violation: recorded with its bytes, and the connection is closed.
 */
import type { Socket } from "bun";
import { parseStrictRequest, show, type StrictRequest } from "./strict-http.ts";

export const OK_RESPONSE = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

export interface RecConn {
  readonly id: number;
  /** Every byte received, in order (only with `keep`). */
  chunks: Uint8Array[];
  received: number;
  /** Received bytes not yet read as a complete request. */
  pending: Uint8Array;
  requests: number;
  closed: boolean;
}

export interface RecEvent {
  conn: number;
  kind: "open" | "data" | "close";
  data?: Uint8Array;
}

export interface RecRequest {
  conn: number;
  request: StrictRequest;
  /** The message's bytes exactly as received. */
  raw: Uint8Array;
}

export interface Violation {
  conn: number;
  reason: string;
  bytes: string;
}

/** What to send back for a request: bytes, and whether to close afterwards. */
export type Reply = string | Uint8Array | { data: string | Uint8Array; close?: boolean; later?: { afterMs: number; data: string | Uint8Array; close?: boolean } };

export interface RecordingOptions {
  /** Keep every byte, event and request (the smuggling table); off for the fuzz test. */
  keep?: boolean;
  /** The answer to a request (default OK_RESPONSE; no body for HEAD). */
  respond?: (req: StrictRequest, raw: Uint8Array, conn: RecConn) => Reply;
  /** Extra checks on a well-formed request; a string returned is a violation. */
  check?: (req: StrictRequest, raw: Uint8Array) => string | undefined;
}

export interface RecordingBackend {
  readonly port: number;
  readonly conns: RecConn[];
  readonly events: RecEvent[];
  readonly requests: RecRequest[];
  readonly violations: Violation[];
  requestCount(): number;
  connectionCount(): number;
  stop(): void;
}

const bytes = (d: string | Uint8Array) => (typeof d === "string" ? Uint8Array.from(d, (c) => c.charCodeAt(0)) : d);

export function defaultReply(req: StrictRequest): string {
  return req.method === "HEAD" ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" : OK_RESPONSE;
}

export function recordingBackend(opts: RecordingOptions = {}): RecordingBackend {
  const keep = opts.keep ?? false;
  const conns: RecConn[] = [];
  const events: RecEvent[] = [];
  const requests: RecRequest[] = [];
  const violations: Violation[] = [];
  let count = 0;

  const write = (s: Socket<RecConn>, d: string | Uint8Array) => {
    const b = bytes(d);
    const n = s.write(b);
    if (n < b.length) throw new Error(`recording backend: short write (${n} of ${b.length})`);
  };

  const server = Bun.listen<RecConn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        const c: RecConn = { id: conns.length, chunks: [], received: 0, pending: new Uint8Array(0), requests: 0, closed: false };
        conns.push(c);
        s.data = c;
        if (keep) events.push({ conn: c.id, kind: "open" });
      },
      data(s, chunk) {
        const c = s.data;
        const data = new Uint8Array(chunk);
        c.received += data.length;
        if (keep) {
          c.chunks.push(data);
          events.push({ conn: c.id, kind: "data", data });
        }
        if (c.closed) return;
        const joined = new Uint8Array(c.pending.length + data.length);
        joined.set(c.pending);
        joined.set(data, c.pending.length);
        let at = 0;
        for (;;) {
          if (at === joined.length) break;
          const r = parseStrictRequest(joined, at);
          if (r.kind === "more") break;
          if (r.kind === "error") {
            violations.push({ conn: c.id, reason: `${r.reason} (byte ${r.at - at})`, bytes: show(joined.subarray(at)) });
            c.closed = true;
            c.pending = new Uint8Array(0);
            s.end();
            return;
          }
          const req = r.request;
          const raw = joined.subarray(at, at + req.length);
          at += req.length;
          count++;
          c.requests++;
          if (keep) requests.push({ conn: c.id, request: req, raw: raw.slice() });
          const problem = opts.check?.(req, raw);
          if (problem !== undefined) violations.push({ conn: c.id, reason: problem, bytes: show(raw) });
          const reply = opts.respond ? opts.respond(req, raw, c) : defaultReply(req);
          if (typeof reply === "string" || reply instanceof Uint8Array) write(s, reply);
          else {
            write(s, reply.data);
            if (reply.later) {
              const later = reply.later;
              setTimeout(() => {
                if (c.closed) return;
                write(s, later.data);
                if (later.close) s.end();
              }, later.afterMs);
            } else if (reply.close) {
              c.closed = true;
              s.end();
              return;
            }
          }
        }
        c.pending = at === joined.length ? new Uint8Array(0) : joined.slice(at);
      },
      close(s) {
        const c = s.data;
        if (!c) return;
        c.closed = true;
        if (keep) events.push({ conn: c.id, kind: "close" });
      },
      error() {},
    },
  });
  return {
    port: server.port,
    conns,
    events,
    requests,
    violations,
    requestCount: () => count,
    connectionCount: () => conns.length,
    stop: () => server.stop(true),
  };
}
