/**
 * Fuzz targets for src/http/: request heads, response heads and chunked
 * bodies. Oracles, besides "never throws, one of the documented results,
 * offsets inside the input":
 * - the same result fed whole, one byte at a time, in random pieces, and as
 *   a view at an offset in a larger buffer;
 * - limits as types.ts documents them (SMALL, the defaults, and the largest
 *   the configuration allows, for inputs up to 1 MiB);
 * - what an accepted head says (Connection options, keep-alive, upgrade,
 *   expect, host, target form, framing) read again off its fields;
 * - serialize then parse: the head's bytes come back identical (from a view
 *   too), with the hop-by-hop fields dropped and a field added the same head
 *   again, and with the start line rewritten as it was, the same head;
 * - requests agree with the independent strict reader of the smuggling
 *   suites (tests/support/strict-http.ts, which shares no code with
 *   src/http/): a request plb frames is one the strict reader frames the same
 *   way (head and message length, fields, framing); one the strict reader
 *   accepts and plb rejects is rejected for a reason plb documents as
 *   stricter (limits, Host syntax, a CONNECT target equal to Host,
 *   Connection naming a framing field, chunk extension length); pipelined
 *   messages after it too;
 * - chunked bodies agree with the same strict reader's chunked decoder;
 * - responses agree with a small reference of their own (`referenceResponse`).
 */
import { ChunkedScanner } from "../../src/http/chunked.ts";
import { parseRequestHead, parseResponseHead } from "../../src/http/head.ts";
import { type FieldLines, fieldLines, hopByHop, serializeRequestHead, serializeResponseHead } from "../../src/http/serialize.ts";
import { DEFAULT_LIMITS, type HeadLimits, type HeadResult, type ParseError, type RequestHead, type ResponseHead } from "../../src/http/types.ts";
import { parseStrictRequest } from "../../tests/support/strict-http.ts";
import { type Behaviour, ensure, same, show, type Target, view } from "../driver.ts";
import { concat, hashBytes, int, latin1, rng, text } from "../rng.ts";
import { chunkedBody, HTTP_DICT, mutateMessage, request, response } from "./http-gen.ts";

const SMALL: HeadLimits = { maxRequestLine: 64, maxHeaderBytes: 256, maxHeaders: 6 };
/** The largest limits the configuration allows (max_request_line, max_header_size, max_headers). */
const LARGE: HeadLimits = { maxRequestLine: 1 << 20, maxHeaderBytes: 1 << 20, maxHeaders: 10_000 };
/** Small limits for one input in five, the largest for big inputs (one in five of them), else the defaults. */
function limitsFor(input: Uint8Array): HeadLimits {
  const h = hashBytes(input) % 5;
  return h === 0 ? SMALL : h === 1 && input.length > 16384 ? LARGE : DEFAULT_LIMITS;
}
/** For heads re-parsed after serializing: above LARGE, since added fields make a head at LARGE's limit larger. */
const ROOMY: HeadLimits = { maxRequestLine: 1 << 22, maxHeaderBytes: 1 << 22, maxHeaders: 100_000 };
const REQUEST_STATUSES = [400, 414, 431, 501, 505];
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Where to cut an input: every byte for short ones and one in four up to
 * 4 KiB, else about 128 random pieces at most (seeded by the input): a
 * corpus that fills with 100 KiB inputs must not make every check cost
 * 100,000 parser calls.
 */
export function cutsFor(input: Uint8Array): number[] {
  const h = hashBytes(input);
  const n = input.length;
  if (n <= 64 || (h % 4 === 1 && n <= 4096)) return Array.from({ length: n }, (_, i) => i + 1);
  const r = rng(h);
  const step = Math.max(48, n >> 6);
  const cuts: number[] = [];
  for (let at = 0; at < n; ) cuts.push((at = Math.min(n, at + 1 + int(r, step))));
  return cuts;
}

type Parse<H> = (buf: Uint8Array, limits: HeadLimits, scanFrom: number) => HeadResult<H>;

function fed<H>(parse: Parse<H>, input: Uint8Array, limits: HeadLimits): HeadResult<H> {
  let r: HeadResult<H> = { kind: "more", scanFrom: 0 };
  for (const cut of cutsFor(input)) {
    const scanFrom = r.kind === "more" ? r.scanFrom : 0;
    r = parse(input.subarray(0, cut), limits, scanFrom);
    if (r.kind === "more") ensure(r.scanFrom >= scanFrom && r.scanFrom <= cut, () => `scanFrom ${r.kind === "more" && r.scanFrom} outside [${scanFrom}, ${cut}]`);
    else break;
  }
  return r;
}

function checkError(e: ParseError, n: number, statuses: readonly number[]): void {
  ensure(Number.isInteger(e.pos) && e.pos >= 0 && e.pos < n, () => `error offset ${e.pos} outside the input of ${n} bytes (${e.reason})`);
  ensure(statuses.includes(e.status), () => `status ${e.status} for "${e.reason}"`);
  ensure(typeof e.reason === "string" && e.reason.length > 0, "empty reason");
}

/** What every accepted head must look like: contiguous field lines, clean names and values, framing read off its fields. */
function checkHead(input: Uint8Array, consumed: number, head: RequestHead | ResponseHead, limits: HeadLimits): void {
  ensure(consumed <= input.length && consumed >= head.lineEnd + 2, () => `consumed ${consumed} of ${input.length}, line end ${head.lineEnd}`);
  ensure(text(input.subarray(consumed - 4, consumed)) === "\r\n\r\n", "head does not end with CRLF CRLF");
  ensure(head.fields.length <= limits.maxHeaders, "more fields than maxHeaders");
  let at = head.lineEnd;
  for (const f of head.fields) {
    ensure(f.start === at && f.end > f.start, () => `field ${show(f)} not where the previous one ended (${at})`);
    at = f.end;
    ensure(TOKEN.test(f.name) && f.lower === f.name.toLowerCase(), () => `field name ${show(f.name)}`);
    ensure(!/[\0-\x08\x0a-\x1f\x7f]/.test(f.value) && !/^[ \t]|[ \t]$/.test(f.value), () => `field value ${show(f.value)}`);
  }
  ensure(at === consumed - 2, () => `fields end at ${at}, head at ${consumed}`);
  const cl = head.fields.filter((f) => f.lower === "content-length");
  const te = head.fields.filter((f) => f.lower === "transfer-encoding");
  ensure(cl.length <= 1 && !(cl.length > 0 && te.length > 0), "ambiguous framing accepted");
  ensure(!head.fields.some((f) => /^(content_length|transfer_encoding)$/.test(f.lower)), "framing look-alike accepted");
  if (head.body.kind === "length") ensure(cl.length === 1 && /^\d+$/.test(cl[0].value) && Number(cl[0].value) === head.body.length, "length does not match Content-Length");
  if (head.body.kind === "chunked") ensure(te.length > 0, "chunked without Transfer-Encoding");
}

/**
 * What a head says about the connection, read again off its fields: the
 * Connection options, keep-alive, Upgrade (only with the "upgrade" option,
 * in HTTP/1.1), and for requests Expect: 100-continue, Host and the target
 * form.
 */
function checkSemantics(head: RequestHead | ResponseHead, request: boolean): void {
  const values = (n: string) => head.fields.filter((f) => f.lower === n).map((f) => f.value);
  const options = values("connection").flatMap((v) => v.split(",")).map((o) => o.replace(/^[ \t]+|[ \t]+$/g, "").toLowerCase()).filter((o) => o !== "");
  ensure(same(options, head.connection), () => `connection options ${show(head.connection)}, the fields say ${show(options)}`);
  const v11 = head.versionMinor === 1;
  const upgrades = values("upgrade");
  const upgrade = v11 && options.includes("upgrade") && upgrades.length > 0 ? upgrades.join(", ") : undefined;
  ensure(head.upgrade === upgrade, () => `upgrade ${show(head.upgrade)}, the fields say ${show(upgrade)}`);
  let keepAlive = !options.includes("close") && (v11 || options.includes("keep-alive"));
  if (!request) {
    const h = head as ResponseHead;
    keepAlive &&= h.body.kind !== "close" && !h.tunnel;
  } else {
    const h = head as RequestHead;
    ensure(h.expectContinue === (v11 && values("expect").some((v) => v.toLowerCase() === "100-continue")), "expectContinue");
    const form = h.method === "CONNECT" ? "authority" : h.target.startsWith("/") ? "origin" : h.target === "*" ? "asterisk" : "absolute";
    ensure(h.targetForm === form, () => `target form ${h.targetForm} for ${show(h.target)}`);
    const authority = form === "authority" ? h.target : form === "absolute" ? h.target.replace(/^https?:\/\//i, "").replace(/[/?].*$/, "") : undefined;
    ensure(h.host === (values("host")[0] ?? authority), () => `host ${show(h.host)}`);
  }
  ensure(head.keepAlive === keepAlive, () => `keepAlive ${head.keepAlive}, the fields say ${keepAlive}`);
}

/** Serialize then parse: the same bytes; then dropping hop-by-hop fields and adding one: the same head. */
function roundTrip<H extends RequestHead | ResponseHead>(input: Uint8Array, consumed: number, head: H, parse: Parse<H>, serialize: (src: Uint8Array, h: H, o: { drop?: (n: string) => boolean; lines?: readonly FieldLines[]; requestLine?: string; statusLine?: string }) => Uint8Array): void {
  const out = serialize(input, head, {});
  ensure(same(out, input.subarray(head.lineStart, consumed)), "serialize without options changed the head's bytes");
  ensure(same(serialize(view(input).view, head, {}), out), "serialize from a view at an offset copies other bytes");
  const drop = hopByHop(head);
  const added = fieldLines([["X-Fuzz", "1"]]);
  const out2 = serialize(input, head, { drop: (n: string) => drop.has(n), lines: [added] });
  const again = parse(out2, ROOMY, 0);
  if (again.kind !== "done") throw new Error(`serialized head does not parse: ${show(again)} from ${show(text(out2))}`);
  ensure(again.consumed === out2.length, "serialized head not consumed whole");
  const want = [...head.fields.filter((f) => !drop.has(f.lower)).map((f) => [f.name, f.value]), ["X-Fuzz", "1"]];
  ensure(same(again.head.fields.map((f) => [f.name, f.value]), want), () => `fields after the round trip: ${show(again.head.fields)}`);
  ensure(same(again.head.body, head.body), "framing changed in the round trip");
  // A replacement start line, the same as the original: the same head again.
  const line = "method" in head ? `${head.method} ${head.target} HTTP/1.${head.versionMinor}` : `HTTP/1.${head.versionMinor} ${head.status}${head.reason === "" ? "" : ` ${head.reason}`}`;
  const out3 = serialize(input, head, "method" in head ? { requestLine: line } : { statusLine: line });
  const third = parse(out3, ROOMY, 0);
  if (third.kind !== "done") throw new Error(`head with its start line rewritten does not parse: ${show(third)}`);
  ensure(same(third.head.fields.map((f) => [f.name, f.value]), head.fields.map((f) => [f.name, f.value])) && same(third.head.body, head.body), "start line rewritten: the head changes");
}

/** The start line's length without its CRLF, from `hs`. */
function startLine(input: Uint8Array, hs: number): number {
  for (let i = hs; i + 1 < input.length; i++) if (input[i] === 13 && input[i + 1] === 10) return i - hs;
  return input.length - hs;
}

/**
 * The limits as types.ts documents them: a start line of at most
 * maxRequestLine bytes without its CRLF, a head of at most maxHeaderBytes
 * (a skipped leading CRLF not counted), at most maxHeaders fields. `head`:
 * bytes of the head and its field count, when known (a whole head).
 */
function limitExceeded(reason: string, input: Uint8Array, hs: number, limits: HeadLimits, head?: { bytes: number; fields: number }): boolean {
  if (/line too long/.test(reason)) return startLine(input, hs) > limits.maxRequestLine;
  if (/header section too large/.test(reason)) return head === undefined ? input.length - hs > limits.maxHeaderBytes : head.bytes > limits.maxHeaderBytes;
  if (/too many header fields/.test(reason)) return head === undefined || head.fields > limits.maxHeaders;
  return true;
}

function withinLimits(input: Uint8Array, consumed: number, h: RequestHead | ResponseHead, limits: HeadLimits): void {
  ensure(h.lineEnd - 2 - h.lineStart <= limits.maxRequestLine && consumed - h.lineStart <= limits.maxHeaderBytes && h.fields.length <= limits.maxHeaders,
    () => `accepted over the limits: line ${h.lineEnd - 2 - h.lineStart}, head ${consumed - h.lineStart}, ${h.fields.length} fields (${show(limits)})`);
}

/** plb's reasons for rejecting what the strict reader accepts: limits and documented extra strictness. */
const PLB_STRICTER = /too long|too large|too many|invalid Host|Host does not match the request target|invalid host in request target|CONNECT needs|Connection names|invalid Connection option|chunk extensions too long/;
/** The strict reader's one narrower rule: Content-Length of at most 15 digits. */
const STRICT_NARROWER = /invalid Content-Length/;

/** The message plb would forward: head, then the body its framing gives. */
function plbMessage(input: Uint8Array, consumed: number, head: RequestHead): number | "more" | ParseError {
  if (head.body.kind === "none") return consumed;
  if (head.body.kind === "length") return consumed + head.body.length <= input.length ? consumed + head.body.length : "more";
  const r = new ChunkedScanner().scan(input, consumed, input.length);
  return r.kind === "done" ? consumed + r.consumed : r.kind === "more" ? "more" : r;
}

/** plb and the strict reader on the message at the start of `input`, then (up to `depth` more) on the pipelined ones after it. */
function agreeWithStrict(input: Uint8Array, whole: HeadResult<RequestHead>, limits: HeadLimits, depth = 3): void {
  const hs = input[0] === 13 && input[1] === 10 ? 2 : 0;
  const strict = parseStrictRequest(input, hs);
  if (whole.kind === "more") return ensure(strict.kind !== "request", "strict reader read a request where plb wants more");
  if (whole.kind === "error") {
    if (strict.kind === "request") {
      ensure(PLB_STRICTER.test(whole.reason), () => `plb rejects (${whole.reason}) what the strict reader accepts`);
      const r = strict.request;
      ensure(limitExceeded(whole.reason, input, hs, limits, { bytes: r.headLength, fields: r.fields.length }), () => `plb: ${whole.reason}, yet the head is within ${show(limits)}`);
    } else ensure(limitExceeded(whole.reason, input, hs, limits), () => `plb: ${whole.reason}, yet the input is within ${show(limits)}`);
    return;
  }
  const { head, consumed } = whole;
  const end = plbMessage(input, consumed, head);
  if (typeof end === "object") {
    if (strict.kind === "request") ensure(PLB_STRICTER.test(end.reason), () => `plb rejects the body (${end.reason}) the strict reader accepts`);
    return;
  }
  if (strict.kind === "error") return ensure(STRICT_NARROWER.test(strict.reason), () => `plb accepts what the strict reader rejects: ${strict.reason}`);
  if (end === "more") return ensure(strict.kind === "more", "strict reader read a whole request where plb wants more body");
  if (strict.kind !== "request") throw new Error(`plb frames a ${end - hs}-byte message, the strict reader wants more`);
  const s = strict.request;
  ensure(s.headLength === consumed - hs && s.length === end - hs, () => `lengths: plb head ${consumed - hs} message ${end - hs}, strict ${s.headLength} ${s.length}`);
  ensure(s.framing === head.body.kind && s.method === head.method && s.target === head.target && s.version === `1.${head.versionMinor}`, "request line or framing differ");
  ensure(same(s.fields.map((f) => [f.name, f.value]), head.fields.map((f) => [f.name, f.value])), "fields differ from the strict reader's");
  if (depth > 0 && end < input.length) {
    const rest = input.subarray(end);
    agreeWithStrict(rest, parseRequestHead(rest, limits, 0), limits, depth - 1);
  }
}

function checkRequest(input: Uint8Array): Behaviour {
  const limits = limitsFor(input);
  const whole = parseRequestHead(input, limits, 0);
  ensure(same(parseRequestHead(view(input).view, limits, 0), whole), "a view at an offset parses differently");
  const split = fed(parseRequestHead, input, limits);
  ensure(input.length === 0 || same(split, whole), () => `split feeding gives ${show(split)}, whole ${show(whole)}`);
  if (whole.kind === "more") ensure(whole.scanFrom <= input.length, "scanFrom past the input");
  else if (whole.kind === "error") checkError(whole, input.length, REQUEST_STATUSES);
  else {
    checkHead(input, whole.consumed, whole.head, limits);
    withinLimits(input, whole.consumed, whole.head, limits);
    if (whole.head.versionMinor === 1) ensure(whole.head.host !== undefined, "HTTP/1.1 without a host");
    checkSemantics(whole.head, true);
    roundTrip(input, whole.consumed, whole.head, parseRequestHead, serializeRequestHead);
  }
  agreeWithStrict(input, whole, limits);
  return whole.kind === "error" ? { kind: "error", reason: whole.reason } : { kind: whole.kind };
}

const methodFor = (input: Uint8Array) => ["GET", "GET", "HEAD", "CONNECT"][hashBytes(input) % 4];

/**
 * A reference for response heads, written from RFC 9112 and head.ts's
 * decisions without its code: regular expressions over the head's text.
 * Says "done" or "error" for a complete head within the default limits.
 */
export function referenceResponse(head: string, method: string): { kind: "error" } | { kind: "done"; status: number; body: string } {
  const bad = { kind: "error" } as const;
  const lines = head.slice(0, -4).split("\r\n");
  if (lines.some((l) => /[\r\n]/.test(l))) return bad;
  const m = /^HTTP\/1\.([01]) ([1-5]\d\d)(?:| ([\t\x20-\x7e\x80-\xff]*))$/.exec(lines[0]);
  if (!m) return bad;
  const fields: [string, string][] = [];
  for (const l of lines.slice(1)) {
    const f = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)[ \t]*$/.exec(l);
    if (!f) return bad;
    fields.push([f[1].toLowerCase(), f[2]]);
  }
  if (fields.length > DEFAULT_LIMITS.maxHeaders) return bad;
  const get = (n: string) => fields.filter(([k]) => k === n).map(([, v]) => v);
  const ows = (x: string) => x.replace(/^[ \t]+|[ \t]+$/g, "");
  if (get("host").length > 1) return bad;
  if (fields.some(([k]) => k === "content_length" || k === "transfer_encoding")) return bad;
  for (const v of get("connection")) {
    const opts = v.split(",").map(ows).filter((o) => o !== "");
    if (opts.some((o) => !TOKEN.test(o) || /^(content-length|transfer-encoding|host)$/i.test(o))) return bad;
  }
  const cl = get("content-length"), te = get("transfer-encoding");
  if (cl.length > 1 || (cl.length === 1 && !(/^\d+$/.test(cl[0]) && Number(cl[0]) <= Number.MAX_SAFE_INTEGER))) return bad;
  if (te.length > 0) {
    const codings = te.join(",").split(",").map((c) => ows(c).toLowerCase());
    if (m[1] === "0" || cl.length > 0 || codings.length !== 1 || codings[0] !== "chunked") return bad;
  }
  const status = Number(m[2]);
  const tunnel = status === 101 || (method === "CONNECT" && status >= 200 && status < 300);
  const body = method === "HEAD" || status < 200 || status === 204 || status === 304 || tunnel ? "none" : te.length > 0 ? "chunked" : cl.length > 0 ? "length" : "close";
  return { kind: "done", status, body };
}

function checkResponse(input: Uint8Array): Behaviour {
  const method = methodFor(input);
  const limits = limitsFor(input);
  const parse: Parse<ResponseHead> = (b, l, s) => parseResponseHead(b, l, s, method);
  const whole = parse(input, limits, 0);
  ensure(same(parse(view(input).view, limits, 0), whole), "a view at an offset parses differently");
  const split = fed(parse, input, limits);
  ensure(input.length === 0 || same(split, whole), () => `split feeding gives ${show(split)}, whole ${show(whole)}`);
  if (whole.kind === "error") checkError(whole, input.length, [502]);
  if (whole.kind === "done") {
    const h = whole.head;
    checkHead(input, whole.consumed, h, limits);
    withinLimits(input, whole.consumed, h, limits);
    ensure(h.status >= 100 && h.status <= 599 && !/[\r\n\0]/.test(h.reason), "status or reason");
    ensure(h.tunnel === (h.status === 101 || (method === "CONNECT" && h.status >= 200 && h.status < 300)), "tunnel");
    ensure(!h.keepAlive || (h.body.kind !== "close" && !h.tunnel), "keep-alive on a close-delimited body or a tunnel");
    checkSemantics(h, false);
    roundTrip(input, whole.consumed, h, parse, serializeResponseHead);
  }
  // The reference, on complete heads well inside the limits.
  const t = text(input.subarray(0, Math.min(input.length, 20000)));
  const end = t.indexOf("\r\n\r\n");
  if (limits === DEFAULT_LIMITS && end >= 0 && end < 8000) {
    const ref = referenceResponse(t.slice(0, end + 4), method);
    ensure(ref.kind === whole.kind, () => `plb says ${whole.kind}${whole.kind === "error" ? ` (${whole.reason})` : ""}, the reference ${ref.kind}`);
    if (ref.kind === "done" && whole.kind === "done") ensure(ref.status === whole.head.status && ref.body === whole.head.body.kind, "status or framing differ from the reference");
  }
  return whole.kind === "error" ? { kind: "error", reason: whole.reason } : { kind: whole.kind };
}

/** The synthetic head the strict reader gets in front of a chunked body. */
const CHUNKED_HEAD = latin1("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");

function scanSplit(input: Uint8Array, response: boolean): ReturnType<ChunkedScanner["scan"]> {
  const sc = new ChunkedScanner({ response });
  let at = 0;
  for (const cut of cutsFor(input)) {
    const r = sc.scan(input, at, cut);
    if (r.kind === "error") return r;
    ensure(r.consumed <= cut - at, "scan consumed more than given");
    if (r.kind === "done") return { kind: "done", consumed: at + r.consumed };
    at = cut;
  }
  return { kind: "more", consumed: at };
}

function checkChunked(input: Uint8Array): Behaviour {
  const response = hashBytes(input) % 3 === 0;
  const sc = new ChunkedScanner({ response });
  const whole = sc.scan(input, 0, input.length);
  if (whole.kind === "error") checkError(whole, input.length, response ? [502] : [400, 431]);
  else {
    ensure(whole.consumed <= input.length && (whole.kind === "done" || whole.consumed === input.length), "consumed");
    ensure(sc.done === (whole.kind === "done") && sc.scanned === whole.consumed, "done / scanned disagree with the result");
  }
  if (input.length > 0) {
    const split = scanSplit(input, response);
    ensure(same(split, whole), () => `split scan gives ${show(split)}, whole ${show(whole)}`);
  }
  // Scanned where it sits in a larger buffer: error offsets move with it, nothing else changes.
  const v = view(input);
  const moved = new ChunkedScanner({ response }).scan(v.buf, v.at, v.at + input.length);
  ensure(same(moved, whole.kind === "error" ? { ...whole, pos: whole.pos + v.at } : whole), () => `scanned at offset ${v.at}: ${show(moved)}, at 0: ${show(whole)}`);
  // Reset, the same scanner reads the same body the same way; a finished scanner takes nothing more.
  if (whole.kind !== "more") {
    const again = sc.scan(input, 0, input.length);
    ensure(again.kind === "error" && /already/.test(again.reason), "a finished scanner took more bytes");
    sc.reset();
    ensure(same(sc.scan(input, 0, input.length), whole) && sc.scanned === (whole.kind === "done" ? whole.consumed : sc.scanned), "reset scanner reads differently");
  }
  const strict = parseStrictRequest(concat(CHUNKED_HEAD, input));
  if (whole.kind === "done") {
    if (strict.kind !== "request") throw new Error(`plb ends the body at ${whole.consumed}, the strict reader says ${show(strict)}`);
    ensure(strict.request.length - CHUNKED_HEAD.length === whole.consumed, () => `body length: plb ${whole.consumed}, strict ${strict.request.length - CHUNKED_HEAD.length}`);
  } else if (strict.kind === "request") {
    if (whole.kind === "more") throw new Error("strict reader ends the body where plb wants more");
    ensure(PLB_STRICTER.test(whole.reason), () => `plb rejects (${whole.reason}) a body the strict reader accepts`);
  }
  return whole.kind === "error" ? { kind: "error", reason: whole.reason } : { kind: whole.kind };
}

export const httpRequest: Target = {
  name: "http-request",
  generate: (r) => latin1(request(r)),
  mutate: mutateMessage,
  dict: HTTP_DICT,
  binary: false,
  maxLen: 1 << 20,
  check: checkRequest,
  run: (input) => parseRequestHead(input),
};

export const httpResponse: Target = {
  name: "http-response",
  generate: (r) => latin1(response(r)),
  mutate: mutateMessage,
  dict: HTTP_DICT,
  binary: false,
  maxLen: 1 << 20,
  check: checkResponse,
  run: (input) => parseResponseHead(input),
};

export const httpChunked: Target = {
  name: "http-chunked",
  generate: (r) => latin1(chunkedBody(r)),
  dict: ["\r\n", "0\r\n\r\n", ";", "=", "\"", "\\", "Content-Length", "Transfer_Encoding", "host", "ffffffffffffffff", "20000000000000", ": v\r\n"],
  binary: false,
  maxLen: 1 << 16,
  check: checkChunked,
  run: (input) => new ChunkedScanner().scan(input, 0, input.length),
};
