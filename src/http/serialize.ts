/**
 * Rebuild a parsed head for forwarding with as little copying as possible:
 * the start line (or a replacement), every field line that is not dropped
 * copied verbatim from the source bytes by its range (adjacent kept lines in
 * one copy), then the appended fields, then the final CRLF; one allocation.
 * Which fields to drop and add (hop-by-hop, X-Forwarded-For, ...) is the
 * proxy's policy; `hopByHop` computes the RFC 9110 §7.6.1 set for a head.
 *
 * Appended names must be tokens and values, like a replacement start line,
 * field content (VCHAR, obs-text, SP, HTAB; characters up to U+00FF, written
 * as latin1): anything else throws, so no CR or LF can ever be injected.
 */
import { FVAL, type HeadBase, type RequestHead, type ResponseHead, TCHAR } from "./types.ts";

export interface SerializeOptions {
  /** Leave out the field lines whose lowercased name this returns true for. */
  drop?: (lower: string) => boolean;
  /** Fields added after the kept ones, in order. */
  append?: ReadonlyArray<readonly [name: string, value: string]>;
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
const NO_FIELDS: ReadonlyArray<readonly [string, string]> = [];

/**
 * Always hop-by-hop (RFC 9110 §7.6.1, plus the non-standard Proxy-Connection).
 * Not Trailer: it announces end-to-end trailer fields, which pass through
 * (see the decisions in head.ts).
 */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "upgrade"];
/** Never treated as hop-by-hop even when Connection names them (the parser rejects that anyway): dropping them would change the framing. */
const END_TO_END = new Set(["content-length", "transfer-encoding", "host"]);

const BASE: ReadonlySet<string> = new Set(HOP_BY_HOP);

/**
 * The lowercased names of the fields of `head` that must not be forwarded.
 * Shared and read-only in the common case (no extra Connection options):
 * copy it before changing it.
 */
export function hopByHop(head: Pick<HeadBase, "connection">): ReadonlySet<string> {
  let set: Set<string> | undefined;
  for (const o of head.connection) {
    if (BASE.has(o) || END_TO_END.has(o)) continue;
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

function serialize(src: Uint8Array, head: HeadBase, opts: SerializeOptions, line: string | undefined): Uint8Array {
  const drop = opts.drop;
  const append = opts.append ?? NO_FIELDS;
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
  for (const [name, value] of append) {
    size += check(name, TCHAR, "field name") + 2 + 2;
    if (value.length > 0) size += check(value, FVAL, "field value");
  }
  const out = new Uint8Array(size);
  let o = 0;
  if (line !== undefined) {
    o = put(out, o, line);
    out[o++] = CR;
    out[o++] = LF;
  }
  for (let r = 0; r < runs.length; r += 2) {
    out.set(src.subarray(runs[r], runs[r + 1]), o);
    o += runs[r + 1] - runs[r];
  }
  for (const [name, value] of append) {
    o = put(out, o, name);
    out[o++] = 0x3a;
    out[o++] = 0x20;
    o = put(out, o, value);
    out[o++] = CR;
    out[o++] = LF;
  }
  out[o++] = CR;
  out[o++] = LF;
  return out;
}
