/**
 * DNS messages (RFC 1035, RFC 3596) for src/net/dns-message.ts.
 * - dns-response: responses built by `Message` (questions, answers of every
 *   kind in RECORD_KINDS, CNAME chains, SRV records, authority and
 *   additional sections, compression pointers, TTLs with the top bit set),
 *   then mutated (counts, pointers, flags, bytes), decoded by decodeResponse
 *   and by `referenceDecode`, a second decoder written from the RFCs and
 *   dns-message.ts's documented rules (pointers strictly backwards, names up
 *   to 255 bytes, CNAME chains from the question, SRV, glue).
 * - dns-query: names (UTF-8, trailing dots, empty and long labels) given to
 *   encodeQuery: a RangeError exactly when the name cannot go on the wire,
 *   else the exact bytes, and the query turned into a response decodes to
 *   the same question.
 * A new record type is one RECORD_KINDS entry (its rdata writer) and, if
 * decodeResponse returns it, a case in referenceDecode.
 */
import { decodeResponse, encodeQuery } from "../../src/net/dns-message.ts";
import { type Behaviour, ensure, same, show, type Target, view } from "../driver.ts";
import { between, chance, hashBytes, int, pick, type Rng } from "../rng.ts";
import { format6, random6 } from "./ip.ts";

/** Writes a message, remembering where names were written (for compression pointers). */
class Message {
  readonly b: number[] = [];
  private readonly at = new Map<string, number>();
  constructor(private readonly r: Rng) {}
  u16(v: number): void {
    this.b.push((v >> 8) & 0xff, v & 0xff);
  }
  u32(v: number): void {
    this.u16(Math.floor(v / 65536) & 0xffff);
    this.u16(v & 0xffff);
  }
  /** A name, compressed (a pointer to an earlier copy of a suffix) now and then. */
  name(n: string): void {
    const labels = n === "" ? [] : n.split(".");
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join(".").toLowerCase();
      const earlier = this.at.get(suffix);
      if (earlier !== undefined && earlier < 0x3fff && chance(this.r, 0.7)) return this.u16(0xc000 | earlier);
      if (this.b.length < 0x3fff) this.at.set(suffix, this.b.length);
      const bytes = new TextEncoder().encode(labels[i]);
      this.b.push(bytes.length, ...bytes);
    }
    this.b.push(0);
  }
  /** A resource record; `rdata` writes its data, the length is patched in after. */
  rr(owner: string, type: number, klass: number, ttl: number, rdata: () => void): void {
    this.name(owner);
    this.u16(type);
    this.u16(klass);
    this.u32(ttl);
    const len = this.b.length;
    this.u16(0);
    rdata();
    const n = this.b.length - len - 2;
    this.b[len] = n >> 8;
    this.b[len + 1] = n & 0xff;
  }
}

export interface RecordKind {
  type: number;
  /** Writes the record's data; `names` are names of the message, for targets. */
  rdata(m: Message, r: Rng, names: readonly string[]): void;
}

export const RECORD_KINDS: RecordKind[] = [
  { type: 1, rdata: (m, r) => m.b.push(...Array.from({ length: chance(r, 0.05) ? int(r, 8) : 4 }, () => int(r, 256))) }, // A (odd lengths now and then)
  { type: 28, rdata: (m, r) => m.b.push(...(chance(r, 0.05) ? [1, 2, 3] : random6(r))) }, // AAAA
  { type: 5, rdata: (m, r, names) => m.name(pick(r, names)) }, // CNAME
  { type: 15, rdata: (m, r, names) => (m.u16(int(r, 100)), m.name(pick(r, names))) }, // MX
  { type: 16, rdata: (m, r) => m.b.push(3, 0x61, 0x3d, 0x62) }, // TXT
  { type: 33, rdata: (m, r, names) => (m.u16(int(r, 10)), m.u16(int(r, 10)), m.u16(int(r, 65536)), m.name(pick(r, names))) }, // SRV
  { type: 2, rdata: (m, r, names) => m.name(pick(r, names)) }, // NS
];

const NAMES = ["example.com", "www.example.com", "a.b.c.example", "cdn.example.net", "x", "MiXeD.Example.COM", "under_score.example", "dots\\.in.label"];

function response(r: Rng): Uint8Array {
  const m = new Message(r);
  const names = [...NAMES];
  if (chance(r, 0.05)) names.push(Array.from({ length: 4 }, () => "a".repeat(between(r, 50, 63))).join("."));
  const qname = pick(r, names);
  const qd = chance(r, 0.9) ? 1 : int(r, 3);
  const answers: (() => void)[] = [];
  let owner = qname;
  for (let k = int(r, 7); k > 0; k--) {
    const kind = chance(r, 0.3) ? RECORD_KINDS[2] : pick(r, RECORD_KINDS);
    const o = chance(r, 0.8) ? owner : pick(r, names);
    const next = pick(r, names);
    const ttl = chance(r, 0.1) ? pick(r, [0, 0x7fffffff, 0x80000000, 0xffffffff]) : int(r, 86400);
    const klass = chance(r, 0.95) ? 1 : pick(r, [3, 255, 0]);
    answers.push(() => m.rr(o, kind.type, klass, ttl, () => (kind.type === 5 ? m.name(next) : kind.rdata(m, r, names))));
    if (kind.type === 5) owner = next;
  }
  m.u16(int(r, 65536));
  m.u16(0x8000 | 0x0100 | (chance(r, 0.1) ? 0x0200 : 0) | (chance(r, 0.2) ? int(r, 16) : 0));
  // Authority (NS, skipped by the decoder) and additional records (addresses of any name: glue for SRV targets).
  const rr = (kinds: readonly RecordKind[]) => () => {
    const kind = pick(r, kinds);
    m.rr(pick(r, names), kind.type, chance(r, 0.95) ? 1 : 3, int(r, 86400), () => kind.rdata(m, r, names));
  };
  const authority = Array.from({ length: chance(r, 0.8) ? 0 : between(r, 1, 2) }, () => rr([RECORD_KINDS[6], RECORD_KINDS[0]]));
  const additional = Array.from({ length: chance(r, 0.6) ? 0 : between(r, 1, 3) }, () => rr([RECORD_KINDS[0], RECORD_KINDS[1], RECORD_KINDS[4]]));
  m.u16(qd);
  m.u16(answers.length);
  m.u16(authority.length);
  m.u16(additional.length);
  for (let i = 0; i < qd; i++) {
    m.name(i === 0 ? qname : pick(r, names));
    m.u16(pick(r, [1, 28, 5, 33]));
    m.u16(1);
  }
  for (const a of [...answers, ...authority, ...additional]) a();
  return Uint8Array.from(m.b);
}

/** DNS-aware mutations: counts, a pointer anywhere (forward, to itself, a loop), flags. */
function mutateResponse(input: Uint8Array, r: Rng): Uint8Array {
  const b = input.slice();
  if (b.length < 12) return b;
  switch (int(r, 4)) {
    case 0: {
      const at = pick(r, [4, 6, 8, 10]);
      const v = pick(r, [0, 1, 2, 0xffff, b[at + 1] + 1, Math.max(0, b[at + 1] - 1)]);
      b[at] = v >> 8;
      b[at + 1] = v & 0xff;
      return b;
    }
    case 1:
    case 2: {
      const at = between(r, 12, b.length - 1);
      const to = chance(r, 0.5) ? int(r, b.length) : pick(r, [at, at - 1, 12, at + 2]);
      b[at] = 0xc0 | ((to >> 8) & 0x3f);
      if (at + 1 < b.length) b[at + 1] = to & 0xff;
      return b;
    }
    default:
      b[2] ^= pick(r, [0x80, 0x02, 0x01]);
      return b;
  }
}

type Addr = { type: number; ttl: number; address: string };
type Srv = { priority: number; weight: number; port: number; target: string; ttl: number };
type Ref = { error: true } | { id: number; rcode: number; truncated: boolean; question?: { name: string; type: number }; answers: Addr[]; srv: Srv[]; glue: (Addr & { name: string })[] };

const label = (b: Uint8Array) => Array.from(b, (c) => (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c ? String.fromCharCode(c).toLowerCase() : `\\${String(c).padStart(3, "0")}`)).join("");

function refName(b: Uint8Array, start: number): { name: string; next: number } | undefined {
  const labels: string[] = [];
  let at = start, stretch = start, next = -1, wire = 1;
  for (;;) {
    if (at >= b.length) return undefined;
    const len = b[at];
    if (len === 0) break;
    if (len >= 0xc0) {
      if (at + 1 >= b.length) return undefined;
      const to = ((len & 0x3f) << 8) | b[at + 1];
      if (to >= stretch) return undefined;
      if (next < 0) next = at + 2;
      at = stretch = to;
      continue;
    }
    if (len > 63) return undefined;
    wire += len + 1;
    if (wire > 255 || at + 1 + len > b.length) return undefined;
    labels.push(label(b.subarray(at + 1, at + 1 + len)));
    at += len + 1;
  }
  return { name: labels.join("."), next: next < 0 ? at + 1 : next };
}

/**
 * A second decoder, from RFC 1035, RFC 2782 and dns-message.ts's documented
 * rules: records of the answer section (a malformed one makes the message
 * malformed), then of the authority section (skipped) and the additional one
 * (addresses only; a malformed record there ends the reading); A/AAAA, CNAME
 * and SRV records on the CNAME chain from the question are the answers, other
 * addresses the glue.
 */
export function referenceDecode(b: Uint8Array): Ref {
  const err = { error: true } as const;
  if (b.length < 12 || (b[2] & 0x80) === 0) return err;
  const u16 = (o: number) => (b[o] << 8) | b[o + 1];
  const u32 = (o: number) => u16(o) * 65536 + u16(o + 2);
  let at = 12;
  let question: { name: string; type: number } | undefined;
  for (let i = 0; i < u16(4); i++) {
    const n = refName(b, at);
    if (n === undefined || n.next + 4 > b.length) return err;
    if (i === 0) question = { name: n.name, type: u16(n.next) };
    at = n.next + 4;
  }
  const records: { owner: string; type: number; ttl: number; address: string; extra: boolean }[] = [];
  const srvs: (Srv & { owner: string })[] = [];
  const cnames = new Map<string, { target: string; ttl: number }>();
  const an = u16(6), ns = u16(8), ar = u16(10);
  for (let i = 0; i < an + ns + ar; i++) {
    const answer = i < an, authority = !answer && i < an + ns;
    const n = refName(b, at);
    if (n === undefined || n.next + 10 > b.length) {
      if (answer) return err;
      break;
    }
    const type = u16(n.next), klass = u16(n.next + 2), raw = u32(n.next + 4), len = u16(n.next + 8);
    const ttl = raw >= 2 ** 31 ? 0 : raw;
    const data = n.next + 10;
    at = data + len;
    if (at > b.length) {
      if (answer) return err;
      break;
    }
    if (klass !== 1 || authority) continue;
    if (type === 1 && len === 4) records.push({ owner: n.name, type, ttl, address: Array.from(b.subarray(data, at)).join("."), extra: !answer });
    else if (type === 28 && len === 16) records.push({ owner: n.name, type, ttl, address: format6(Array.from(b.subarray(data, at)), false), extra: !answer });
    else if (!answer) continue;
    else if (type === 5) {
      const t = refName(b, data);
      if (t === undefined || t.next !== at) return err;
      cnames.set(n.name, { target: t.name, ttl });
    } else if (type === 33) {
      if (len < 7) return err;
      const t = refName(b, data + 6);
      if (t === undefined || t.next !== at) return err;
      srvs.push({ owner: n.name, priority: u16(data), weight: u16(data + 2), port: u16(data + 4), target: t.name, ttl });
    }
  }
  const out = { id: u16(0), rcode: b[3] & 15, truncated: (b[2] & 2) !== 0, question, answers: [] as Addr[], srv: [] as Srv[], glue: [] as (Addr & { name: string })[] };
  const limit = new Map<string, number>();
  if (question !== undefined) {
    limit.set(question.name, Infinity);
    for (let name = question.name, hop = 0; hop < 16; hop++) {
      const c = cnames.get(name);
      if (c === undefined || limit.has(c.target)) break;
      limit.set(c.target, Math.min(limit.get(name) as number, c.ttl));
      name = c.target;
    }
  }
  for (const x of records) {
    const l = question === undefined ? (x.extra ? undefined : Infinity) : x.extra ? undefined : limit.get(x.owner);
    if (l !== undefined) out.answers.push({ type: x.type, ttl: Math.min(x.ttl, l), address: x.address });
    else if (question !== undefined || x.extra) out.glue.push({ name: x.owner, type: x.type, ttl: x.ttl, address: x.address });
  }
  for (const { owner, ...x } of srvs) {
    const l = question === undefined ? Infinity : limit.get(owner);
    if (l !== undefined) out.srv.push({ ...x, ttl: Math.min(x.ttl, l) });
  }
  return out;
}

function checkResponse(input: Uint8Array): Behaviour {
  const got = decodeResponse(input);
  ensure(same(decodeResponse(view(input).view), got), "a view at an offset decodes differently");
  const ref = referenceDecode(input);
  if ("error" in got) {
    ensure(typeof got.error === "string" && got.error !== "", "empty error");
    ensure("error" in ref, () => `plb: ${got.error}; the reference decodes ${show(ref)}`);
    return { kind: "error", reason: got.error.replace(/^answer \d+: /, "answer: ") };
  }
  ensure(!("error" in ref), () => `plb decodes ${show(got)}; the reference calls it malformed`);
  const mine = { id: got.id, rcode: got.rcode, truncated: got.truncated, question: got.question, answers: got.answers, srv: got.srv, glue: got.glue };
  ensure(same(mine, ref), () => `plb ${show(mine)}, the reference ${show(ref)}`);
  ensure(got.answers.length + got.srv.length + got.glue.length <= input.length / 11 && [...got.answers, ...got.srv, ...got.glue].every((a) => a.ttl >= 0 && a.ttl <= 0x7fffffff), "answers out of bounds");
  return { kind: "done" };
}

const UTF8 = new TextDecoder();
const ENC = new TextEncoder();

function queryName(r: Rng): Uint8Array {
  const labels = Array.from({ length: between(r, 1, 5) }, () =>
    pick(r, ["www", "example", "com", "a", "", "xn--bcher-kva", "bücher", "UPPER", "a".repeat(63), "a".repeat(64), "dot\\.ted", "sp ace", "\x01", "é".repeat(32)]));
  if (chance(r, 0.05)) labels.push(...Array.from({ length: 5 }, () => "b".repeat(between(r, 40, 63))));
  return ENC.encode(labels.join(".") + (chance(r, 0.3) ? "." : ""));
}

function checkQuery(input: Uint8Array): Behaviour {
  const name = UTF8.decode(input);
  const h = hashBytes(input);
  const id = h & 0xffff, type = ([1, 28, 33] as const)[(h >>> 16) % 3];
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const labels = trimmed.split(".").map((l) => ENC.encode(l));
  const valid = trimmed !== "" && labels.every((l) => l.length >= 1 && l.length <= 63) && labels.reduce((n, l) => n + l.length + 1, 1) <= 255;
  let q: Uint8Array;
  try {
    q = encodeQuery(id, name, type);
  } catch (e) {
    ensure(e instanceof RangeError, () => `encodeQuery threw ${String(e)}`);
    ensure(!valid, () => `encodeQuery rejects ${show(name)}: ${String(e)}`);
    return { kind: "error", reason: (e as Error).message.replace(/"[\s\S]*"/, "<name>") };
  }
  ensure(valid, () => `encodeQuery accepts ${show(name)}`);
  const want = [id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels.flatMap((l) => [l.length, ...l]), 0, type >> 8, type & 0xff, 0, 1];
  ensure(same(q, Uint8Array.from(want)), () => `query bytes for ${show(name)}`);
  const resp = q.slice();
  resp[2] |= 0x80;
  const d = decodeResponse(resp);
  ensure(!("error" in d) && same(d.question, { name: labels.map(label).join("."), type }) && d.answers.length === 0 && d.id === id, () => `the query as a response: ${show(d)}`);
  return { kind: "done" };
}

export const dnsResponse: Target = {
  name: "dns-response",
  generate: response,
  mutate: mutateResponse,
  dict: ["\xc0\x0c", "\x00", "\x00\x01\x00\x01", "\x00\x05\x00\x01", "\x00\x1c\x00\x01", "\x3f", "\x40", "\x80"],
  binary: true,
  maxLen: 4096,
  check: checkResponse,
  run: (input) => decodeResponse(input),
};

export const dnsQuery: Target = {
  name: "dns-query",
  generate: queryName,
  dict: [".", "..", "a".repeat(63), "é", "\\", "xn--"],
  binary: false,
  maxLen: 600,
  check: checkQuery,
  run: (input) => {
    try {
      return encodeQuery(1, UTF8.decode(input), 1);
    } catch {
      return undefined;
    }
  },
};
