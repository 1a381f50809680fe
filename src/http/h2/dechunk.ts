/**
 * Chunked framing between HTTP/1.1 servers and HTTP/2 streams (pure):
 *
 * - Response direction: `Dechunker` takes a server's chunked body as it
 *   streams and gives the data to send as DATA (subarrays of the buffers
 *   fed: no copies) and, at the end, the trailer fields as a header list for
 *   a trailing HEADERS (names lowercased; connection-specific fields left
 *   out, RFC 9113 §8.2.2). The checking is chunked.ts ChunkedScanner's, the
 *   one chunk parser of plb, told through its sink where data and trailers
 *   are.
 * - Request direction: a request translated with `chunked` (request-head.ts)
 *   has its DATA framed by `chunkFrame` and ends with `lastChunk`, which
 *   writes the client's trailers as chunked trailers once they pass the same
 *   checks as a request's fields (no pseudo-header, RFC 9113 §8.1; nothing
 *   that would reframe or reroute the request if a server merged it).
 */
import { ChunkedScanner, type ChunkedOptions, type ChunkSink } from "../chunked.ts";
import { decode, type ParseError } from "../types.ts";
import { fieldProblem, quote } from "./field-rules.ts";
import type { HeaderList } from "./types.ts";

/** Never passed on as HTTP/2 trailers, nor written as chunked trailers to a server. */
const FORBIDDEN_TRAILERS = new Set(["connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "content-length", "host", "trailer"]);

export type DechunkResult =
  | {
    kind: "more" | "done";
    /** Chunk data in order (views of the buffer fed; empty chunks left out). */
    data: Uint8Array[];
    /** Bytes of the buffer that belong to the body (all of it for "more"). */
    consumed: number;
    /** With "done": the trailer fields (maybe none). */
    trailers?: HeaderList;
  }
  | ParseError;

export class Dechunker implements ChunkSink {
  private readonly scanner: ChunkedScanner;
  private spans: Uint8Array[] = [];
  private trailerText = "";

  /** `opts`: limits as for ChunkedScanner; `response` defaults to true (errors are 502). */
  constructor(opts: Omit<ChunkedOptions, "sink"> = {}) {
    this.scanner = new ChunkedScanner({ response: true, ...opts, sink: this });
  }

  get done(): boolean {
    return this.scanner.done;
  }

  /** Body bytes (`buf[start, end)`, all of `buf` by default). */
  feed(buf: Uint8Array, start = 0, end = buf.length): DechunkResult {
    const r = this.scanner.scan(buf, start, end);
    const data = this.spans;
    this.spans = [];
    if (r.kind === "error") return r;
    if (r.kind === "more") return { kind: "more", data, consumed: r.consumed };
    return { kind: "done", data, consumed: r.consumed, trailers: trailerFields(this.trailerText) };
  }

  /** @internal ChunkSink */
  data(buf: Uint8Array, start: number, end: number): void {
    this.spans.push(buf.subarray(start, end));
  }

  /** @internal ChunkSink: the trailer section's bytes, checked by the scanner. */
  trailer(buf: Uint8Array, start: number, end: number): void {
    this.trailerText += decode(buf, start, end);
  }
}

/** The fields of a trailer section the scanner accepted ("name: value\r\n"… "\r\n"), forbidden ones left out. */
function trailerFields(text: string): HeaderList {
  const out: HeaderList = [];
  let i = 0;
  for (;;) {
    const eol = text.indexOf("\r\n", i);
    if (eol <= i) return out;
    const colon = text.indexOf(":", i);
    const name = text.slice(i, colon).toLowerCase();
    if (!FORBIDDEN_TRAILERS.has(name)) out.push(name, text.slice(colon + 1, eol).replace(/^[ \t]+|[ \t]+$/g, ""));
    i = eol + 2;
  }
}

const CRLF = [13, 10];

/** One chunk holding `data` (copied); nothing for empty data: a zero-size chunk would end the body. */
export function chunkFrame(data: Uint8Array): Uint8Array {
  if (data.length === 0) return new Uint8Array(0);
  const size = data.length.toString(16);
  const out = new Uint8Array(size.length + 4 + data.length);
  for (let i = 0; i < size.length; i++) out[i] = size.charCodeAt(i);
  out.set(CRLF, size.length);
  out.set(data, size.length + 2);
  out.set(CRLF, out.length - 2);
  return out;
}

/** The last chunk, with `trailers` (an HTTP/2 trailer list) as the trailer section; an error when a trailer is not allowed. */
export function lastChunk(trailers?: HeaderList): { kind: "done"; bytes: Uint8Array } | { kind: "error"; reason: string } {
  let text = "0\r\n";
  if (trailers !== undefined) {
    if (trailers.length % 2 !== 0) return { kind: "error", reason: "odd trailer list" };
    for (let i = 0; i < trailers.length; i += 2) {
      const name = trailers[i], value = trailers[i + 1];
      if (name.charCodeAt(0) === 0x3a) return { kind: "error", reason: `pseudo-header ${quote(name)} in trailers` };
      const bad = fieldProblem(name, value);
      if (bad) return { kind: "error", reason: bad };
      if (FORBIDDEN_TRAILERS.has(name.replaceAll("_", "-"))) return { kind: "error", reason: `${quote(name)} not allowed in trailers` };
      text += `${name}: ${value}\r\n`;
    }
  }
  text += "\r\n";
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return { kind: "done", bytes };
}
