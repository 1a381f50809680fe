/**
 * HPACK (src/http/h2/hpack/): every example of RFC 7541 Appendix C decoded
 * across blocks with the dynamic table checked after each; the encoder
 * reproducing the Huffman request examples byte for byte; every
 * COMPRESSION_ERROR with its offset; the list size limit and the bomb it
 * defuses; the encoder's choices (static indexes, dynamic table, sensitive
 * fields, size updates); random lists round trip. Interop with real peers
 * is in http-h2-hpack-interop.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { createDecoder, createEncoder, type Decoder } from "../src/http/h2/hpack/index.ts";
import { huffmanDecode, huffmanEncode, huffmanLength } from "../src/http/h2/hpack/huffman.ts";
import { INT_OVERFLOW, INT_TRUNCATED, intEnd, readInt, writeInt } from "../src/http/h2/hpack/integer.ts";
import { DynamicTable } from "../src/http/h2/hpack/dynamic-table.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const BIG = 1 << 30;
const pairs = (l: string[]) => Array.from({ length: l.length / 2 }, (_, i) => [l[2 * i], l[2 * i + 1]]);

function decodeOk(d: Decoder, block: Uint8Array, max = BIG): string[][] {
  const r = d.decode(block, max);
  if (r.kind !== "done") throw new Error(`expected done, got ${JSON.stringify(r)}`);
  return pairs(r.fields);
}

/** RFC 7541 Appendix C: each block, the list it decodes to, the table after it (newest first) and its size. */
interface Example {
  id: string;
  block: string;
  fields: string[][];
  table: [string, string][];
  size: number;
}

const REQ1 = [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]];
const REQ2 = [...REQ1, ["cache-control", "no-cache"]];
const REQ3 = [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]];
const T1: [string, string][] = [[":authority", "www.example.com"]];
const T2: [string, string][] = [["cache-control", "no-cache"], ...T1];
const T3: [string, string][] = [["custom-key", "custom-value"], ...T2];
const DATE1 = "Mon, 21 Oct 2013 20:13:21 GMT", DATE2 = "Mon, 21 Oct 2013 20:13:22 GMT", LOC = "https://www.example.com";
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const RES1 = [[":status", "302"], ["cache-control", "private"], ["date", DATE1], ["location", LOC]];
const RES2 = [[":status", "307"], ["cache-control", "private"], ["date", DATE1], ["location", LOC]];
const RES3 = [[":status", "200"], ["cache-control", "private"], ["date", DATE2], ["location", LOC], ["content-encoding", "gzip"], ["set-cookie", COOKIE]];
const RT1: [string, string][] = [["location", LOC], ["date", DATE1], ["cache-control", "private"], [":status", "302"]];
const RT2: [string, string][] = [[":status", "307"], ["location", LOC], ["date", DATE1], ["cache-control", "private"]];
const RT3: [string, string][] = [["set-cookie", COOKIE], ["content-encoding", "gzip"], ["date", DATE2]];

const REQUESTS_PLAIN: Example[] = [
  { id: "C.3.1", block: "828684410f7777772e6578616d706c652e636f6d", fields: REQ1, table: T1, size: 57 },
  { id: "C.3.2", block: "828684be58086e6f2d6361636865", fields: REQ2, table: T2, size: 110 },
  { id: "C.3.3", block: "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565", fields: REQ3, table: T3, size: 164 },
];
const REQUESTS_HUFFMAN: Example[] = [
  { id: "C.4.1", block: "828684418cf1e3c2e5f23a6ba0ab90f4ff", fields: REQ1, table: T1, size: 57 },
  { id: "C.4.2", block: "828684be5886a8eb10649cbf", fields: REQ2, table: T2, size: 110 },
  { id: "C.4.3", block: "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", fields: REQ3, table: T3, size: 164 },
];
const RESPONSES_PLAIN: Example[] = [
  {
    id: "C.5.1",
    block: "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
    fields: RES1, table: RT1, size: 222,
  },
  { id: "C.5.2", block: "4803333037c1c0bf", fields: RES2, table: RT2, size: 222 },
  {
    id: "C.5.3",
    block: "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
    fields: RES3, table: RT3, size: 215,
  },
];
const RESPONSES_HUFFMAN: Example[] = [
  { id: "C.6.1", block: "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3", fields: RES1, table: RT1, size: 222 },
  { id: "C.6.2", block: "4883640effc1c0bf", fields: RES2, table: RT2, size: 222 },
  {
    id: "C.6.3",
    block: "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
    fields: RES3, table: RT3, size: 215,
  },
];

describe("RFC 7541 Appendix C", () => {
  test("C.1: integers 10 (5-bit prefix), 1337 (5-bit prefix), 42 (8-bit prefix)", () => {
    const out = new Uint8Array(8);
    expect(toHex(out.subarray(0, writeInt(out, 0, 10, 5, 0)))).toBe("0a");
    expect(toHex(out.subarray(0, writeInt(out, 0, 1337, 5, 0)))).toBe("1f9a0a");
    expect(toHex(out.subarray(0, writeInt(out, 0, 42, 8, 0)))).toBe("2a");
    expect(readInt(hex("1f9a0a"), 0, 3, 5)).toBe(1337);
    expect(intEnd.pos).toBe(3);
    expect(readInt(hex("ea"), 0, 1, 5)).toBe(10); // the bits above the prefix are not the integer's
  });

  test("C.2: one literal of each kind, and an indexed field", () => {
    const d = createDecoder();
    expect(decodeOk(d, hex("400a637573746f6d2d6b65790d637573746f6d2d686561646572"))).toEqual([["custom-key", "custom-header"]]);
    expect(d.tableState()).toEqual({ maxSize: 4096, size: 55, entries: [["custom-key", "custom-header"]] });
    const d2 = createDecoder();
    expect(decodeOk(d2, hex("040c2f73616d706c652f70617468"))).toEqual([[":path", "/sample/path"]]);
    expect(decodeOk(d2, hex("100870617373776f726406736563726574"))).toEqual([["password", "secret"]]);
    expect(decodeOk(d2, hex("82"))).toEqual([[":method", "GET"]]);
    expect(d2.tableState().size).toBe(0);
  });

  for (const [title, examples, tableSize] of [
    ["C.3: requests without Huffman", REQUESTS_PLAIN, 4096],
    ["C.4: requests with Huffman", REQUESTS_HUFFMAN, 4096],
    ["C.5: responses without Huffman, 256-octet table (evictions)", RESPONSES_PLAIN, 256],
    ["C.6: responses with Huffman, 256-octet table (evictions)", RESPONSES_HUFFMAN, 256],
  ] as const) {
    test(`${title}: three blocks on one decoder, table checked after each`, () => {
      const d = createDecoder(tableSize);
      for (const ex of examples) {
        expect([ex.id, decodeOk(d, hex(ex.block))]).toEqual([ex.id, ex.fields]);
        expect([ex.id, d.tableState()]).toEqual([ex.id, { maxSize: tableSize, size: ex.size, entries: ex.table }]);
      }
    });
  }

  test("C.4: plb's encoder writes the Huffman request examples byte for byte, with the same table", () => {
    const e = createEncoder();
    for (const ex of REQUESTS_HUFFMAN) {
      expect([ex.id, toHex(e.encode(ex.fields.flat()))]).toEqual([ex.id, ex.block]);
      expect(e.tableState().entries).toEqual(ex.table);
    }
  });

  test("C.5 and C.6 lists through plb's encoder (256-octet table) decode back, both tables alike after each block", () => {
    const e = createEncoder();
    e.setPeerMaxTableSize(256);
    const d = createDecoder(4096);
    d.setMaxTableSize(256);
    for (const ex of [...RESPONSES_HUFFMAN, ...RESPONSES_PLAIN]) {
      const block = e.encode(ex.fields.flat());
      expect(decodeOk(d, block)).toEqual(ex.fields);
      expect(d.tableState()).toEqual(e.tableState());
    }
    expect(e.tableState().maxSize).toBe(256);
  });

  test("decoding works on a view into a larger buffer (offsets are the block's)", () => {
    const raw = hex(`ffff${REQUESTS_HUFFMAN[0].block}ffff`);
    expect(decodeOk(createDecoder(), raw.subarray(2, raw.length - 2))).toEqual(REQ1);
  });
});

/** Decode `block` on a fresh decoder (after `before` blocks) and return the error. */
function errorOf(block: string, before: string[] = [], setup?: (d: Decoder) => void): { pos: number; reason: string } {
  const d = createDecoder();
  setup?.(d);
  for (const b of before) decodeOk(d, hex(b));
  const r = d.decode(hex(block), BIG);
  if (r.kind !== "error") throw new Error(`expected an error for ${block}, got ${JSON.stringify(r)}`);
  return { pos: r.pos, reason: r.reason };
}

describe("COMPRESSION_ERRORs, with the offset in the block", () => {
  test("Huffman: padding over 7 bits, padding not all ones, EOS in the string", () => {
    // "a" is 00011; "a" + 11 ones of padding: 0x1f 0xff.
    expect(errorOf("82 00 82 1fff 01 61")).toEqual({ pos: 4, reason: "Huffman padding longer than 7 bits or not all ones" });
    // "a" + 110: padding with a zero.
    expect(errorOf("82 00 81 1e 01 61")).toEqual({ pos: 3, reason: "Huffman padding longer than 7 bits or not all ones" });
    // 30 ones: the EOS symbol, completed in the fourth octet.
    expect(errorOf("00 01 61 84 ffffffff")).toEqual({ pos: 7, reason: "Huffman string holds EOS" });
    // EOS in a name, valid symbols after it.
    expect(errorOf("40 86 ffffffff1fff 01 61")).toEqual({ pos: 5, reason: "Huffman string holds EOS" });
    // An empty Huffman string is valid; the same strings with valid padding decode.
    expect(decodeOk(createDecoder(), hex("00 81 1f 80"))).toEqual([["a", ""]]);
  });

  test("index 0 and indexes past the tables (indexed fields and name indexes)", () => {
    expect(errorOf("80")).toEqual({ pos: 0, reason: "index 0" });
    expect(errorOf("8286 80")).toEqual({ pos: 2, reason: "index 0" });
    expect(errorOf("82 be")).toEqual({ pos: 1, reason: "index 62 past the tables (61 static + 0 dynamic entries)" });
    expect(errorOf("bf", [REQUESTS_HUFFMAN[0].block])).toEqual({ pos: 0, reason: "index 63 past the tables (61 static + 1 dynamic entries)" });
    expect(errorOf("82 7e 01 61")).toEqual({ pos: 1, reason: "index 62 past the tables (61 static + 0 dynamic entries)" });
    expect(errorOf("0f2f 01 61")).toEqual({ pos: 0, reason: "index 62 past the tables (61 static + 0 dynamic entries)" });
    expect(errorOf("1f2f 01 61")).toEqual({ pos: 0, reason: "index 62 past the tables (61 static + 0 dynamic entries)" });
    // The last static index and the newest dynamic entry are fine.
    expect(decodeOk(createDecoder(), hex("bd"))).toEqual([["www-authenticate", ""]]);
  });

  test("dynamic table size updates: over our limit, after a field, more than two, missing after we lowered the limit", () => {
    expect(errorOf("3fe21f")).toEqual({ pos: 0, reason: "dynamic table size update to 4097, over our limit 4096" });
    expect(decodeOk(createDecoder(), hex("3fe11f 82"))).toEqual([[":method", "GET"]]); // 4096 itself
    expect(errorOf("82 20")).toEqual({ pos: 1, reason: "dynamic table size update after a field (RFC 7541 §4.2)" });
    expect(errorOf("20 3fe11f 20")).toEqual({ pos: 4, reason: "more than two dynamic table size updates" });
    const lowered = (d: Decoder) => d.setMaxTableSize(100);
    expect(errorOf("82", [], lowered)).toEqual({ pos: 0, reason: "no dynamic table size update after our SETTINGS_HEADER_TABLE_SIZE was lowered" });
    expect(errorOf("3f46 82", [], lowered)).toEqual({ pos: 0, reason: "dynamic table size update to 101, over our limit 100" });
    // An empty block has nothing decoded with the old table: the update stays due for the next block.
    expect(errorOf("82", [""], lowered)).toEqual({ pos: 0, reason: "no dynamic table size update after our SETTINGS_HEADER_TABLE_SIZE was lowered" });
    const d = createDecoder();
    decodeOk(d, hex(REQUESTS_HUFFMAN[0].block));
    d.setMaxTableSize(100);
    expect(decodeOk(d, hex("3f45 be"))).toEqual([[":authority", "www.example.com"]]); // 100 keeps the 57-octet entry
    expect(decodeOk(d, hex("20 82"))).toEqual([[":method", "GET"]]);
    expect(d.tableState()).toEqual({ maxSize: 0, size: 0, entries: [] });
    d.setMaxTableSize(4096); // raised: no update required
    expect(decodeOk(d, hex("82"))).toEqual([[":method", "GET"]]);
  });

  test("truncated and oversized integers", () => {
    expect(errorOf("82 ff")).toEqual({ pos: 1, reason: "truncated index (integer runs past the block)" });
    expect(errorOf("ff8080")).toEqual({ pos: 0, reason: "truncated index (integer runs past the block)" });
    expect(errorOf("3f")).toEqual({ pos: 0, reason: "truncated dynamic table size (integer runs past the block)" });
    expect(errorOf("7f")).toEqual({ pos: 0, reason: "truncated name index (integer runs past the block)" });
    // 2^31 - 1 is the largest integer; 2^31 is over it (as an index, it is past the tables first).
    const int = (v: number) => {
      const out = new Uint8Array(8);
      return toHex(out.subarray(0, writeInt(out, 0, v, 7, 0x80)));
    };
    expect(int(2 ** 31 - 1)).toBe("ff80ffffff07");
    expect(errorOf(int(2 ** 31 - 1))).toEqual({ pos: 0, reason: `index ${2 ** 31 - 1} past the tables (61 static + 0 dynamic entries)` });
    expect(errorOf(int(2 ** 31))).toEqual({ pos: 0, reason: "index over 2^31-1 or with more than 5 continuation octets" });
    expect(errorOf("ffffffffffff0f")).toEqual({ pos: 0, reason: "index over 2^31-1 or with more than 5 continuation octets" });
    // Zero padding: 5 continuation octets are allowed, 6 are not.
    expect(decodeOk(createDecoder(), hex("0f ae80808000 01 61"))).toEqual([["www-authenticate", "a"]]);
    expect(errorOf("0f ae8080808000 01 61")).toEqual({ pos: 0, reason: "name index over 2^31-1 or with more than 5 continuation octets" });
    expect(errorOf("00 7f")).toEqual({ pos: 1, reason: "truncated string length (integer runs past the block)" });
    expect(errorOf("00 01 61 ff8080808080")).toEqual({ pos: 3, reason: "string length over 2^31-1 or with more than 5 continuation octets" });
  });

  test("strings past the end of the block, and missing strings", () => {
    expect(errorOf("82 00 05 6161")).toEqual({ pos: 2, reason: "string length 5 past the end of the block (2 octets left)" });
    expect(errorOf("00 01 61 8a ff")).toEqual({ pos: 3, reason: "string length 10 past the end of the block (1 octets left)" });
    expect(errorOf("00")).toEqual({ pos: 0, reason: "truncated field: no string where one is due" });
    expect(errorOf("00 01 61")).toEqual({ pos: 2, reason: "truncated field: no string where one is due" });
    expect(errorOf("41")).toEqual({ pos: 0, reason: "truncated field: no string where one is due" });
  });

  test("after an error the decoder refuses every later block (its table is out of sync)", () => {
    const d = createDecoder();
    expect(d.decode(hex("80"), BIG).kind).toBe("error");
    expect(d.decode(hex("82"), BIG)).toEqual({ kind: "error", pos: 0, reason: "the decoder failed on an earlier block" });
  });
});

describe("the list size limit (RFC 9113 §6.5.2)", () => {
  test("a list at the limit is done; one octet less is tooLarge with the full size, and the table still follows", () => {
    const block = hex(REQUESTS_HUFFMAN[0].block);
    const exact = 42 + 43 + 38 + 57; // :method GET, :scheme http, :path /, :authority www.example.com: name + value + 32 each
    expect(createDecoder().decode(block, exact)).toMatchObject({ kind: "done" });
    const d = createDecoder();
    expect(d.decode(block, exact - 1)).toEqual({ kind: "tooLarge", size: exact });
    expect(d.tableState().entries).toEqual(T1);
    expect(decodeOk(d, hex(REQUESTS_HUFFMAN[1].block))).toEqual(REQ2);
  });

  test("a bomb (one 4000-octet entry referenced 100,000 times) is tooLarge at once, in bounded time and memory", () => {
    const value = "x".repeat(4000);
    // Literal with indexing: name "a", value of 4000 octets (length 127 + 3873: 0x7f 0xa1 0x1e).
    const head = [0x40, 1, 0x61, 0x7f, 0xa1, 0x1e, ...Buffer.from(value)];
    const block = new Uint8Array(head.length + 100_000);
    block.set(head);
    block.fill(0xbe, head.length);
    const d = createDecoder();
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    const started = performance.now();
    const r = d.decode(block, 65536);
    const ms = performance.now() - started;
    const grew = process.memoryUsage().heapUsed - before;
    expect(r).toEqual({ kind: "tooLarge", size: 100_001 * (1 + 4000 + 32) });
    expect(ms).toBeLessThan(2000);
    expect(grew).toBeLessThan(8 << 20);
    expect(d.tableState().size).toBe(4033);
  });
});

describe("the encoder", () => {
  const encodeHex = (fields: string[], e = createEncoder()) => toHex(e.encode(fields));

  test("static table fields are one octet; static names are name indexes", () => {
    expect(encodeHex([":status", "200", ":status", "404", ":method", "GET", ":path", "/", "accept-encoding", "gzip, deflate"])).toBe("888d828490");
    // content-type: static name 31, indexed (0x40 | 31 = 0x5f 0x00? no: 31 < 63, so 0x5f), Huffman value.
    expect(encodeHex(["content-type", "text/html"]).slice(0, 2)).toBe("5f");
  });

  test("fields repeated across blocks come from the dynamic table", () => {
    const e = createEncoder();
    const response = [":status", "200", "server", "plb", "content-type", "text/html; charset=utf-8", "vary", "accept-encoding"];
    const first = e.encode(response);
    const second = e.encode(response);
    expect(toHex(second)).toBe("88c0bfbe"); // :status 200, then the three entries (vary, the newest, is 62)
    expect(first.length).toBeGreaterThan(20);
    const d = createDecoder();
    expect(decodeOk(d, first)).toEqual(pairs(response));
    expect(decodeOk(d, second)).toEqual(pairs(response));
  });

  test("a name with several values in the table: each value is found again", () => {
    const e = createEncoder();
    const d = createDecoder();
    const a = ["content-type", "text/html", "x-v", "1"], b = ["content-type", "text/css", "x-v", "2"], c = ["content-type", "image/png", "x-v", "3"];
    for (const l of [a, b, c]) decodeOk(d, e.encode(l));
    // Each list again is two indexed octets (newest entries have the lowest indexes).
    expect(toHex(e.encode(a))).toBe("c3c2");
    expect(toHex(e.encode(c))).toBe("bfbe");
    expect(toHex(e.encode(b))).toBe("c1c0");
    expect(decodeOk(d, hex("c3c2"))).toEqual(pairs(a));
  });

  test("values that change per message are literals without indexing; large values are not indexed", () => {
    const e = createEncoder();
    const block = e.encode([":path", "/a/b?c=1", "content-length", "123", "etag", '"abc"', "set-cookie", "id=1", "x-big", "v".repeat(1100)]);
    expect(e.tableState().entries).toEqual([]);
    expect(decodeOk(createDecoder(), block)).toEqual([[":path", "/a/b?c=1"], ["content-length", "123"], ["etag", '"abc"'], ["set-cookie", "id=1"], ["x-big", "v".repeat(1100)]]);
    expect(block[0] & 0xf0).toBe(0x00); // :path: literal without indexing, static name 4
  });

  test("a block larger than the output buffer (a 200 KB value), then small ones again", () => {
    const e = createEncoder();
    const d = createDecoder();
    const big = "b".repeat(200_000);
    expect(decodeOk(d, e.encode(["x-big", big, "server", "plb"]))).toEqual([["x-big", big], ["server", "plb"]]);
    expect(decodeOk(d, e.encode(["server", "plb"]))).toEqual([["server", "plb"]]);
    expect(e.encode(["server", "plb"]).length).toBe(1);
  });

  test("sensitive fields are never indexed (0x10), even the second time", () => {
    const e = createEncoder();
    const fields = ["authorization", "Bearer abc", "cookie", "a=1", "proxy-authorization", "Basic x"];
    for (let i = 0; i < 2; i++) {
      const b = e.encode(fields);
      expect(b[0] & 0xf0).toBe(0x10);
      expect(decodeOk(createDecoder(), b)).toEqual(pairs(fields));
    }
    expect(e.tableState().entries).toEqual([]);
    const longCookie = "session=" + "q".repeat(40);
    e.encode(["cookie", longCookie]);
    expect(e.tableState().entries).toEqual([["cookie", longCookie]]);
  });

  test("Huffman only when shorter; octets above 0x7f and control octets survive; a char above 0xff is a RangeError", () => {
    const e = createEncoder();
    const odd = "\x00\x7f\x80\xff\r\n\xe9";
    const b = e.encode(["x-odd", odd, "x-text", "hello"]);
    expect(decodeOk(createDecoder(), b)).toEqual([["x-odd", odd], ["x-text", "hello"]]);
    expect(huffmanLength(odd)).toBeGreaterThan(odd.length); // so it went raw
    expect(() => createEncoder().encode(["x", "\u0100"])).toThrow(RangeError);
  });

  test("a lowered peer table size: the next block starts with the update and the table shrinks; lowered then raised: two updates", () => {
    const e = createEncoder();
    const d = createDecoder();
    decodeOk(d, e.encode(["server", "plb"]));
    e.setPeerMaxTableSize(0);
    const b = e.encode(["server", "plb"]);
    expect(b[0]).toBe(0x20);
    expect(decodeOk(d, b)).toEqual([["server", "plb"]]);
    expect(e.tableState()).toEqual({ maxSize: 0, size: 0, entries: [] });
    expect(d.tableState()).toEqual(e.tableState());
    e.setPeerMaxTableSize(100);
    e.setPeerMaxTableSize(50);
    e.setPeerMaxTableSize(65536); // we use at most 4096
    const c = e.encode(["server", "plb"]);
    expect(toHex(c.subarray(0, 5))).toBe("3f133fe11f"); // 50, then 4096
    expect(decodeOk(d, c)).toEqual([["server", "plb"]]);
    expect(d.tableState()).toEqual(e.tableState());
    expect(e.tableState().maxSize).toBe(4096);
    e.setPeerMaxTableSize(4096); // no change: no update
    expect(e.encode([":status", "200"])[0]).toBe(0x88);
  });
});

/** A deterministic generator (xorshift). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

describe("round trips", () => {
  test("random lists over 200 blocks (peer table size changes, all octets) decode back, tables in step", () => {
    const r = rng(42);
    const int = (n: number) => Math.floor(r() * n);
    const names = [":status", ":path", "server", "content-type", "cookie", "authorization", "x-custom", "date", "set-cookie", "accept", "etag", "vary"];
    const e = createEncoder();
    const d = createDecoder();
    for (let block = 0; block < 200; block++) {
      if (int(20) === 0) {
        const n = [0, 64, 256, 4096, 100_000][int(5)];
        e.setPeerMaxTableSize(n);
        d.setMaxTableSize(Math.min(n, 4096) === 4096 ? 4096 : n);
      }
      const fields: string[] = [];
      for (let f = int(12); f > 0; f--) {
        const name = int(4) === 0 ? String.fromCharCode(...Array.from({ length: 1 + int(10) }, () => 97 + int(26))) : names[int(names.length)];
        const value = int(3) === 0 ? String.fromCharCode(...Array.from({ length: int(300) }, () => int(256))) : ["200", "plb", "text/html", "a=b", "", "/x"][int(6)];
        fields.push(name, value);
      }
      const out = e.encode(fields);
      expect(decodeOk(d, out)).toEqual(pairs(fields));
      expect(d.tableState().entries).toEqual(e.tableState().entries);
    }
  });

  test("Huffman: every octet value, and random strings, encode and decode back", () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    const r = rng(7);
    for (const s of [all, "", "a", ...Array.from({ length: 300 }, () => String.fromCharCode(...Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256))))]) {
      const n = huffmanLength(s);
      const out = new Uint8Array(n + 4);
      expect(huffmanEncode(s, out, 2)).toBe(2 + n);
      const back = new Uint8Array(s.length + 8);
      const end = huffmanDecode(out, 2, 2 + n, back, 1);
      expect(Buffer.from(back.subarray(1, end)).toString("latin1")).toBe(s);
    }
  });

  test("integers: every prefix, values around each boundary, and the bounds", () => {
    const out = new Uint8Array(8);
    for (let prefix = 1; prefix <= 8; prefix++)
      for (const v of [0, 1, (1 << prefix) - 2, (1 << prefix) - 1, 1 << prefix, 127, 128, 300, 16383, 16384, 2 ** 21, 2 ** 28, 2 ** 31 - 1]) {
        const end = writeInt(out, 0, v, prefix, 0);
        expect([prefix, v, readInt(out, 0, end, prefix), intEnd.pos]).toEqual([prefix, v, v, end]);
        if (end > 1) expect(readInt(out, 0, end - 1, prefix)).toBe(INT_TRUNCATED);
      }
    expect(readInt(hex("1f e1 ff ff ff 07"), 0, 6, 5)).toBe(INT_OVERFLOW);
  });

  test("the dynamic table: a ring that grows, evicts oldest first, and an entry larger than the table empties it", () => {
    const evicted: number[] = [];
    const t = new DynamicTable(32 * 40, (abs) => evicted.push(abs));
    for (let i = 0; i < 100; i++) t.add("", String(i % 10)); // 33 octets each: 38 fit
    expect(t.length).toBe(38);
    expect([t.value(0), t.value(37)]).toEqual(["9", "2"]);
    expect(evicted.slice(0, 3)).toEqual([0, 1, 2]);
    t.setMaxSize(33 * 2);
    expect(t.entries()).toEqual([["", "9"], ["", "8"]]);
    t.add("n", "v".repeat(100));
    expect([t.length, t.size]).toEqual([0, 0]);
  });
});
