import { describe, expect, test } from "bun:test";
import { type Endpoint, parseProxyHeader, type ProxyFamily, type ProxyResult, type ProxyTlv, proxyV1, proxyV2 } from "../src/net/proxy-protocol.ts";

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b);
/** Bytes from hex, spaces ignored. */
const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g) ?? [], (h) => parseInt(h, 16));
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
};
const ep = (address: string, port: number): Endpoint => ({ address, port });

const SIG = "0d0a0d0a 000d0a51 5549540a";

/**
 * The result for the whole input, checked against every prefix fed one byte
 * at a time: a prefix gives "more" or the same result, and never an error
 * before the offending byte has arrived.
 */
function parse(input: string | Uint8Array): ProxyResult {
  const buf = typeof input === "string" ? ascii(input) : input;
  const whole = parseProxyHeader(buf);
  for (let k = 0; k < buf.length; k++) {
    const r: ProxyResult = parseProxyHeader(buf.slice(0, k));
    if (r.kind !== "more") expect(r as ProxyResult).toEqual(whole);
    if (whole.kind === "error" && k <= whole.pos) expect(r.kind).toBe("more");
    if (whole.kind === "done" && k < whole.consumed) expect(r.kind).toBe("more");
  }
  return whole;
}

function bad(input: string | Uint8Array, reason: string, pos: number): void {
  const r = parse(input);
  if (r.kind !== "error") throw new Error(`expected an error (${reason}), got ${JSON.stringify(r)}`);
  expect(r.reason).toContain(reason);
  expect(r.pos).toBe(pos);
}

describe("proxyV1", () => {
  test("TCP4, the spec's example", () => {
    expect(text(proxyV1(ep("192.168.0.1", 56324), ep("192.168.0.11", 443)))).toBe("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    expect(text(proxyV1(ep("1.2.3.4", 1234), ep("5.6.7.8", 80)))).toBe("PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n");
    expect(text(proxyV1(ep("0.0.0.0", 0), ep("255.255.255.255", 65535)))).toBe("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
  });

  test("TCP6 in RFC 5952 form", () => {
    expect(text(proxyV1(ep("2001:0DB8:0000:0000:0000:0000:0000:0001", 1234), ep("::1", 25)))).toBe("PROXY TCP6 2001:db8::1 ::1 1234 25\r\n");
    expect(text(proxyV1(ep("[::1]", 1), ep("fe80::1%eth0", 2)))).toBe("PROXY TCP6 ::1 fe80::1 1 2\r\n");
    expect(text(proxyV1(ep("1:0:0:2:0:0:0:3", 1), ep("0:0:1:0:0:2:3:4", 2)))).toBe("PROXY TCP6 1:0:0:2::3 ::1:0:0:2:3:4 1 2\r\n");
    expect(text(proxyV1(ep("1:0:2:3:4:5:6:7", 1), ep("1::", 2)))).toBe("PROXY TCP6 1:0:2:3:4:5:6:7 1:: 1 2\r\n");
    const max = proxyV1(ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535), ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535));
    expect(max.length).toBe(104); // the spec's longest TCP6 line
  });

  test("IPv4-mapped IPv6 is written as IPv4; mixed families become TCP6 with the IPv4 side mapped", () => {
    expect(text(proxyV1(ep("::ffff:127.0.0.2", 40000), ep("::ffff:127.0.0.1", 25)))).toBe("PROXY TCP4 127.0.0.2 127.0.0.1 40000 25\r\n");
    expect(text(proxyV1(ep("::FFFF:7f00:2", 40000), ep("127.0.0.1", 25)))).toBe("PROXY TCP4 127.0.0.2 127.0.0.1 40000 25\r\n");
    expect(text(proxyV1(ep("127.0.0.2", 40000), ep("::1", 25)))).toBe("PROXY TCP6 ::ffff:7f00:2 ::1 40000 25\r\n");
    expect(text(proxyV1(ep("2001:db8::5", 40000), ep("::ffff:10.0.0.1", 25)))).toBe("PROXY TCP6 2001:db8::5 ::ffff:a00:1 40000 25\r\n");
  });

  test("anything but an IP literal and a port 0-65535 throws", () => {
    for (const a of ["localhost", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.0.0.1", "", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", ":1::", "::1.2.3.04", "undefined"])
      expect(() => proxyV1(ep(a, 1), ep("1.2.3.4", 2))).toThrow(RangeError);
    for (const p of [-1, 65536, 1.5, NaN]) {
      expect(() => proxyV1(ep("1.2.3.4", p), ep("1.2.3.4", 2))).toThrow(RangeError);
      expect(() => proxyV2(ep("1.2.3.4", 1), ep("1.2.3.4", p))).toThrow(RangeError);
    }
  });
});

describe("proxyV2", () => {
  test("TCP over IPv4: the bytes HAProxy sends", () => {
    expect(proxyV2(ep("172.19.0.1", 42578), ep("172.19.0.3", 80))).toEqual(hex(`${SIG} 21 11 000c ac130001 ac130003 a652 0050`));
  });

  test("TCP over IPv6", () => {
    expect(proxyV2(ep("2001:db8::1", 1234), ep("::1", 25))).toEqual(
      hex(`${SIG} 21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 04d2 0019`),
    );
  });

  test("mapped and mixed addresses", () => {
    expect(proxyV2(ep("::ffff:127.0.0.2", 40000), ep("::ffff:127.0.0.1", 25))).toEqual(hex(`${SIG} 21 11 000c 7f000002 7f000001 9c40 0019`));
    expect(proxyV2(ep("127.0.0.2", 40000), ep("::1", 25))).toEqual(
      hex(`${SIG} 21 21 0024 00000000000000000000ffff7f000002 00000000000000000000000000000001 9c40 0019`),
    );
  });
});

describe("parseProxyHeader: v1", () => {
  test("TCP4 and TCP6; what follows is not consumed", () => {
    const line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    expect(parse(line + "GET / HTTP/1.1\r\n")).toEqual({
      kind: "done", consumed: line.length, version: 1, command: "PROXY", family: "TCP4",
      src: ep("192.168.0.1", 56324), dst: ep("192.168.0.11", 443), tlvs: [],
    });
    expect(parse("PROXY TCP6 2001:DB8:0:0::1 ::ffff:127.0.0.2 0 65535\r\nEHLO")).toMatchObject({
      kind: "done", consumed: 53, family: "TCP6", src: ep("2001:db8::1", 0), dst: ep("::ffff:127.0.0.2", 65535),
    });
  });

  test("UNKNOWN, short and with ignored fields up to the 107-byte maximum", () => {
    expect(parse("PROXY UNKNOWN\r\n")).toEqual({ kind: "done", consumed: 15, version: 1, command: "PROXY", family: "UNKNOWN", tlvs: [] });
    const f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const worst = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`;
    expect(worst.length).toBe(107);
    expect(parse(worst)).toMatchObject({ kind: "done", consumed: 107, family: "UNKNOWN" });
  });

  test("no CRLF within 107 bytes", () => {
    const f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    bad(`PROXY UNKNOWN ${f} ${f} 65535 655355\r\n`, "without CRLF in its first 107 bytes", 106);
    bad("PROXY TCP4 " + "1".repeat(200), "without CRLF in its first 107 bytes", 106);
  });

  test("wrong signature", () => {
    bad("GET / HTTP/1.1\r\n", "not a PROXY protocol header", 0);
    bad("PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY protocol header", 4);
    bad("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY protocol header", 0);
    bad("PROXY\r\n", "not a PROXY protocol header", 5);
    bad(hex("16030100"), "not a PROXY protocol header", 0);
  });

  test("bad protocol, spacing and line ends", () => {
    bad("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN", 6);
    bad("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN", 6);
    bad("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN", 6);
    bad("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "single spaces", 19);
    bad("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "single spaces", 28);
    bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "unexpected data", 30);
    bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "unexpected data", 30);
    bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bare LF", 30);
    bad("PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "bare CR", 18);
    bad("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "invalid character", 18);
    bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n", "invalid character", 30);
  });

  test("bad addresses and ports", () => {
    const v4 = (s: string, d: string, sp = "1", dp = "2") => `PROXY TCP4 ${s} ${d} ${sp} ${dp}\r\n`;
    bad(v4("1.2.3", "5.6.7.8"), "invalid IPv4 source address", 11);
    bad(v4("256.2.3.4", "5.6.7.8"), "invalid IPv4 source address", 11);
    bad(v4("01.2.3.4", "5.6.7.8"), "invalid IPv4 source address", 11);
    bad(v4("1.2.3.4", "::1"), "invalid IPv4 destination address", 19);
    bad(v4("1.2.3.4", "5.6.7.8", "65536"), "invalid source port", 27);
    bad(v4("1.2.3.4", "5.6.7.8", "080"), "invalid source port", 27);
    bad(v4("1.2.3.4", "5.6.7.8", "1", "-2"), "invalid destination port", 29);
    bad(v4("1.2.3.4", "5.6.7.8", "1", "0x10"), "invalid destination port", 29);
    const v6 = (s: string, d: string) => `PROXY TCP6 ${s} ${d} 1 2\r\n`;
    bad(v6("1.2.3.4", "::1"), "invalid IPv6 source address", 11);
    bad(v6("::1", "fe80::1%eth0"), "invalid IPv6 destination address", 15);
    bad(v6("1:2:3:4:5:6:7:8:9", "::1"), "invalid IPv6 source address", 11);
    bad(v6("1::2::3", "::1"), "invalid IPv6 source address", 11);
    bad(v6("12345::1", "::1"), "invalid IPv6 source address", 11);
    bad(v6("1:2:3:4:5:6:7", "::1"), "invalid IPv6 source address", 11);
    bad(v6("::g", "::1"), "invalid IPv6 source address", 11);
  });
});

describe("parseProxyHeader: v2", () => {
  test("the known vectors", () => {
    expect(parse(hex(`${SIG} 21 11 000c ac130001 ac130003 a652 0050 474554`))).toEqual({
      kind: "done", consumed: 28, version: 2, command: "PROXY", family: "TCP4", src: ep("172.19.0.1", 42578), dst: ep("172.19.0.3", 80), tlvs: [],
    });
    expect(parse(hex(`${SIG} 21 21 0024 20010db8000000000000000000000001 00000000000000000000ffff7f000002 04d2 0019`))).toEqual({
      kind: "done", consumed: 52, version: 2, command: "PROXY", family: "TCP6", src: ep("2001:db8::1", 1234), dst: ep("::ffff:127.0.0.2", 25), tlvs: [],
    });
    expect(parse(hex(`${SIG} 21 12 000c 01020304 05060708 0035 0035`))).toMatchObject({ family: "UDP4", src: ep("1.2.3.4", 53) });
    expect(parse(hex(`${SIG} 21 22 0024 ${"00".repeat(15)}01 ${"00".repeat(15)}02 0001 0002`))).toMatchObject({ family: "UDP6", dst: ep("::2", 2) });
  });

  test("LOCAL, UNSPEC and UNIX carry no addresses; LOCAL skips whatever block it has", () => {
    const none = { version: 2 as const, tlvs: [] as ProxyTlv[], kind: "done" as const };
    expect(parse(hex(`${SIG} 20 00 0000`))).toEqual({ ...none, consumed: 16, command: "LOCAL", family: "UNKNOWN" });
    expect(parse(hex(`${SIG} 20 11 000c 7f000001 7f000001 1234 0019`))).toEqual({ ...none, consumed: 28, command: "LOCAL", family: "UNKNOWN" });
    expect(parse(hex(`${SIG} 20 ff 0002 abcd`))).toEqual({ ...none, consumed: 18, command: "LOCAL", family: "UNKNOWN" });
    expect(parse(hex(`${SIG} 21 00 0003 010203`))).toEqual({ ...none, consumed: 19, command: "PROXY", family: "UNKNOWN" });
    expect(parse(hex(`${SIG} 21 31 00d8 ${"00".repeat(216)}`))).toEqual({ ...none, consumed: 232, command: "PROXY", family: "UNIX" });
  });

  test("TLVs are returned in order and skipped by consumed", () => {
    const r = parse(hex(`${SIG} 21 11 0014 01020304 05060708 0001 0002 01 0002 6832 04 0000 ffff`));
    expect(r).toMatchObject({ kind: "done", consumed: 36, family: "TCP4" });
    if (r.kind !== "done") throw new Error("unreachable");
    expect(r.tlvs).toEqual([{ type: 1, value: ascii("h2") }, { type: 4, value: new Uint8Array(0) }]);
  });

  test("malformed headers", () => {
    bad(hex(`0d0a0d0a 000d0a51 5549540d 21 11 000c`), "not a PROXY protocol header", 11);
    bad(hex(`0d0a0d0a 00`).fill(0x0a, 4), "not a PROXY protocol header", 4);
    bad(hex(`0d0d`), "not a PROXY protocol header", 1);
    bad(hex(`${SIG} 11 11 000c`), "unsupported PROXY protocol version 1", 12);
    bad(hex(`${SIG} 22 11 000c`), "unknown PROXY v2 command 2", 12);
    bad(hex(`${SIG} 21 41 000c`), "invalid PROXY v2 address family", 13);
    bad(hex(`${SIG} 21 13 000c`), "invalid PROXY v2 address family", 13);
    bad(hex(`${SIG} 21 10 000c`), "invalid PROXY v2 address family", 13);
    bad(hex(`${SIG} 21 11 0008 01020304 05060708`), "too short for TCP4", 14);
    bad(hex(`${SIG} 21 21 000c ${"00".repeat(12)}`), "too short for TCP6", 14);
    bad(hex(`${SIG} 21 11 000e 01020304 05060708 0001 0002 0100`), "truncated PROXY v2 TLV", 28);
    bad(hex(`${SIG} 21 11 0010 01020304 05060708 0001 0002 01 0002 68`), "TLV longer than the header", 29);
  });

  test("truncated headers need more, however far the length reaches", () => {
    const full = hex(`${SIG} 21 11 000c ac130001 ac130003 a652 0050`);
    for (let k = 0; k < full.length; k++) expect(parseProxyHeader(full.subarray(0, k))).toEqual({ kind: "more" });
    expect(parseProxyHeader(hex(`${SIG} 21 11 ffff ${"00".repeat(1000)}`))).toEqual({ kind: "more" });
  });
});

describe("round trips", () => {
  const cases: [Endpoint, Endpoint, ProxyFamily, Endpoint, Endpoint][] = [
    [ep("1.2.3.4", 1234), ep("5.6.7.8", 80), "TCP4", ep("1.2.3.4", 1234), ep("5.6.7.8", 80)],
    [ep("::ffff:127.0.0.2", 40000), ep("::ffff:127.0.0.1", 25), "TCP4", ep("127.0.0.2", 40000), ep("127.0.0.1", 25)],
    [ep("2001:db8::1", 0), ep("[::1]", 65535), "TCP6", ep("2001:db8::1", 0), ep("::1", 65535)],
    [ep("127.0.0.2", 40000), ep("::1", 25), "TCP6", ep("::ffff:127.0.0.2", 40000), ep("::1", 25)],
    [ep("fe80::a:b%lo", 1), ep("::ffff:10.1.2.3", 2), "TCP6", ep("fe80::a:b", 1), ep("::ffff:10.1.2.3", 2)],
  ];

  test("write, then parse (both versions, byte by byte)", () => {
    for (const [s, d, family, ps, pd] of cases)
      for (const [version, write] of [[1, proxyV1], [2, proxyV2]] as const) {
        const bytes = write(s, d);
        expect(parse(cat(bytes, ascii("220 x\r\n")))).toEqual({ kind: "done", consumed: bytes.length, version, command: "PROXY", family, src: ps, dst: pd, tlvs: [] });
      }
  });

  test("random addresses survive both versions unchanged", () => {
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const v6 = () => {
      // Mostly-zero words so "::" compression is exercised.
      const w = Array.from({ length: 8 }, () => (rnd(3) === 0 ? rnd(65536) : 0));
      return w.map((x) => x.toString(16)).join(":");
    };
    for (let i = 0; i < 500; i++) {
      const six = rnd(2) === 1;
      const a = six ? v6() : Array.from({ length: 4 }, () => rnd(256)).join(".");
      const b = six ? v6() : Array.from({ length: 4 }, () => rnd(256)).join(".");
      const s = ep(a, rnd(65536)), d = ep(b, rnd(65536));
      const r1 = parseProxyHeader(proxyV1(s, d));
      const r2 = parseProxyHeader(proxyV2(s, d));
      if (r1.kind !== "done" || r2.kind !== "done") throw new Error(`${a} ${b}: ${JSON.stringify([r1, r2])}`);
      expect({ ...r2, version: 1, consumed: 0 }).toEqual({ ...r1, consumed: 0 });
      // Re-writing what was parsed gives the same bytes: the text form is canonical.
      expect(proxyV1(r1.src as Endpoint, r1.dst as Endpoint)).toEqual(proxyV1(s, d));
    }
  });
});
