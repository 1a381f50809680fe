/**
 * HTTP/2 request → HTTP/1.1 head (src/http/h2/request-head.ts
 * h1RequestFrom). Input: a flag byte ("1": END_STREAM on the HEADERS), then
 * the header list, each field as 0xFE name 0xFD value (latin1; the two
 * markers stand for nothing else, so CR, LF, NUL, ":" and spaces can all be
 * in names and values). Oracles: when done, the bytes made parse with
 * parseRequestHead as exactly one head (consumed = every byte) with the
 * request's :method, :path and :authority (else host), framed as said
 * (chunked ⇔ `chunked`; Content-Length ⇔ the client's); a list holding CR,
 * LF or NUL anywhere, an uppercase name, or a connection-specific field is
 * never done; an error is a stream error (no status) or 400, 414, 431, 501.
 */
import { parseRequestHead } from "../../src/http/head.ts";
import { h1RequestFrom } from "../../src/http/h2/request-head.ts";
import { DEFAULT_LIMITS } from "../../src/http/types.ts";
import { type Behaviour, ensure, show, type Target } from "../driver.ts";
import { between, chance, latin1, pick, type Rng, text } from "../rng.ts";

const FIELD = "\xfe", VALUE = "\xfd";
const STATUSES = [400, 414, 431, 501];
const CONNECTION_SPECIFIC = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

export function decodeInput(input: Uint8Array): { fields: string[]; endStream: boolean } {
  const s = text(input);
  const fields: string[] = [];
  for (const f of s.split(FIELD).slice(1)) {
    const v = f.indexOf(VALUE);
    fields.push(v < 0 ? f : f.slice(0, v), v < 0 ? "" : f.slice(v + 1));
  }
  return { fields, endStream: s.charCodeAt(0) === 0x31 };
}

function check(input: Uint8Array): Behaviour {
  const { fields, endStream } = decodeInput(input);
  const r = h1RequestFrom(fields, endStream, DEFAULT_LIMITS);
  if (r.kind === "error") {
    ensure(r.status === undefined || STATUSES.includes(r.status), () => `status ${r.status} for ${r.reason}`);
    // The client's strings quoted in a reason are not part of the behaviour.
    const reason = r.reason.replace(/"(?:[^"\\]|\\.)*"/g, "\"…\"");
    return r.status === undefined ? { kind: "malformed", reason } : { kind: "refused", reason: `${r.status} ${reason}` };
  }
  const all = fields.join("");
  ensure(!/[\r\n\0]/.test(all), () => `CR, LF or NUL passed: ${show(fields)}`);
  for (let i = 0; i < fields.length; i += 2) {
    ensure(!/[A-Z]/.test(fields[i]), () => `uppercase name passed: ${show(fields[i])}`);
    ensure(!CONNECTION_SPECIFIC.includes(fields[i]), () => `connection-specific field passed: ${show(fields[i])}`);
  }
  const p = parseRequestHead(r.raw, DEFAULT_LIMITS);
  ensure(p.kind === "done", () => `the head made does not parse: ${show(p)} ${show(text(r.raw))}`);
  ensure(p.consumed === r.raw.length, () => `not exactly one head: ${p.consumed} of ${r.raw.length}`);
  const get = (n: string) => {
    const i = fields.findIndex((x, j) => j % 2 === 0 && x === n);
    return i < 0 ? undefined : fields[i + 1];
  };
  ensure(p.head.method === get(":method") && p.head.target === get(":path"), () => `request line ${p.head.method} ${p.head.target} for ${show(fields)}`);
  ensure(p.head.host === (get(":authority") ?? get("host")), () => `host ${p.head.host} for ${show(fields)}`);
  ensure((p.head.body.kind === "chunked") === r.chunked, "chunked flag and framing disagree");
  ensure(r.contentLength === undefined || (p.head.body.kind === "length" && p.head.body.length === r.contentLength), "content-length and framing disagree");
  ensure(p.head.fields.filter((f) => f.lower === "host").length === 1, "not one Host");
  return { kind: "done" };
}

const NAMES = ["accept", "user-agent", "cookie", "content-length", "content-type", "x-a", "te", "host", "transfer-encoding", "connection", "Accept", "x a", "x:a", "x\r\ny", "content_length", ""];
const VALUES = ["*/*", "a=1", "0", "5", "trailers", "gzip", "example.com", "chunked", "", " a", "a\r\nb", "a\0", "caf\xe9", "v\tw"];
const METHODS = ["GET", "POST", "PUT", "HEAD", "OPTIONS", "CONNECT", "get", "G T", ""];
const PATHS = ["/", "/a?b=c", "*", "/a#b", "a", "/a b", "//x", "/\xe9", ""];
const AUTHS = ["example.com", "example.com:8443", "[::1]:80", "u@h", "a,b", "h:99999", "", "x y"];

function generate(r: Rng): Uint8Array {
  const pseudo: [string, string][] = [];
  if (chance(r, 0.97)) pseudo.push([":method", chance(r, 0.8) ? pick(r, METHODS.slice(0, 5)) : pick(r, METHODS)]);
  if (chance(r, 0.97)) pseudo.push([":scheme", chance(r, 0.95) ? pick(r, ["http", "https"]) : "ftp"]);
  if (chance(r, 0.97)) pseudo.push([":path", chance(r, 0.8) ? pick(r, PATHS.slice(0, 3)) : pick(r, PATHS)]);
  if (chance(r, 0.9)) pseudo.push([":authority", chance(r, 0.8) ? pick(r, AUTHS.slice(0, 3)) : pick(r, AUTHS)]);
  if (chance(r, 0.05)) pseudo.push([":path", "/x"]);
  const regular: [string, string][] = [];
  const n = between(r, 0, 5);
  for (let i = 0; i < n; i++) regular.push(chance(r, 0.8) ? [pick(r, NAMES.slice(0, 6)), pick(r, VALUES.slice(0, 3))] : [pick(r, NAMES), pick(r, VALUES)]);
  if (chance(r, 0.03)) regular.push(["x-big", "v".repeat(between(r, 8000, 17000))]);
  const list = chance(r, 0.05) ? [...regular, ...pseudo] : [...pseudo, ...regular];
  return latin1((chance(r, 0.5) ? "1" : "0") + list.map(([k, v]) => `${FIELD}${k}${VALUE}${v}`).join(""));
}

export const h2Request: Target = {
  name: "h2-request",
  generate,
  dict: [FIELD, VALUE, ":method", ":path", ":authority", ":scheme", "host", "content-length", "transfer-encoding", "te", "cookie", "\r\n", "\0", " ", ":", "@", "#", "?", "*", "CONNECT"],
  binary: false,
  maxLen: 1 << 16,
  check,
  run: (input) => {
    const { fields, endStream } = decodeInput(input);
    return h1RequestFrom(fields, endStream, DEFAULT_LIMITS);
  },
};
