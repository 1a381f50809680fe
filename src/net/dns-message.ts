/**
 * DNS wire format (RFC 1035, RFC 3596, RFC 2782): just enough to ask for
 * A/AAAA and SRV records and read the answer. Pure functions, no I/O. `decodeResponse`
 * never throws: every read is bounds-checked and malformed input becomes
 * `{ error }`.
 */

export const TYPE_A = 1;
export const TYPE_CNAME = 5;
export const TYPE_AAAA = 28;
export const TYPE_SRV = 33;
const CLASS_IN = 1;

export type AddressType = typeof TYPE_A | typeof TYPE_AAAA;
/** What plb asks for. */
export type QueryType = AddressType | typeof TYPE_SRV;

export interface DnsAnswer {
  type: AddressType;
  /** Seconds; for an answer reached through CNAMEs, the smallest TTL on the chain. */
  ttl: number;
  address: string;
}

/** One SRV record (RFC 2782) of the question name. */
export interface SrvAnswer {
  priority: number;
  weight: number;
  port: number;
  /** Lowercased, no trailing dot; "" for "." (the service is decidedly not available there). */
  target: string;
  ttl: number;
}

/** An A/AAAA record of another name (an SRV target's, from the answer or additional section). */
export interface GlueAnswer extends DnsAnswer {
  name: string;
}

export interface DnsResponse {
  id: number;
  rcode: number;
  truncated: boolean;
  /** The first question, lowercased, no trailing dot; absent if the response has none. */
  question?: { name: string; type: number };
  /** A/AAAA records for the question name or any name its CNAME chain reaches. */
  answers: DnsAnswer[];
  /** SRV records for the question name or its CNAME chain (TTL limited by the chain's). */
  srv: SrvAnswer[];
  /** A/AAAA records of names off the chain (answer and additional sections), e.g. SRV targets. */
  glue: GlueAnswer[];
}

export type DecodeResult = DnsResponse | { error: string };

/** Response codes worth naming in error messages. */
export const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
};

const MAX_NAME = 255; // wire length, RFC 1035 §3.1
const MAX_CHAIN = 16; // CNAME hops followed inside one response

/**
 * A standard recursive query (RD set) for `name`. Throws RangeError on a
 * name that cannot be put on the wire (empty label, label > 63 bytes,
 * name > 255 bytes); a trailing dot is allowed.
 */
export function encodeQuery(id: number, name: string, type: QueryType): Uint8Array {
  const qname = encodeName(name);
  const out = new Uint8Array(12 + qname.length + 4);
  put16(out, 0, id & 0xffff);
  put16(out, 2, 0x0100); // RD
  put16(out, 4, 1); // QDCOUNT
  out.set(qname, 12);
  put16(out, 12 + qname.length, type);
  put16(out, 14 + qname.length, CLASS_IN);
  return out;
}

function encodeName(name: string): Uint8Array {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  if (trimmed === "") throw new RangeError("empty name");
  const utf8 = new TextEncoder();
  const parts: Uint8Array[] = trimmed.split(".").map((label) => utf8.encode(label));
  let size = 1;
  for (const p of parts) {
    if (p.length === 0) throw new RangeError(`empty label in "${name}"`);
    if (p.length > 63) throw new RangeError(`label longer than 63 bytes in "${name}"`);
    size += p.length + 1;
  }
  if (size > MAX_NAME) throw new RangeError(`name longer than 255 bytes: "${name}"`);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out[at++] = p.length;
    out.set(p, at);
    at += p.length;
  }
  out[at] = 0;
  return out;
}

/** Parse a DNS response. Returns `{ error }` for anything malformed. */
export function decodeResponse(bytes: Uint8Array): DecodeResult {
  if (bytes.length < 12) return { error: `short message (${bytes.length} bytes)` };
  const flags = get16(bytes, 2);
  if ((flags & 0x8000) === 0) return { error: "not a response (QR bit clear)" };
  const id = get16(bytes, 0);
  const rcode = flags & 0x000f;
  const truncated = (flags & 0x0200) !== 0;
  const qdcount = get16(bytes, 4);
  const ancount = get16(bytes, 6);
  const nscount = get16(bytes, 8);
  const arcount = get16(bytes, 10);

  let at = 12;
  let question: DnsResponse["question"];
  for (let i = 0; i < qdcount; i++) {
    const n = readName(bytes, at);
    if ("error" in n) return { error: `question: ${n.error}` };
    if (n.next + 4 > bytes.length) return { error: "question: truncated" };
    if (i === 0) question = { name: n.name, type: get16(bytes, n.next) };
    at = n.next + 4;
  }

  const cnames = new Map<string, { target: string; ttl: number }>();
  const records: { owner: string; type: AddressType; ttl: number; address: string; extra: boolean }[] = [];
  const srvs: (SrvAnswer & { owner: string })[] = [];
  // Answers, then the authority section (skipped) and the additional one (addresses only).
  const total = ancount + nscount + arcount;
  for (let i = 0; i < total; i++) {
    const section = i < ancount ? "answer" : i < ancount + nscount ? "authority" : "additional";
    const label = `${section} ${section === "answer" ? i : section === "authority" ? i - ancount : i - ancount - nscount}`;
    const n = readName(bytes, at);
    // Past the answers, a malformed record ends the reading, not the message (its answers stand).
    if ("error" in n) {
      if (section === "answer") return { error: `${label}: ${n.error}` };
      break;
    }
    at = n.next;
    if (at + 10 > bytes.length) {
      if (section === "answer") return { error: `${label}: truncated header` };
      break;
    }
    const type = get16(bytes, at);
    const klass = get16(bytes, at + 2);
    const rawTtl = get32(bytes, at + 4);
    const ttl = rawTtl > 0x7fffffff ? 0 : rawTtl; // RFC 2181 §8: top bit set means 0
    const rdlen = get16(bytes, at + 8);
    const rdata = at + 10;
    at = rdata + rdlen;
    if (at > bytes.length) {
      if (section === "answer") return { error: `${label}: truncated data` };
      break;
    }
    if (klass !== CLASS_IN || section === "authority") continue;
    if (type === TYPE_A && rdlen === 4) {
      records.push({ owner: n.name, type, ttl, address: bytes.subarray(rdata, at).join("."), extra: section !== "answer" });
    } else if (type === TYPE_AAAA && rdlen === 16) {
      records.push({ owner: n.name, type, ttl, address: formatIPv6(bytes.subarray(rdata, at)), extra: section !== "answer" });
    } else if (section !== "answer") {
      continue;
    } else if (type === TYPE_CNAME) {
      const t = readName(bytes, rdata);
      if ("error" in t) return { error: `${label}: CNAME target: ${t.error}` };
      if (t.next !== at) return { error: `${label}: CNAME length mismatch` };
      cnames.set(n.name, { target: t.name, ttl });
    } else if (type === TYPE_SRV) {
      if (rdlen < 7) return { error: `${label}: SRV record too short` };
      // RFC 2782 forbids compressing the target; servers do it anyway, so accept it.
      const t = readName(bytes, rdata + 6);
      if ("error" in t) return { error: `${label}: SRV target: ${t.error}` };
      if (t.next !== at) return { error: `${label}: SRV length mismatch` };
      srvs.push({ owner: n.name, priority: get16(bytes, rdata), weight: get16(bytes, rdata + 2), port: get16(bytes, rdata + 4), target: t.name, ttl });
    }
  }

  let answers: DnsAnswer[];
  let srv: SrvAnswer[];
  let glue: GlueAnswer[];
  if (question === undefined) {
    answers = records.filter((r) => !r.extra).map(({ type, ttl, address }) => ({ type, ttl, address }));
    srv = srvs.map(({ owner: _, ...r }) => r);
    glue = records.filter((r) => r.extra).map(({ owner, type, ttl, address }) => ({ name: owner, type, ttl, address }));
  } else {
    // Follow the chain from the question name; each name on it may own records.
    const chainTtl = new Map<string, number>([[question.name, Number.MAX_SAFE_INTEGER]]);
    let name = question.name;
    for (let hop = 0; hop < MAX_CHAIN; hop++) {
      const c = cnames.get(name);
      if (c === undefined || chainTtl.has(c.target)) break; // end, or a loop
      chainTtl.set(c.target, Math.min(chainTtl.get(name)!, c.ttl));
      name = c.target;
    }
    answers = [];
    glue = [];
    for (const r of records) {
      const limit = r.extra ? undefined : chainTtl.get(r.owner);
      if (limit !== undefined) answers.push({ type: r.type, ttl: Math.min(r.ttl, limit), address: r.address });
      else glue.push({ name: r.owner, type: r.type, ttl: r.ttl, address: r.address });
    }
    srv = [];
    for (const { owner, ...r } of srvs) {
      const limit = chainTtl.get(owner);
      if (limit !== undefined) srv.push({ ...r, ttl: Math.min(r.ttl, limit) });
    }
  }
  return { id, rcode, truncated, question, answers, srv, glue };
}

type NameResult = { name: string; next: number } | { error: string };

/**
 * Read a possibly compressed name at `start`. `next` is the offset after
 * the name as it appears at `start`. Each pointer must point strictly
 * before the start of the stretch it ends, so the jump targets strictly
 * decrease and following them always terminates.
 */
function readName(bytes: Uint8Array, start: number): NameResult {
  const labels: string[] = [];
  let at = start;
  let next = -1; // set at the first pointer
  let segment = start; // where the current uncompressed stretch began
  let wire = 1;
  for (;;) {
    if (at >= bytes.length) return { error: "name runs past end" };
    const len = bytes[at]!;
    if (len === 0) {
      if (next < 0) next = at + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (at + 1 >= bytes.length) return { error: "pointer runs past end" };
      const target = ((len & 0x3f) << 8) | bytes[at + 1]!;
      if (target >= segment) return { error: "compression pointer does not point backwards" };
      if (next < 0) next = at + 2;
      at = segment = target;
      continue;
    }
    if (kind !== 0) return { error: `unsupported label type 0x${kind.toString(16)}` };
    wire += len + 1;
    if (wire > MAX_NAME) return { error: "name longer than 255 bytes" };
    if (at + 1 + len > bytes.length) return { error: "label runs past end" };
    labels.push(asciiLabel(bytes.subarray(at + 1, at + 1 + len)));
    at += 1 + len;
  }
  return { name: labels.join("."), next };
}

/** Lowercased label; bytes outside printable ASCII (and dots) are escaped as \DDD. */
function asciiLabel(b: Uint8Array): string {
  let s = "";
  for (const c of b) {
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) s += String.fromCharCode(c).toLowerCase();
    else s += "\\" + c.toString().padStart(3, "0");
  }
  return s;
}

/** RFC 5952 text form: lowercase, no leading zeros, longest zero run (≥ 2 groups) as "::". */
export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return hex(groups.slice(0, bestStart)) + "::" + hex(groups.slice(bestStart + bestLen));
}

function get16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function get32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v & 0xff;
}
