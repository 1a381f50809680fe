/**
 * The TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 server_name, RFC 7301
 * ALPN) for src/tls/client-hello.ts. `clientHello` builds one from parts
 * (also used by the unit tests); the generator varies names, ALPN lists,
 * GREASE and padding extensions, session ids and how the message is split
 * over records, and sometimes puts a ChangeCipherSpec record or early
 * bytes after it. Oracles, for every (mutated) input:
 * - never throws; an error's offset is inside the input; `consumed` is
 *   within the input and ends a record;
 * - prefix by prefix: "more" until the first result, which is the whole
 *   input's; a copy at another offset parses the same;
 * - a server_name returned is in the handshake bytes (lowercased,
 *   trailing dot dropped), and so is each ALPN name: the parser invents
 *   nothing;
 * - the same handshake bytes split over other records give the same name
 *   and ALPN list (record boundaries never change what is read);
 * - `referenceHello`, the same rules read another way (records gathered
 *   first, a cursor that throws past the end), agrees on the kind, the
 *   name and the ALPN list.
 */
import { parseClientHello, type HelloResult, MAX_RECORDS } from "../../src/tls/client-hello.ts";
import { type Behaviour, ensure, same, show, type Target, view } from "../driver.ts";
import { between, chance, concat, int, latin1, pick, type Rng, text } from "../rng.ts";
import { cutsFor } from "./http.ts";

export interface HelloParts {
  /** host_name entries (raw strings), in order; none: no server_name extension. */
  readonly names?: readonly string[];
  readonly alpn?: readonly string[];
  /** Extra extensions [type, body] put before server_name. */
  readonly extra?: readonly (readonly [number, Uint8Array])[];
  readonly sessionId?: number;
  /** Handshake bytes per record (the last record takes the rest); default one record. */
  readonly split?: readonly number[];
  /** Record layer minor version (default 1: TLS 1.0, as clients send). */
  readonly recordMinor?: number;
  /** No extensions block at all (TLS 1.2 allows it). */
  readonly noExtensions?: boolean;
}

const u16 = (n: number) => [n >> 8, n & 0xff];
const u24 = (n: number) => [n >> 16, (n >> 8) & 0xff, n & 0xff];

/** A ClientHello's records as a client sends them. */
export function clientHello(p: HelloParts = {}): Uint8Array {
  const ext: number[] = [];
  for (const [type, body] of p.extra ?? []) ext.push(...u16(type), ...u16(body.length), ...body);
  if (p.names !== undefined) {
    const list: number[] = [];
    for (const n of p.names) list.push(0, ...u16(n.length), ...latin1(n));
    ext.push(...u16(0), ...u16(list.length + 2), ...u16(list.length), ...list);
  }
  if (p.alpn !== undefined) {
    const list: number[] = [];
    for (const a of p.alpn) list.push(a.length, ...latin1(a));
    ext.push(...u16(16), ...u16(list.length + 2), ...u16(list.length), ...list);
  }
  const sid = p.sessionId ?? 32;
  const body = [3, 3, ...Array.from({ length: 32 }, (_, i) => (i * 7) & 0xff), sid, ...Array.from({ length: sid }, (_, i) => i), ...u16(4), 0x13, 0x01, 0xc0, 0x2f, 1, 0];
  if (!p.noExtensions) body.push(...u16(ext.length), ...ext);
  const hs = Uint8Array.from([1, ...u24(body.length), ...body]);
  return records(hs, p.split ?? [], p.recordMinor ?? 1);
}

/** `hs` (handshake bytes) in records of the given sizes (the last takes the rest). */
export function records(hs: Uint8Array, split: readonly number[], minor = 1): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const size of [...split, hs.length]) {
    const n = Math.min(size, hs.length - at);
    if (n <= 0) continue;
    parts.push(Uint8Array.from([22, 3, minor, ...u16(n)]), hs.subarray(at, at + n));
    at += n;
  }
  return concat(...parts);
}

/** The handshake bytes of the leading handshake records of `input` (undefined when a record is cut or not a handshake). */
function handshakeBytes(input: Uint8Array, consumed: number): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < consumed; ) {
    if (input[at] !== 22 || at + 5 > consumed) return undefined;
    const n = (input[at + 3] << 8) | input[at + 4];
    parts.push(input.subarray(at + 5, at + 5 + n));
    at += 5 + n;
  }
  return concat(...parts);
}

const LABEL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

function name(r: Rng): string {
  const k = int(r, 10);
  if (k === 0) return pick(r, ["localhost", "EXAMPLE.com", "a.b.c.d.e.f.example.net.", "xn--bcher-kva.example", "_acme.example.org"]);
  const labels = between(r, 1, 4);
  const out: string[] = [];
  for (let i = 0; i < labels; i++) out.push(Array.from({ length: between(r, 1, chance(r, 0.05) ? 63 : 12) }, () => pick(r, [...LABEL])).join(""));
  return out.join(".");
}

function generate(r: Rng): Uint8Array {
  const extra: [number, Uint8Array][] = [];
  if (chance(r, 0.5)) extra.push([0x0a0a, new Uint8Array(0)]); // GREASE
  if (chance(r, 0.5)) extra.push([0x002b, Uint8Array.from([4, 3, 4, 3, 3])]); // supported_versions
  if (chance(r, 0.2)) extra.push([0x0015, new Uint8Array(between(r, 1, 600))]); // padding
  if (chance(r, 0.05)) extra.push([0x0033, new Uint8Array(1216)]); // a post-quantum key share's size
  const names = chance(r, 0.85) ? (chance(r, 0.03) ? [name(r), name(r)] : [name(r)]) : undefined; // two: an error (RFC 6066)
  const alpn = chance(r, 0.6) ? pick(r, [["h2", "http/1.1"], ["http/1.1"], ["imap"], ["acme-tls/1"], [name(r).slice(0, 30)]]) : undefined;
  const hs = clientHello({ names, alpn, extra, sessionId: pick(r, [0, 32, between(r, 0, 32)]), noExtensions: names === undefined && alpn === undefined && extra.length === 0 && chance(r, 0.5) }).subarray(5);
  const split: number[] = [];
  if (chance(r, 0.4)) for (let k = between(r, 1, MAX_RECORDS - 1); k > 0; k--) split.push(between(r, 1, Math.max(1, hs.length >> 1)));
  const out = records(hs, split, pick(r, [1, 1, 3, 0]));
  if (chance(r, 0.1)) return concat(out, Uint8Array.from([20, 3, 3, 0, 1, 1]));
  if (chance(r, 0.05)) return concat(out, latin1("\x17\x03\x03\x00\x05early"));
  if (chance(r, 0.05)) return latin1(pick(r, ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", "SSH-2.0-OpenSSH_9.2\r\n", "\x80\x2e\x01\x03\x01"]));
  return out;
}

/** Structure-aware mutations: re-split into records, cut, change a length, duplicate an extension. */
function mutateHello(input: Uint8Array, r: Rng): Uint8Array {
  const res = parseClientHello(input);
  if (res.kind === "done") {
    const hs = handshakeBytes(input, res.consumed);
    if (hs !== undefined && chance(r, 0.5)) {
      const split = Array.from({ length: between(r, 1, MAX_RECORDS + 1) }, () => between(r, 0, hs.length));
      return concat(records(hs, split), input.subarray(res.consumed));
    }
  }
  const out = input.slice();
  if (out.length > 10) {
    const at = int(r, out.length - 1);
    const v = pick(r, [0, 1, 0xff, 0x40, 0x3f]);
    out[at] = v;
  }
  return out;
}

type Ref = { kind: "more" } | { kind: "error" } | { kind: "done"; serverName: string | undefined; alpn: string[] };

/**
 * The ClientHello read another way (the records gathered first, then the
 * message read with a cursor that throws past its end), on the same rules:
 * what plb's parser must agree with on the result's kind, name and ALPN.
 */
export function referenceHello(b: Uint8Array): Ref {
  const parts: Uint8Array[] = [];
  let have = 0;
  let need = -1;
  for (let at = 0, r = 0; ; r++) {
    if (need >= 0 && have >= need) break;
    if (at >= b.length) return { kind: "more" };
    if (r === MAX_RECORDS || b[at] !== 22) return { kind: "error" };
    if (at + 1 < b.length && b[at + 1] !== 3) return { kind: "error" };
    if (at + 2 < b.length && b[at + 2] > 4) return { kind: "error" };
    if (at + 5 > b.length) return { kind: "more" };
    const len = (b[at + 3] << 8) | b[at + 4];
    if (len === 0 || len > 16384) return { kind: "error" };
    const frag = b.subarray(at + 5, Math.min(at + 5 + len, b.length));
    parts.push(frag);
    have += frag.length;
    const hs = concat(...parts);
    if (hs.length >= 1 && hs[0] !== 1) return { kind: "error" };
    if (hs.length >= 4 && need < 0) {
      const body = (hs[1] << 16) | (hs[2] << 8) | hs[3];
      if (body === 0 || body + 4 > 16384) return { kind: "error" };
      need = body + 4;
    }
    if (at + 5 + len > b.length) return { kind: "more" };
    at += 5 + len;
  }
  const m = concat(...parts).subarray(0, need);
  let p = 4;
  const take = (k: number) => {
    if (p + k > m.length) throw new RangeError("past the end");
    p += k;
    return m.subarray(p - k, p);
  };
  const u8 = () => take(1)[0];
  const u16 = () => (take(1)[0] << 8) | take(1)[0];
  try {
    if (u8() !== 3) return { kind: "error" };
    take(33);
    const sid = u8();
    if (sid > 32) return { kind: "error" };
    take(sid);
    const cs = u16();
    if (cs < 2 || cs % 2 !== 0) return { kind: "error" };
    take(cs);
    const cm = u8();
    if (cm < 1) return { kind: "error" };
    take(cm);
    let serverName: string | undefined;
    let alpn: string[] = [];
    if (p === m.length) return { kind: "done", serverName, alpn };
    if (u16() !== m.length - p) return { kind: "error" };
    const seen = new Set<number>();
    while (p < m.length) {
      const type = u16();
      const body = take(u16());
      if (seen.has(type)) return { kind: "error" };
      seen.add(type);
      if (type !== 0 && type !== 16) continue;
      const list = (body[0] << 8) | body[1];
      if (body.length < 2 || list === 0 || list !== body.length - 2) return { kind: "error" };
      // Read the list with the same cursor over the extension body.
      let q = 2;
      const sub = (k: number) => {
        if (q + k > body.length) throw new RangeError("past the list");
        q += k;
        return body.subarray(q - k, q);
      };
      if (type === 0) {
        let found = false;
        while (q < body.length) {
          const nt = sub(1)[0];
          const l = (sub(1)[0] << 8) | sub(1)[0];
          const name = text(sub(l)).replace(/\.$/, "");
          if (nt !== 0) continue;
          if (found) return { kind: "error" };
          found = true;
          if (name.length < 1 || name.length > 253 || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(name) || /^[0-9.]+$/.test(name)) return { kind: "error" };
          serverName = name.toLowerCase();
        }
      } else {
        alpn = [];
        while (q < body.length) {
          const l = sub(1)[0];
          if (l === 0) return { kind: "error" };
          alpn.push(text(sub(l)));
        }
      }
    }
    return { kind: "done", serverName, alpn };
  } catch (e) {
    if (e instanceof RangeError) return { kind: "error" };
    throw e;
  }
}

function kindOf(res: HelloResult): Behaviour {
  return res.kind === "error" ? { kind: "error", reason: res.reason } : { kind: res.kind };
}

function check(input: Uint8Array): Behaviour {
  const whole = parseClientHello(input);
  ensure(same(parseClientHello(view(input).view), whole), "a view at an offset parses differently");
  if (whole.kind === "error") {
    ensure(Number.isInteger(whole.position) && whole.position >= 0 && whole.position < input.length && whole.reason !== "", () => `error offset ${whole.position} of ${input.length}`);
    ensure(!/NaN|undefined/.test(whole.reason), () => `a read past the input: ${whole.reason}`);
  }
  if (whole.kind === "done") {
    ensure(whole.consumed >= 9 && whole.consumed <= input.length, () => `consumed ${whole.consumed} of ${input.length}`);
    const hs = handshakeBytes(input, whole.consumed);
    ensure(hs !== undefined, "consumed does not end a record");
    // What is read is in the handshake bytes (a name may be split over records, never invented).
    const n = whole.serverName;
    if (n !== undefined) ensure(n !== "" && text(hs).toLowerCase().includes(n) && n === n.toLowerCase() && !n.endsWith("."), () => `server name ${JSON.stringify(n)} is not in the input`);
    for (const a of whole.alpn) ensure(a !== "" && text(hs).includes(a), () => `ALPN ${JSON.stringify(a)} is not in the input`);
    // The same handshake bytes in other records read the same.
    const cuts = cutsFor(hs).slice(0, MAX_RECORDS - 1);
    const again = parseClientHello(records(hs, cuts.map((c, i) => c - (cuts[i - 1] ?? 0))));
    ensure(again.kind === "done" && again.serverName === n && same(again.alpn, whole.alpn), () => `re-split: ${show(again)}, whole ${show(whole)}`);
  }
  const ref = referenceHello(input);
  ensure(ref.kind === whole.kind, () => `plb says ${whole.kind}${whole.kind === "error" ? ` (${whole.reason})` : ""}, the reference ${ref.kind}`);
  if (ref.kind === "done" && whole.kind === "done") ensure(ref.serverName === whole.serverName && same(ref.alpn, whole.alpn), () => `plb ${show(whole)}, the reference ${show(ref)}`);
  let first: HelloResult = { kind: "more" };
  for (const cut of cutsFor(input)) {
    first = parseClientHello(input.subarray(0, cut));
    if (first.kind !== "more") break;
  }
  ensure(same(first, whole), () => `prefixes give ${show(first)}, whole ${show(whole)}`);
  return kindOf(whole);
}

export const tlsClientHello: Target = {
  name: "tls-client-hello",
  generate,
  mutate: mutateHello,
  dict: ["\x16\x03\x01", "\x16\x03\x03", "\x00\x00", "\x00\x10", "\x01\x00", "\xff\xff", "\x02h2", "\x08http/1.1", "..", "."],
  binary: true,
  maxLen: 1 << 16,
  check,
  run: (input) => parseClientHello(input),
};
