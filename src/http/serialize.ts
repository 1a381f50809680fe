/**
 * Rebuild a parsed head for forwarding with as little copying as possible:
 * the start line (or a replacement), every field line that is not dropped
 * copied verbatim from the source bytes by its range (adjacent kept lines in
 * one copy), then the added field lines, then the final CRLF, then (if
 * asked) the body bytes that followed the head; one allocation.
 *
 * Ranges are copied with Buffer.prototype.copy, never through a subarray:
 * the first view of a fresh small typed array (a socket read) makes the
 * engine give it an ArrayBuffer of its own (~0.2 µs, bench/repro/
 * bun-subarray-cost.ts), twice per proxied request.
 * Which fields to drop and add (hop-by-hop, X-Forwarded-For, ...) is the
 * proxy's policy; `hopByHop` computes the RFC 9110 §7.6.1 set for a head.
 *
 * Added fields are made by `fieldLines`, once for as many heads as use them
 * (plb's Connection lines are constants, its forwarding lines are made per
 * client): names must be tokens and values, like a replacement start line,
 * field content (VCHAR, obs-text, SP, HTAB; characters up to U+00FF, written
 * as latin1): anything else throws, so no CR or LF can ever be injected.
 */
import { FVAL, type HeadBase, type RequestHead, type ResponseHead, TCHAR } from "./types.ts";

export interface SerializeOptions {
  /** Leave out the field lines whose lowercased name this returns true for. */
  drop?: (lower: string) => boolean;
  /** Field lines added after the kept ones, in order (made and checked by `fieldLines`). */
  lines?: readonly FieldLines[];
  /**
   * Bytes `src[tailStart, tailEnd)` to put after the head in the same buffer
   * (the body bytes that came with it: one write for both).
   */
  tailStart?: number;
  tailEnd?: number;
}

export interface RequestSerializeOptions extends SerializeOptions {
  /** Replacement request line, without CRLF. */
  requestLine?: string;
}

export interface ResponseSerializeOptions extends SerializeOptions {
  /** Replacement status line, without CRLF. */
  statusLine?: string;
}

const CR = 13, LF = 10;
const copy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;
const NO_LINES: readonly FieldLines[] = [];

/**
 * Always hop-by-hop (RFC 9110 §7.6.1, plus the non-standard Proxy-Connection).
 * Not Trailer: it announces end-to-end trailer fields, which pass through
 * (see the decisions in head.ts).
 */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "upgrade"];
/** Never treated as hop-by-hop even when Connection names them (the parser rejects that anyway): dropping them would change the framing. */
const END_TO_END = new Set(["content-length", "transfer-encoding", "host"]);

const BASE: ReadonlySet<string> = new Set(HOP_BY_HOP);
/** What hopByHop returns for a head whose Connection names nothing more (compare by identity). */
export const BASE_HOP_BY_HOP = BASE;

/** Field lines ("Name: value\r\n"…) checked once, to add to many heads. */
export type FieldLines = Uint8Array & { readonly __checked: true };

/** `fields` as field lines; names must be tokens and values field content (throws TypeError otherwise). */
export function fieldLines(fields: ReadonlyArray<readonly [name: string, value: string]>): FieldLines {
  let size = 0;
  for (const [name, value] of fields) size += check(name, TCHAR, "field name") + 4 + (value.length > 0 ? check(value, FVAL, "field value") : 0);
  const out = new Uint8Array(size);
  let o = 0;
  for (const [name, value] of fields) o = putField(out, o, name, value);
  return out as FieldLines;
}

/** The Connection lines plb adds (to a request: upgrade or 1.0 keep-alive; to a response: close or keep-alive). */
export const CONNECTION_CLOSE = fieldLines([["Connection", "close"]]);
export const CONNECTION_KEEP_ALIVE = fieldLines([["Connection", "keep-alive"]]);
export const CONNECTION_UPGRADE = fieldLines([["Connection", "Upgrade"]]);

/**
 * The lowercased names of the fields of `head` that must not be forwarded.
 * Shared and read-only in the common case (no extra Connection options):
 * copy it before changing it.
 */
export function hopByHop(head: Pick<HeadBase, "connection">): ReadonlySet<string> {
  let set: Set<string> | undefined;
  for (const o of head.connection) {
    // "close" names no field (RFC 9112 §9.6): nothing more to drop.
    if (BASE.has(o) || END_TO_END.has(o) || o === "close") continue;
    (set ??= new Set(BASE)).add(o);
  }
  return set ?? BASE;
}

export function serializeRequestHead(src: Uint8Array, head: RequestHead, opts: RequestSerializeOptions = {}): Uint8Array {
  return serialize(src, head, opts, opts.requestLine);
}

export function serializeResponseHead(src: Uint8Array, head: ResponseHead, opts: ResponseSerializeOptions = {}): Uint8Array {
  return serialize(src, head, opts, opts.statusLine);
}

function check(s: string, table: Uint8Array, what: string): number {
  if (s.length === 0) throw new TypeError(`empty ${what}`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || table[c] === 0) throw new TypeError(`invalid character ${JSON.stringify(s[i])} in ${what}`);
  }
  return s.length;
}

function put(out: Uint8Array, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
  return o;
}

function putField(out: Uint8Array, o: number, name: string, value: string): number {
  o = put(out, o, name);
  out[o++] = 0x3a;
  out[o++] = 0x20;
  o = put(out, o, value);
  out[o++] = CR;
  out[o++] = LF;
  return o;
}

function serialize(src: Uint8Array, head: HeadBase, opts: SerializeOptions, line: string | undefined): Uint8Array {
  const drop = opts.drop;
  // Ranges of src to copy, merged when adjacent: [start0, end0, start1, end1, ...].
  const runs: number[] = [];
  let size = 2;
  if (line === undefined) {
    runs.push(head.lineStart, head.lineEnd);
    size += head.lineEnd - head.lineStart;
  } else {
    size += check(line, FVAL, "start line") + 2;
  }
  for (const f of head.fields) {
    if (drop !== undefined && drop(f.lower)) continue;
    const n = runs.length;
    if (n > 0 && runs[n - 1] === f.start) runs[n - 1] = f.end;
    else runs.push(f.start, f.end);
    size += f.end - f.start;
  }
  const lines = opts.lines ?? NO_LINES;
  for (const l of lines) size += l.length;
  const tailStart = opts.tailStart ?? 0;
  const tail = (opts.tailEnd ?? 0) - tailStart;
  const out = new Uint8Array(size + tail);
  let o = 0;
  if (line !== undefined) {
    o = put(out, o, line);
    out[o++] = CR;
    out[o++] = LF;
  }
  for (let r = 0; r < runs.length; r += 2) o += copy.call(src, out, o, runs[r], runs[r + 1]);
  for (const l of lines) {
    out.set(l, o);
    o += l.length;
  }
  out[o++] = CR;
  out[o++] = LF;
  if (tail > 0) copy.call(src, out, o, tailStart, tailStart + tail);
  return out;
}
