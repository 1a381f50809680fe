/**
 * HTTP/1 ⇄ HTTP/2 translation toward h2 servers (pure): the exchange's
 * HTTP/1.1 request head (plb's own output, parsed with head.ts) → the h2
 * request header list, and a server's h2 response header blocks → HTTP/1.1
 * response heads and chunked trailers for the exchange. The response side
 * is strict: whatever RFC 9113 §8 calls malformed is an error (the stream is
 * reset and the client gets a 502), never passed on.
 */
import { reasonPhrase } from "../replies.ts";
import type { RequestHead } from "../types.ts";
import { CONNECTION_SPECIFIC, fieldProblem } from "./field-rules.ts";
import type { HeaderList } from "./types.ts";

/** Connection-specific fields (RFC 9113 §8.2.2): never sent to an h2 server, malformed from one. */
/** Not passed between HTTP/1.1 and an h2 server: the connection-specific fields, te, host (it is :authority) and HTTP2-Settings. */
const NOT_PASSED: ReadonlySet<string> = new Set([...CONNECTION_SPECIFIC, "te", "host", "http2-settings"]);

/**
 * The h2 request header list for `head` (`scheme` "http" or "https"):
 * :method, :scheme, :authority (Host), :path, then the fields with lowercase
 * names, without connection-specific ones (and those Connection names),
 * and `te: trailers` (gRPC servers require it; plb passes trailers on).
 */
export function h2RequestFields(head: RequestHead, scheme: string): HeaderList {
  let path = head.target;
  let authority = head.host ?? "";
  if (head.targetForm === "absolute") {
    const u = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?]*)(.*)$/.exec(path);
    if (u !== null) {
      authority ||= u[1];
      path = u[2] === "" ? "/" : u[2].startsWith("?") ? `/${u[2]}` : u[2];
    }
  }
  const out: HeaderList = [":method", head.method, ":scheme", scheme, ":authority", authority, ":path", path];
  const named = head.connection;
  for (const f of head.fields) {
    const n = f.lower;
    if (NOT_PASSED.has(n) || (named.length > 0 && named.includes(n))) continue;
    out.push(n, f.value);
  }
  out.push("te", "trailers");
  return out;
}

/** How the body of a translated response is framed for the exchange. */
export const enum Framing {
  /** No body (the head ends the response). */
  None,
  /** Content-Length: DATA passes as is. */
  Length,
  /** DATA as chunks, trailers as chunked trailers. */
  Chunked,
}

export type ResponseHeadResult =
  | {
    kind: "done";
    /** An HTTP/1.1 head, final CRLF included. */
    bytes: Uint8Array;
    status: number;
    /** Interim (1xx): a final head follows. */
    interim: boolean;
    framing: Framing;
    /** The Content-Length given (Framing.Length), else -1. */
    length: number;
  }
  | { kind: "error"; reason: string };

const bad = (reason: string): ResponseHeadResult => ({ kind: "error", reason });


function latin1(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/**
 * A response HEADERS block (the first ones: 1xx, then the final head) →
 * an HTTP/1.1 head. `method`: the request's (HEAD has no body);
 * `endStream`: the block ends the stream. The final head always says
 * `Connection: close` (the exchange never pools a stream), and its framing
 * is the server's Content-Length, else chunked when a body may follow.
 */
export function h1ResponseHead(fields: HeaderList, endStream: boolean, method: string): ResponseHeadResult {
  if (fields.length < 2 || fields[0] !== ":status") return bad(fields.includes(":status") ? ":status not first" : "no :status");
  const s = fields[1];
  if (!/^[1-5][0-9][0-9]$/.test(s)) return bad(`invalid :status ${JSON.stringify(s.slice(0, 10))}`);
  const status = Number(s);
  if (status === 101) return bad("101 has no HTTP/2 form");
  const interim = status < 200;
  if (interim && endStream) return bad(`interim ${status} ends the stream`);
  let text = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  let cl: string | undefined;
  for (let i = 2; i < fields.length; i += 2) {
    const n = fields[i], v = fields[i + 1];
    if (n.charCodeAt(0) === 0x3a) return bad(`pseudo-header ${JSON.stringify(n.slice(0, 40))} in a response`);
    const problem = fieldProblem(n, v);
    if (problem) return bad(problem);
    if (NOT_PASSED.has(n)) return bad(`connection-specific field ${JSON.stringify(n)}`);
    if (n === "content-length") {
      if (!/^[0-9]{1,15}$/.test(v)) return bad(`invalid content-length ${JSON.stringify(v.slice(0, 20))}`);
      if (cl !== undefined && Number(cl) !== Number(v)) return bad("content-length values disagree");
      if (cl !== undefined) continue;
      cl = v;
    }
    text += `${n}: ${v}\r\n`;
  }
  if (interim) return { kind: "done", bytes: latin1(`${text}\r\n`), status, interim, framing: Framing.None, length: -1 };
  const bodiless = method === "HEAD" || status === 204 || status === 304;
  let framing: Framing;
  let length = -1;
  if (bodiless) framing = Framing.None;
  else if (cl !== undefined) {
    length = Number(cl);
    if (endStream && length !== 0) return bad(`content-length ${length} but the stream ended with the head`);
    framing = length === 0 ? Framing.None : Framing.Length;
  } else if (endStream) {
    framing = Framing.None;
    text += "content-length: 0\r\n";
  } else {
    framing = Framing.Chunked;
    text += "transfer-encoding: chunked\r\n";
  }
  text += "connection: close\r\n\r\n";
  return { kind: "done", bytes: latin1(text), status, interim, framing, length };
}

/** A server's trailers → the end of a chunked body ("0", the fields, the final CRLF); an error when malformed. */
export function chunkedTrailers(fields: HeaderList): { kind: "done"; bytes: Uint8Array } | { kind: "error"; reason: string } {
  let text = "0\r\n";
  for (let i = 0; i < fields.length; i += 2) {
    const n = fields[i], v = fields[i + 1];
    if (n.charCodeAt(0) === 0x3a) return { kind: "error", reason: `pseudo-header ${JSON.stringify(n.slice(0, 40))} in trailers` };
    const problem = fieldProblem(n, v);
    if (problem) return { kind: "error", reason: `trailer ${problem}` };
    if (NOT_PASSED.has(n) || n === "content-length" || n === "trailer") continue; // never framing in trailers
    text += `${n}: ${v}\r\n`;
  }
  return { kind: "done", bytes: latin1(`${text}\r\n`) };
}

/** The last chunk that ends a chunked body with no trailers. */
export const LAST_CHUNK = latin1("0\r\n\r\n");

/** A gRPC request (its status must reach the client as trailers, even when the server is lost mid-response). */
export function isGrpc(head: RequestHead): boolean {
  for (const f of head.fields) if (f.lower === "content-type") return f.value.startsWith("application/grpc");
  return false;
}

/** What ends a gRPC response whose server was lost mid-stream: UNAVAILABLE (14), with `why` as grpc-message (percent-encoded). */
export function grpcUnavailable(why: string): Uint8Array {
  const msg = encodeURIComponent(why).replace(/%20/g, " ").slice(0, 200);
  return latin1(`0\r\ngrpc-status: 14\r\ngrpc-message: ${msg}\r\n\r\n`);
}
