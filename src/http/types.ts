/**
 * Shared types (and, at the end, byte classes) of the strict HTTP/1.x
 * parsing layer (src/http/): pure
 * functions over bytes, no I/O. Every parser answers with one of three
 * kinds: "more" (feed more bytes), "error" (reject: `pos` is the offset of
 * the offending byte in the buffer given, `status` the answer plb should
 * send: 400, 413, 414, 431, 501, 505, or 502 for a server's response) and
 * "done" (`consumed` bytes belong to what was parsed; the rest is the next
 * thing on the connection).
 */

/** Size limits of one head. */
export interface HeadLimits {
  /** Longest request line (status line for a response) without its CRLF; over it: 414 (502 for a response). */
  maxRequestLine: number;
  /** Largest head: start line, field lines and the final empty line (a skipped leading CRLF does not count); over it: 431. */
  maxHeaderBytes: number;
  /** Most field lines in a head (and in a trailer section); over it: 431. */
  maxHeaders: number;
}

export const DEFAULT_LIMITS: Readonly<HeadLimits> = Object.freeze({
  maxRequestLine: 8192,
  maxHeaderBytes: 16384,
  maxHeaders: 100,
});

export interface NeedMore {
  kind: "more";
  /** Pass back as `scanFrom` with the grown buffer: bytes before it are not searched again. */
  scanFrom: number;
}

export interface ParseError {
  kind: "error";
  /** Offset in the buffer passed in of the byte where the problem shows. */
  pos: number;
  reason: string;
  /** The HTTP status to answer with: 400, 413, 414, 431, 501, 505; 502 for anything wrong in a response. */
  status: number;
}

export interface HeadDone<H> {
  kind: "done";
  /** Bytes of the head, from the buffer's first byte (a skipped leading CRLF included) to its final CRLF included. */
  consumed: number;
  head: H;
}

export type HeadResult<H> = NeedMore | ParseError | HeadDone<H>;

/** One field line of a head, as received. */
export interface HeaderField {
  /** As sent. */
  name: string;
  /** Lowercased (the same string as `name` when it has no capitals). */
  lower: string;
  /** Leading and trailing whitespace (SP, HTAB) removed; bytes decoded as latin1. */
  value: string;
  /** Offset of the line's first byte in the parsed buffer. */
  start: number;
  /** Offset just after the line's CRLF: `src.subarray(start, end)` is the whole line. */
  end: number;
}

export type BodyNone = { readonly kind: "none" };
export type BodyLength = { readonly kind: "length"; readonly length: number };
export type BodyChunked = { readonly kind: "chunked" };
/** A response body that ends when the server closes the connection. */
export type BodyClose = { readonly kind: "close" };

export type RequestBody = BodyNone | BodyLength | BodyChunked;
export type ResponseBody = BodyNone | BodyLength | BodyChunked | BodyClose;

export const BODY_NONE: BodyNone = Object.freeze({ kind: "none" });
export const BODY_CHUNKED: BodyChunked = Object.freeze({ kind: "chunked" });
export const BODY_CLOSE: BodyClose = Object.freeze({ kind: "close" });

/** RFC 9112 §3.2. */
export type TargetForm = "origin" | "absolute" | "authority" | "asterisk";

/** What both heads share; enough for the serializer and `hopByHop`. */
export interface HeadBase {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: 0 | 1;
  fields: HeaderField[];
  /** Offset of the start line's first byte. */
  lineStart: number;
  /** Offset just after the start line's CRLF (where the first field line starts). */
  lineEnd: number;
  /** May the connection carry another message after this one? */
  keepAlive: boolean;
  /** Options of every Connection field, lowercased, in order. */
  connection: string[];
  /** The Upgrade field value when the "upgrade" connection option is present in an HTTP/1.1 message. */
  upgrade: string | undefined;
}

export interface RequestHead extends HeadBase {
  method: string;
  target: string;
  targetForm: TargetForm;
  /** Message body framing (a `length` of 0 is kept as such). */
  body: RequestBody;
  /** The Host field value (required, single and non-empty in HTTP/1.1). */
  host: string | undefined;
  /** HTTP/1.1 with `Expect: 100-continue`. */
  expectContinue: boolean;
}

export interface ResponseHead extends HeadBase {
  status: number;
  reason: string;
  body: ResponseBody;
  /** 101, or 2xx to CONNECT: the connection becomes a tunnel after the head. */
  tunnel: boolean;
}

/** Result of `ChunkedScanner.scan`. `consumed` counts from the `start` given; `pos` is an offset in the buffer given. */
export type ChunkResult = { kind: "more"; consumed: number } | { kind: "done"; consumed: number } | ParseError;

// ---------------------------------------------------------------------------
// Byte classes and decoding shared by the parsers and the serializer
// (internal to src/http/).

/** A ParseError at `pos` (the parsers' one way to build one). */
export function fail(pos: number, reason: string, status: number): ParseError {
  return { kind: "error", pos, reason, status };
}

/** A 256-entry class table built from a predicate. */
export function table(f: (c: number) => number | boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = Number(f(c));
  return t;
}
export const alnum = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
export const among = (s: string) => (c: number) => s.includes(String.fromCharCode(c));
/** tchar (RFC 9110 §5.6.2): 1, else 0. */
export const TCHAR = table((c) => alnum(c) || among("!#$%&'*+-.^_`|~")(c));
/** A token (a method, a field name): one or more tchar (RFC 9110 §5.6.2). For configuration, not the hot path. */
export const isToken = (s: string): boolean => s.length > 0 && [...s].every((c) => c.charCodeAt(0) < 256 && TCHAR[c.charCodeAt(0)] === 1);
/** Field content: 1 VCHAR, SP, HTAB or obs-text (0x80-0xFF); 0 anything else. */
export const FVAL = table((c) => (c === 32 || c === 9 || (c > 0x20 && c !== 0x7f) ? 1 : 0));

/** Hash of a field name, lowercased, computed byte by byte while the name is checked. */
export const step = (h: number, c: number) => (Math.imul(h, 31) + (c | 0x20)) | 0;
/**
 * Common field names, lowercased, in an open-addressed table by `step` hash:
 * a name found here gets the table's string as its `lower` (no toLowerCase),
 * and the names the parser acts on carry a kind (no string comparisons).
 */
const NAMES = new Array<string | undefined>(512);
const KINDS = new Uint8Array(512);
export const F_HOST = 1, F_CONTENT_LENGTH = 2, F_TRANSFER_ENCODING = 3, F_CONNECTION = 4, F_UPGRADE = 5, F_EXPECT = 6;
const SPECIAL = ["", "host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"];
for (const n of ("accept accept-charset accept-encoding accept-language accept-ranges access-control-allow-origin " +
  "access-control-request-headers access-control-request-method age allow authorization cache-control connection " +
  "content-disposition content-encoding content-language content-length content-location content-range content-type " +
  "cookie date dnt etag expect expires forwarded from host if-match if-modified-since if-none-match if-range " +
  "if-unmodified-since keep-alive last-modified link location max-forwards origin pragma priority proxy-authorization " +
  "proxy-connection range referer retry-after sec-ch-ua sec-ch-ua-mobile sec-ch-ua-platform sec-fetch-dest " +
  "sec-fetch-mode sec-fetch-site sec-fetch-user sec-websocket-accept sec-websocket-extensions sec-websocket-key " +
  "sec-websocket-protocol sec-websocket-version server set-cookie strict-transport-security te trailer " +
  "transfer-encoding upgrade upgrade-insecure-requests user-agent vary via www-authenticate x-forwarded-for " +
  "x-forwarded-host x-forwarded-proto x-real-ip x-request-id x-requested-with").split(" ")) {
  let h = 0;
  for (let i = 0; i < n.length; i++) h = step(h, n.charCodeAt(i));
  let slot = h & 511;
  while (NAMES[slot] !== undefined) slot = (slot + 1) & 511;
  NAMES[slot] = n;
  KINDS[slot] = Math.max(0, SPECIAL.indexOf(n));
}

/** The slot of the common name equal to bytes [a, b) ignoring case (`h` their `step` hash), or -1. */
export function nameSlot(buf: Uint8Array, a: number, b: number, h: number): number {
  for (let slot = h & 511, n = NAMES[slot]; n !== undefined; slot = (slot + 1) & 511, n = NAMES[slot]) if (ieq(buf, a, b, n)) return slot;
  return -1;
}
export const nameAt = (slot: number) => NAMES[slot] as string;
export const kindAt = (slot: number) => KINDS[slot];

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, a: number, b: number): string }).latin1Slice;

/**
 * Latin1 text of bytes [a, b), exact (one char per byte), read straight from
 * the bytes: no view of them (the first view of a fresh socket read costs
 * ~0.2 µs: bench/repro/bun-subarray-cost.ts), 5x faster than TextDecoder.
 */
export function decode(buf: Uint8Array, a: number, b: number): string {
  return latin1Slice.call(buf, a, b);
}

/**
 * Do bytes [a, b) equal the lowercase literal, ignoring ASCII case? (`| 0x20`
 * could also map CR and C0 controls onto "-" and digits; callers only pass
 * ranges already known to hold none.)
 */
export function ieq(buf: Uint8Array, a: number, b: number, lit: string): boolean {
  if (b - a !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) if ((buf[a + i] | 0x20) !== lit.charCodeAt(i)) return false;
  return true;
}
