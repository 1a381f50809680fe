import { describe, expect, test } from "bun:test";
import { decodeResponse, encodeQuery, formatIPv6 } from "../src/net/dns-message.ts";
import type { DnsResponse } from "../src/net/dns-message.ts";

/** Wire form of a name, uncompressed. */
function wireName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split(".")) out.push(label.length, ...Array.from(label, (c) => c.charCodeAt(0)));
  return [...out, 0];
}

const u16 = (n: number) => [n >>> 8, n & 0xff];
const u32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

interface Rr {
  owner: number[];
  type: number;
  ttl: number;
  rdata: number[];
  klass?: number;
}

/** A response: header + one question + answers; owners and rdata are raw wire bytes. */
function response(opts: { id?: number; flags?: number; qname?: string; qtype?: number; answers?: Rr[] }): Uint8Array {
  const { id = 0xbeef, flags = 0x8180, qname = "www.example.com", qtype = 1, answers = [] } = opts;
  const bytes = [...u16(id), ...u16(flags), ...u16(1), ...u16(answers.length), 0, 0, 0, 0];
  bytes.push(...wireName(qname), ...u16(qtype), ...u16(1));
  for (const rr of answers) {
    bytes.push(...rr.owner, ...u16(rr.type), ...u16(rr.klass ?? 1), ...u32(rr.ttl), ...u16(rr.rdata.length), ...rr.rdata);
  }
  return new Uint8Array(bytes);
}

const PTR_QNAME = [0xc0, 12]; // the question name always starts at offset 12

function ok(r: ReturnType<typeof decodeResponse>): DnsResponse {
  if ("error" in r) throw new Error(`unexpected decode error: ${r.error}`);
  return r;
}

describe("encodeQuery", () => {
  test("exact bytes: id, RD flag, one question, QTYPE, class IN", () => {
    expect([...encodeQuery(0x1234, "a.bc", 1)]).toEqual([
      0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 97, 2, 98, 99, 0, 0, 1, 0, 1,
    ]);
    const aaaa = encodeQuery(0xffff, "a.bc.", 28);
    expect(aaaa.length).toBe(22);
    expect([...aaaa.subarray(0, 2)]).toEqual([0xff, 0xff]);
    expect([...aaaa.subarray(18, 20)]).toEqual([0, 28]);
  });

  test("rejects names that cannot go on the wire", () => {
    for (const bad of ["", ".", "a..b", ".a", `${"x".repeat(64)}.com`, Array(130).fill("ab").join(".")]) {
      expect(() => encodeQuery(1, bad, 1)).toThrow(RangeError);
    }
    expect(() => encodeQuery(1, `${"x".repeat(63)}.com`, 1)).not.toThrow();
  });

  test("a query turned into a response decodes with the same question", () => {
    const q = encodeQuery(777, "Db.Internal", 1);
    const r = new Uint8Array([...q, ...PTR_QNAME, ...u16(1), ...u16(1), ...u32(60), ...u16(4), 10, 0, 0, 7]);
    r[2] = 0x81; // QR + RD
    r[7] = 1; // ANCOUNT
    const d = ok(decodeResponse(r));
    expect(d.id).toBe(777);
    expect(d.question).toEqual({ name: "db.internal", type: 1 });
    expect(d.answers).toEqual([{ type: 1, ttl: 60, address: "10.0.0.7" }]);
  });
});

describe("decodeResponse", () => {
  test("A and AAAA answers, header fields", () => {
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const d = ok(
      decodeResponse(
        response({
          answers: [
            { owner: PTR_QNAME, type: 1, ttl: 300, rdata: [192, 0, 2, 1] },
            { owner: PTR_QNAME, type: 28, ttl: 200, rdata: v6 },
          ],
        }),
      ),
    );
    expect(d).toMatchObject({ id: 0xbeef, rcode: 0, truncated: false });
    expect(d.answers).toEqual([
      { type: 1, ttl: 300, address: "192.0.2.1" },
      { type: 28, ttl: 200, address: "2001:db8::1" },
    ]);
  });

  test("rcode, TC bit, QR bit", () => {
    expect(ok(decodeResponse(response({ flags: 0x8183 }))).rcode).toBe(3);
    expect(ok(decodeResponse(response({ flags: 0x8380 }))).truncated).toBe(true);
    expect(decodeResponse(response({ flags: 0x0100 }))).toEqual({ error: "not a response (QR bit clear)" });
  });

  test("uncompressed owner names and case-insensitive matching", () => {
    const d = ok(decodeResponse(response({ answers: [{ owner: wireName("WWW.Example.COM"), type: 1, ttl: 5, rdata: [1, 2, 3, 4] }] })));
    expect(d.answers.map((a) => a.address)).toEqual(["1.2.3.4"]);
  });

  test("CNAME chain is followed; TTL is the smallest on the chain; strangers are ignored", () => {
    // question www.example.com → CNAME a.example.net → CNAME b.example.net → A
    const r = response({
      answers: [
        { owner: PTR_QNAME, type: 5, ttl: 30, rdata: [...wireName("a.example.net")] },
        // owner "a.example.net" is at offset 12+17+4+12 = 45; target "b" + pointer to "example.net" (offset 47)
        { owner: [0xc0, 45], type: 5, ttl: 100, rdata: [1, 98, 0xc0, 47] },
        { owner: wireName("b.example.net"), type: 1, ttl: 300, rdata: [10, 1, 1, 1] },
        { owner: wireName("other.example"), type: 1, ttl: 300, rdata: [10, 9, 9, 9] },
      ],
    });
    expect(ok(decodeResponse(r)).answers).toEqual([{ type: 1, ttl: 30, address: "10.1.1.1" }]);
  });

  test("a CNAME loop inside a response ends without answers", () => {
    const r = response({
      qname: "a.x",
      answers: [
        { owner: PTR_QNAME, type: 5, ttl: 30, rdata: wireName("b.x") },
        { owner: wireName("b.x"), type: 5, ttl: 30, rdata: wireName("a.x") },
      ],
    });
    expect(ok(decodeResponse(r)).answers).toEqual([]);
  });

  test("skips other classes, odd rdata lengths and other types; TTL with top bit is 0", () => {
    const d = ok(
      decodeResponse(
        response({
          answers: [
            { owner: PTR_QNAME, type: 1, ttl: 9, rdata: [1, 1, 1, 1], klass: 3 },
            { owner: PTR_QNAME, type: 1, ttl: 9, rdata: [1, 1, 1, 1, 1] },
            { owner: PTR_QNAME, type: 16, ttl: 9, rdata: [3, 97, 98, 99] },
            { owner: PTR_QNAME, type: 1, ttl: 0x80000000, rdata: [2, 2, 2, 2] },
          ],
        }),
      ),
    );
    expect(d.answers).toEqual([{ type: 1, ttl: 0, address: "2.2.2.2" }]);
  });

  test("compression pointer loops and forward pointers are errors", () => {
    const self = response({ answers: [{ owner: [0xc0, 33], type: 1, ttl: 1, rdata: [1, 1, 1, 1] }] }); // points at itself
    expect(decodeResponse(self)).toHaveProperty("error");
    const fwd = response({ answers: [{ owner: [0xc0, 50], type: 1, ttl: 1, rdata: [1, 1, 1, 1] }] });
    expect(decodeResponse(fwd)).toHaveProperty("error");
    // A label then a pointer back to the label: 33: [1 'a' 0xc0 33] loops via a backwards pointer.
    const sneaky = response({ answers: [{ owner: [1, 97, 0xc0, 33], type: 1, ttl: 1, rdata: [1, 1, 1, 1] }] });
    expect(decodeResponse(sneaky)).toHaveProperty("error");
    const labelType = response({ answers: [{ owner: [0x41, 0], type: 1, ttl: 1, rdata: [1, 1, 1, 1] }] });
    expect(decodeResponse(labelType)).toHaveProperty("error");
  });

  test("names over 255 bytes are errors", () => {
    const long = Array(64).fill(wireName("abc").slice(0, -1)).flat(); // 64 × 4 bytes
    const r = response({ answers: [{ owner: [...long, 0], type: 1, ttl: 1, rdata: [1, 1, 1, 1] }] });
    expect(decodeResponse(r)).toHaveProperty("error");
  });

  test("every truncation of a response is an error, never a throw", () => {
    const full = response({
      answers: [
        { owner: PTR_QNAME, type: 5, ttl: 30, rdata: [1, 97, 0xc0, 12] },
        { owner: wireName("a.www.example.com"), type: 28, ttl: 1, rdata: Array(16).fill(1) },
      ],
    });
    expect(ok(decodeResponse(full)).answers).toHaveLength(1);
    for (let n = 0; n < full.length; n++) {
      const r = decodeResponse(full.subarray(0, n));
      expect(r).toHaveProperty("error");
    }
  });

  test("any single corrupted byte or random input never throws", () => {
    const base = response({
      answers: [
        { owner: PTR_QNAME, type: 5, ttl: 30, rdata: [1, 97, 0xc0, 12] },
        { owner: [0xc0, 45], type: 1, ttl: 1, rdata: [1, 2, 3, 4] },
      ],
    });
    for (let i = 0; i < base.length; i++) {
      for (const v of [0, 1, 0x3f, 0x40, 0x80, 0xc0, 0xc0 | 0x3f, 0xff, base[i]! + 1]) {
        const b = base.slice();
        b[i] = v & 0xff;
        expect(() => decodeResponse(b)).not.toThrow();
      }
    }
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 16) & 0xff;
    for (let k = 0; k < 3000; k++) {
      const b = new Uint8Array(rand() % 96);
      for (let i = 0; i < b.length; i++) b[i] = rand();
      if (b.length > 3) b[2]! |= 0x80; // mostly "responses", to get past the header check
      expect(() => decodeResponse(b)).not.toThrow();
    }
  });
});

/** A response with answer, authority and additional sections (raw records). */
function sections(opts: { qname: string; qtype: number; answers?: Rr[]; authority?: Rr[]; additional?: Rr[]; flags?: number }): Uint8Array {
  const { answers = [], authority = [], additional = [] } = opts;
  const bytes = [...u16(0x5151), ...u16(opts.flags ?? 0x8180), ...u16(1), ...u16(answers.length), ...u16(authority.length), ...u16(additional.length)];
  bytes.push(...wireName(opts.qname), ...u16(opts.qtype), ...u16(1));
  for (const rr of [...answers, ...authority, ...additional]) {
    bytes.push(...rr.owner, ...u16(rr.type), ...u16(rr.klass ?? 1), ...u32(rr.ttl), ...u16(rr.rdata.length), ...rr.rdata);
  }
  return new Uint8Array(bytes);
}

const srvData = (priority: number, weight: number, port: number, target: number[]) => [...u16(priority), ...u16(weight), ...u16(port), ...target];

/** _http._tcp.web.test: two targets, one written out, one compressed against it; their addresses as glue; an SOA-like authority record. */
function srvExample(): { bytes: Uint8Array; answersEnd: number } {
  const qname = "_http._tcp.web.test";
  const targetAt = 12 + wireName(qname).length + 4 + 2 + 10 + 6; // the first SRV record's target, in its rdata
  const answers: Rr[] = [
    { owner: PTR_QNAME, type: 33, ttl: 30, rdata: srvData(10, 60, 8080, wireName("a.web.test")) },
    { owner: PTR_QNAME, type: 33, ttl: 20, rdata: srvData(20, 0, 8081, [1, 98, 0xc0, targetAt + 2]) }, // "b" + ".web.test"
  ];
  const head = sections({ qname, qtype: 33, answers }).length;
  const bytes = sections({
    qname,
    qtype: 33,
    answers,
    authority: [{ owner: [0xc0, targetAt + 2], type: 6, ttl: 5, rdata: [0, 0, 1, 2, 3] }],
    additional: [
      { owner: [0xc0, targetAt], type: 1, ttl: 15, rdata: [127, 0, 0, 2] },
      { owner: wireName("b.web.test"), type: 28, ttl: 40, rdata: [...Array(15).fill(0), 1] },
      { owner: [0], type: 41, ttl: 0, rdata: [] }, // EDNS OPT pseudo-record: not an address
    ],
  });
  return { bytes, answersEnd: head };
}

describe("SRV (RFC 2782)", () => {
  test("encodeQuery asks for type 33", () => {
    const q = encodeQuery(9, "_http._tcp.web.test", 33);
    expect([...q.subarray(q.length - 4)]).toEqual([0, 33, 0, 1]);
  });

  test("records with priority, weight, port and a (compressed) target; targets' addresses from the additional section", () => {
    const d = ok(decodeResponse(srvExample().bytes));
    expect(d.question).toEqual({ name: "_http._tcp.web.test", type: 33 });
    expect(d.answers).toEqual([]);
    expect(d.srv).toEqual([
      { priority: 10, weight: 60, port: 8080, target: "a.web.test", ttl: 30 },
      { priority: 20, weight: 0, port: 8081, target: "b.web.test", ttl: 20 },
    ]);
    expect(d.glue).toEqual([
      { name: "a.web.test", type: 1, ttl: 15, address: "127.0.0.2" },
      { name: "b.web.test", type: 28, ttl: 40, address: "::1" },
    ]);
  });

  test("the target \".\" (no service here) decodes as an empty target", () => {
    const d = ok(decodeResponse(sections({ qname: "_x._tcp.t", qtype: 33, answers: [{ owner: PTR_QNAME, type: 33, ttl: 1, rdata: srvData(0, 0, 0, [0]) }] })));
    expect(d.srv).toEqual([{ priority: 0, weight: 0, port: 0, target: "", ttl: 1 }]);
  });

  test("SRV records of other names are not answers; through a CNAME they are, with the chain's TTL", () => {
    const qname = "_x._tcp.alias.test";
    const cnameTarget = wireName("_x._tcp.real.test");
    const d = ok(
      decodeResponse(
        sections({
          qname,
          qtype: 33,
          answers: [
            { owner: wireName("_x._tcp.other.test"), type: 33, ttl: 9, rdata: srvData(1, 1, 1, wireName("o.test")) },
            { owner: PTR_QNAME, type: 5, ttl: 7, rdata: cnameTarget },
            { owner: cnameTarget, type: 33, ttl: 60, rdata: srvData(1, 5, 443, wireName("r.test")) },
          ],
        }),
      ),
    );
    expect(d.srv).toEqual([{ priority: 1, weight: 5, port: 443, target: "r.test", ttl: 7 }]);
  });

  test("addresses in the answer section for names off the chain are glue, not answers", () => {
    const d = ok(
      decodeResponse(
        sections({
          qname: "_x._tcp.t",
          qtype: 33,
          answers: [
            { owner: PTR_QNAME, type: 33, ttl: 5, rdata: srvData(1, 1, 80, wireName("h.t")) },
            { owner: wireName("h.t"), type: 1, ttl: 5, rdata: [10, 0, 0, 1] },
          ],
        }),
      ),
    );
    expect(d.answers).toEqual([]);
    expect(d.glue).toEqual([{ name: "h.t", type: 1, ttl: 5, address: "10.0.0.1" }]);
  });

  test("malformed SRV records are errors: too short, length mismatch, forward pointer, target past the end", () => {
    const one = (rdata: number[]) => decodeResponse(sections({ qname: "_x._tcp.t", qtype: 33, answers: [{ owner: PTR_QNAME, type: 33, ttl: 1, rdata }] }));
    expect(one([0, 1, 0, 1, 0, 80])).toEqual({ error: "answer 0: SRV record too short" });
    expect(one([...srvData(1, 1, 80, wireName("h.t")), 0])).toEqual({ error: "answer 0: SRV length mismatch" });
    expect(one(srvData(1, 1, 80, [0xc0, 0xff]))).toEqual({ error: "answer 0: SRV target: compression pointer does not point backwards" });
    expect(one(srvData(1, 1, 80, [5, 104, 0]))).toHaveProperty("error");
  });

  test("a malformed authority or additional section ends the reading; the answers stand", () => {
    const { bytes } = srvExample();
    const cut = bytes.slice(0, bytes.length - 20); // inside the additional section
    const d = ok(decodeResponse(cut));
    expect(d.srv.map((r) => r.target)).toEqual(["a.web.test", "b.web.test"]);
    const garbage = bytes.slice();
    garbage[srvExample().answersEnd] = 0x80; // the authority record's owner: a reserved label type
    const g = ok(decodeResponse(garbage));
    expect(g.srv).toHaveLength(2);
    expect(g.glue).toEqual([]);
  });

  test("cut one byte at a time: never a throw; an error until the answers are whole, the answers from then on", () => {
    const { bytes, answersEnd } = srvExample();
    for (let n = 0; n < bytes.length; n++) {
      let r: ReturnType<typeof decodeResponse> | undefined;
      expect(() => (r = decodeResponse(bytes.subarray(0, n)))).not.toThrow();
      if (n < answersEnd) expect(r).toHaveProperty("error");
      else expect(ok(r!).srv).toHaveLength(2);
    }
  });

  test("any single corrupted byte never throws", () => {
    const { bytes } = srvExample();
    for (let i = 0; i < bytes.length; i++) {
      for (const v of [0, 1, 0x3f, 0x40, 0x80, 0xc0, 0xff, bytes[i]! + 1]) {
        const b = bytes.slice();
        b[i] = v & 0xff;
        expect(() => decodeResponse(b)).not.toThrow();
      }
    }
  });
});

describe("formatIPv6", () => {
  const v6 = (groups: number[]) => new Uint8Array(groups.flatMap((g) => [g >>> 8, g & 0xff]));
  test("RFC 5952 canonical text", () => {
    expect(formatIPv6(v6([0, 0, 0, 0, 0, 0, 0, 0]))).toBe("::");
    expect(formatIPv6(v6([0, 0, 0, 0, 0, 0, 0, 1]))).toBe("::1");
    expect(formatIPv6(v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]))).toBe("fe80::");
    expect(formatIPv6(v6([1, 0, 2, 3, 4, 5, 6, 7]))).toBe("1:0:2:3:4:5:6:7");
    expect(formatIPv6(v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]))).toBe("2001:db8::1:0:0:1");
    expect(formatIPv6(v6([1, 0, 0, 1, 0, 0, 0, 1]))).toBe("1:0:0:1::1");
    expect(formatIPv6(v6([0xabcd, 0x0ef, 0, 0, 0, 0, 0xffff, 0x0102]))).toBe("abcd:ef::ffff:102");
  });
});
