import { describe, expect, test } from "bun:test";
import { ChunkedScanner, type ChunkedOptions } from "../src/http/chunked.ts";
import type { ChunkResult } from "../src/http/types.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

type Outcome = { kind: "more"; consumed: number } | { kind: "done"; consumed: number } | { kind: "error"; pos: number; reason: string; status: number };

/**
 * Run a scanner over `pieces` (each a separate buffer scanned in a window
 * with bytes around it, so offsets matter) and express the outcome in
 * offsets of the whole input.
 */
function run(input: Uint8Array, cuts: number[], opts?: ChunkedOptions): Outcome {
  const sc = new ChunkedScanner(opts);
  let at = 0;
  let total = 0;
  for (const cut of [...cuts, input.length]) {
    if (cut <= at) continue;
    // Surround the piece with junk so the scanner must respect start/end.
    const pad = 3;
    const buf = new Uint8Array(cut - at + 2 * pad).fill(0x5a);
    buf.set(input.subarray(at, cut), pad);
    const r: ChunkResult = sc.scan(buf, pad, pad + cut - at);
    if (r.kind === "error") return { ...r, pos: r.pos - pad + at };
    total += r.consumed;
    if (r.kind === "done") return { kind: "done", consumed: total };
    expect(r.consumed).toBe(cut - at);
    at = cut;
  }
  return { kind: "more", consumed: total };
}

/** Whole, one byte at a time and in random pieces: the same outcome. */
function scan(s: string, opts?: ChunkedOptions): Outcome {
  const input = bytes(s);
  const whole = run(input, [], opts);
  expect(run(input, Array.from({ length: input.length }, (_, i) => i + 1), opts)).toEqual(whole);
  let seed = input.length + 17;
  const cuts: number[] = [];
  for (let n = 0; n < input.length; ) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    cuts.push((n = Math.min(input.length, n + 1 + (seed % 9))));
  }
  expect(run(input, cuts, opts)).toEqual(whole);
  return whole;
}

const ok = (s: string, consumed = s.length, opts?: ChunkedOptions) => expect(scan(s, opts)).toEqual({ kind: "done", consumed });

function bad(s: string, reason: string, pos?: number, status = 400, opts?: ChunkedOptions): void {
  const r = scan(s, opts);
  if (r.kind !== "error") throw new Error(`expected an error (${reason}), got ${JSON.stringify(r)}`);
  expect(r.reason).toContain(reason);
  expect(r.status).toBe(status);
  if (pos !== undefined) expect(r.pos).toBe(pos);
}

describe("valid chunked bodies", () => {
  test("chunks, the last chunk, the end, and what follows is not consumed", () => {
    ok("5\r\nhello\r\n0\r\n\r\n");
    ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 26);
    ok("0\r\n\r\n");
    ok("000\r\n\r\n");
    ok("A\r\n0123456789\r\na\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n");
    ok("0000000000000010\r\n0123456789abcdef\r\n0\r\n\r\n"); // 16 digits
  });

  test("chunk data may hold anything, CRLF included", () => {
    ok("6\r\n\r\n0\r\n\r\r\n0\r\n\r\n");
    ok("4\r\n\x00\xff\n\r\r\n0\r\n\r\n");
  });

  test("extensions: tokens, quoted strings, BWS around ; and =", () => {
    ok("5;a\r\nhello\r\n0\r\n\r\n");
    ok("5;a=b;c=\"x y\\\"z\"\r\nhello\r\n0;last\r\n\r\n");
    ok("5 ;a\r\nhello\r\n0\r\n\r\n");
    ok("5\t; a = b ; c\r\nhello\r\n0\r\n\r\n");
    ok("5;a=\"\"\r\nhello\r\n0\r\n\r\n");
  });

  test("trailer fields", () => {
    ok("5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Other:\r\n\r\n");
    ok("0\r\nA: b \t c\xe9\r\n\r\nnext", 16);
    ok("0\r\nHosts: x\r\nContent-Type: y\r\nX-Content-Length: 1\r\n\r\n");
  });

  test("large sizes are skipped without reading the data", () => {
    const sc = new ChunkedScanner();
    expect(sc.scan(bytes("1fffffffffffff\r\n"), 0, 16)).toEqual({ kind: "more", consumed: 16 });
    const data = new Uint8Array(1 << 20);
    for (let i = 0; i < 64; i++) expect(sc.scan(data, 0, data.length)).toEqual({ kind: "more", consumed: 1 << 20 });
    const small = new ChunkedScanner();
    const body = bytes(`100000\r\n${"x".repeat(0x100000)}\r\n0\r\n\r\n`);
    expect(small.scan(body, 0, body.length)).toEqual({ kind: "done", consumed: body.length });
    expect(sc.done).toBe(false);
  });

  test("reset() makes the scanner ready for the next body; scanned counts bytes", () => {
    const sc = new ChunkedScanner();
    const b = bytes("1\r\na\r\n0\r\n\r\n");
    expect(sc.scan(b, 0, b.length)).toEqual({ kind: "done", consumed: b.length });
    expect(sc.done).toBe(true);
    expect(sc.scanned).toBe(b.length);
    expect(sc.scan(b, 0, b.length).kind).toBe("error");
    expect(sc.done).toBe(true);
    sc.reset();
    expect(sc.scan(b, 0, b.length)).toEqual({ kind: "done", consumed: b.length });
  });

  test("an empty window is more with nothing consumed", () => {
    expect(new ChunkedScanner().scan(bytes("5"), 1, 1)).toEqual({ kind: "more", consumed: 0 });
  });
});

describe("invalid chunked bodies", () => {
  const cases: [string, string, string, number?][] = [
    ["hex prefix", "0x5\r\nhello\r\n0\r\n\r\n", "invalid character in chunk size", 1],
    ["plus sign", "+5\r\nhello\r\n0\r\n\r\n", "invalid chunk size", 0],
    ["minus sign", "-5\r\nhello\r\n0\r\n\r\n", "invalid chunk size", 0],
    ["leading space", " 5\r\nhello\r\n0\r\n\r\n", "whitespace before chunk size", 0],
    ["leading tab", "\t5\r\nhello\r\n0\r\n\r\n", "whitespace before chunk size", 0],
    ["trailing space", "5 \r\nhello\r\n0\r\n\r\n", "whitespace at the end of a chunk line", 2],
    ["trailing space after an extension value", "5;a=b \r\nhello\r\n0\r\n\r\n", "whitespace at the end", 6],
    ["space after an extension name", "5;a \r\nhello\r\n0\r\n\r\n", "invalid chunk extension", 4],
    ["empty size", "\r\nhello\r\n0\r\n\r\n", "empty chunk size", 0],
    ["non-hex digit", "5g\r\nhello\r\n0\r\n\r\n", "invalid character in chunk size", 1],
    ["size overflow (17 digits)", "ffffffffffffffffff\r\n", "chunk size too large", 13],
    ["size over 2^53-1", "20000000000000\r\n", "chunk size too large", 13],
    ["17 digits with leading zeros", "00000000000000005\r\nhello\r\n0\r\n\r\n", "chunk size too large", 16],
    ["bare LF after size", "5\nhello\r\n0\r\n\r\n", "bare LF", 1],
    ["bare CR after size", "5\rhello\r\n0\r\n\r\n", "bare CR after chunk size", 2],
    ["missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", "missing CRLF after chunk data", 8],
    ["data longer than the size", "3\r\nhello\r\n0\r\n\r\n", "missing CRLF after chunk data", 6],
    ["LF only after data", "5\r\nhello\n0\r\n\r\n", "missing CRLF after chunk data", 8],
    ["CR only after data", "5\r\nhello\r0\r\n\r\n", "bare CR", 9],
    ["bare LF ending the body", "0\r\n\n", "bare LF", 3],
    ["empty extension name", "5;\r\nhello\r\n0\r\n\r\n", "invalid chunk extension name", 2],
    ["extension name with a bad character", "5;a@b\r\nhello\r\n0\r\n\r\n", "invalid chunk extension name", 3],
    ["missing extension value", "5;a=\r\nhello\r\n0\r\n\r\n", "invalid chunk extension value", 4],
    ["unterminated quoted value", "5;a=\"x\r\nhello\r\n0\r\n\r\n", "invalid character in chunk extension", 6],
    ["quoted value followed by a token", "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", "invalid chunk extension value", 7],
    ["NUL in an extension", "5;a=b\x00\r\nhello\r\n0\r\n\r\n", "invalid chunk extension value", 5],
    ["trailer with obs-fold", "0\r\nA: b\r\n c\r\n\r\n", "obsolete line folding", 9],
    ["trailer with space before colon", "0\r\nA : b\r\n\r\n", "whitespace between trailer field name and colon", 4],
    ["trailer without colon", "0\r\nAb\r\n\r\n", "without a colon", 5],
    ["trailer with empty name", "0\r\n: b\r\n\r\n", "empty trailer field name", 3],
    ["trailer with NUL", "0\r\nA: b\x00\r\n\r\n", "NUL in trailer field value", 7],
    ["trailer with a bare CR", "0\r\nA: b\rc\r\n\r\n", "bare CR in trailer field value", 8],
    ["trailer with a bare LF", "0\r\nA: b\n\r\n", "bare LF", 7],
    ["bare CR after the trailer section", "0\r\n\rX", "bare CR after trailer section", 4],
    ["Content-Length in trailers", "0\r\ncontent-LENGTH: 5\r\n\r\n", "framing or routing field in trailers", 17],
    ["Transfer-Encoding in trailers", "0\r\nTransfer-Encoding: chunked\r\n\r\n", "framing or routing field in trailers", 20],
    ["Host in trailers", "0\r\nHost: evil\r\n\r\n", "framing or routing field in trailers", 7],
    ["Content_Length in trailers", "0\r\nContent_Length: 5\r\n\r\n", "framing or routing field in trailers", 17],
  ];
  for (const [name, input, reason, pos] of cases) test(name, () => bad(input, reason, pos));

  test("extensions over the limit: 1 KiB by default, configurable", () => {
    ok(`5;${"a".repeat(1020)}\r\nhello\r\n0\r\n\r\n`);
    bad(`5;${"a".repeat(1030)}\r\nhello\r\n0\r\n\r\n`, "chunk extensions too long", 1025);
    bad("5;aaaaaaaaaa\r\nhello\r\n0\r\n\r\n", "chunk extensions too long", 5, 400, { maxExtension: 4 });
    // The limit is per chunk line.
    ok(`5;${"a".repeat(1000)}\r\nhello\r\n5;${"b".repeat(1000)}\r\nhello\r\n0\r\n\r\n`);
  });

  test("trailer section over its limits: 431 (502 for a response)", () => {
    bad(`0\r\nX: ${"a".repeat(100)}\r\n\r\n`, "trailer section too large", 3 + 50, 431, { maxTrailerBytes: 50 });
    bad("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", "too many trailer fields", 15, 431, { maxTrailers: 2 });
    bad(`0\r\nX: ${"a".repeat(100)}\r\n\r\n`, "trailer section too large", 3 + 50, 502, { maxTrailerBytes: 50, response: true });
  });

  test("response bodies: every error is a 502", () => {
    bad("0x5\r\n", "invalid character in chunk size", 1, 502, { response: true });
    bad("5\r\nhelloX", "missing CRLF", 8, 502, { response: true });
  });

  test("after an error the scanner stays failed", () => {
    const sc = new ChunkedScanner();
    expect(sc.scan(bytes("x"), 0, 1).kind).toBe("error");
    const r = sc.scan(bytes("0\r\n\r\n"), 0, 5);
    expect(r.kind === "error" && r.reason).toContain("already rejected");
  });
});
