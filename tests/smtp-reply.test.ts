import { describe, expect, test } from "bun:test";
import { parseReply, ReplyReader, type ReaderResult, type ReplyResult } from "../src/smtp/reply.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Parse growing prefixes cut at `cuts`, passing scanFrom along; the outcome on the last prefix. */
function run(input: Uint8Array, cuts: number[], maxLine?: number, maxReply?: number): ReplyResult {
  let scanFrom = 0;
  for (const cut of [...cuts, input.length]) {
    const r = parseReply(input.slice(0, cut), scanFrom, maxLine, maxReply);
    if (r.kind !== "more") return r;
    expect(r.scanFrom).toBeLessThanOrEqual(cut);
    scanFrom = r.scanFrom;
  }
  return { kind: "more", scanFrom };
}

/** Whole, one byte at a time and in random pieces: the same outcome. */
function parse(input: string | Uint8Array, maxLine?: number, maxReply?: number): ReplyResult {
  const buf = typeof input === "string" ? bytes(input) : input;
  const whole = run(buf, [], maxLine, maxReply);
  expect(run(buf, Array.from({ length: buf.length }, (_, i) => i), maxLine, maxReply)).toEqual(whole);
  let seed = buf.length + 7;
  const cuts: number[] = [];
  for (let n = 0; n < buf.length; ) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    cuts.push((n = Math.min(buf.length, n + 1 + (seed % 7))));
  }
  expect(run(buf, cuts, maxLine, maxReply)).toEqual(whole);
  return whole;
}

function ok(input: string, code: number, lines: string[], enhanced?: string, consumed = input.length): void {
  const want: ReplyResult = { kind: "done", consumed, code, lines };
  if (enhanced !== undefined) want.enhanced = enhanced;
  expect(parse(input)).toEqual(want);
}

function bad(input: string | Uint8Array, reason: string, pos: number, maxLine?: number, maxReply?: number): void {
  const r = parse(input, maxLine, maxReply);
  if (r.kind !== "error") throw new Error(`expected an error (${reason}), got ${JSON.stringify(r)}`);
  expect(r.reason).toContain(reason);
  expect(r.pos).toBe(pos);
}

describe("valid replies", () => {
  test("single-line greetings and replies", () => {
    ok("220 mx.example.org ESMTP Postfix\r\n", 220, ["mx.example.org ESMTP Postfix"]);
    ok("221 2.0.0 Bye\r\n", 221, ["2.0.0 Bye"], "2.0.0");
    ok("354 End data with <CR><LF>.<CR><LF>\r\n", 354, ["End data with <CR><LF>.<CR><LF>"]);
    ok("599 x\r\n", 599, ["x"]);
  });

  test("bare code, empty text after SP or -, tabs kept", () => {
    ok("250\r\n", 250, [""]);
    ok("250 \r\n", 250, [""]);
    ok("250-\r\n250 \r\n", 250, ["", ""]);
    ok("250 a\tb  \r\n", 250, ["a\tb  "]);
    ok("250-first\r\n250\r\n", 250, ["first", ""]);
  });

  test("EHLO-like multi-line reply", () => {
    const ehlo =
      "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n" +
      "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT\r\n250-ENHANCEDSTATUSCODES\r\n" +
      "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
    ok(ehlo, 250, [
      "mx.example.org", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS",
      "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT", "ENHANCEDSTATUSCODES",
      "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING",
    ]);
  });

  test("enhanced status codes (RFC 3463) on multi-line replies", () => {
    ok("250-2.1.0 Ok\r\n250 2.1.0 Sender ok\r\n", 250, ["2.1.0 Ok", "2.1.0 Sender ok"], "2.1.0");
    ok("550-5.7.1 Message rejected\r\n550-5.7.1 see https://example.org/policy\r\n550 5.7.1 bye\r\n", 550,
      ["5.7.1 Message rejected", "5.7.1 see https://example.org/policy", "5.7.1 bye"], "5.7.1");
    ok("250 2.0.0\r\n", 250, ["2.0.0"], "2.0.0");
    ok("452 4.123.456 full\r\n", 452, ["4.123.456 full"], "4.123.456");
  });

  test("text that only looks like an enhanced code is not one", () => {
    ok("250 5.0.0 class differs from the code\r\n", 250, ["5.0.0 class differs from the code"]);
    ok("354 3.0.0 no class 3 exists\r\n", 354, ["3.0.0 no class 3 exists"]);
    ok("250 2.0.0.1 version\r\n", 250, ["2.0.0.1 version"]);
    ok("250 2.0.1234 x\r\n", 250, ["2.0.1234 x"]);
    ok("250 2.0 x\r\n", 250, ["2.0 x"]);
    ok("250-x\r\n250 2.0.0 only on a later line\r\n", 250, ["x", "2.0.0 only on a later line"]);
  });

  test("421 and 554 greetings are replies with their codes (the greeting check refuses them)", () => {
    expect(parse("421 4.3.2 Service not available, closing transmission channel\r\n")).toMatchObject({ kind: "done", code: 421, enhanced: "4.3.2" });
    expect(parse("554 5.7.1 No SMTP service here\r\n")).toMatchObject({ kind: "done", code: 554, enhanced: "5.7.1" });
    expect(parse("220 ready\r\n")).toMatchObject({ kind: "done", code: 220 });
  });

  test("8-bit and UTF-8 text is accepted and decoded as UTF-8", () => {
    const input = utf8("220 smtp.exämple.de ESMTP – grüß dich\r\n");
    expect(parse(input)).toEqual({ kind: "done", consumed: input.length, code: 220, lines: ["smtp.exämple.de ESMTP – grüß dich"] });
    expect(parse(Uint8Array.of(0x32, 0x35, 0x30, 0x20, 0xff, 0x0d, 0x0a))).toMatchObject({ kind: "done", lines: ["\ufffd"] });
  });

  test("only the first reply is consumed; what follows is left alone", () => {
    ok("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n", 250, ["2.1.0 Ok"], "2.1.0", 14);
    ok("220 hi\r\nGARBAGE", 220, ["hi"], undefined, 8);
  });
});

describe("incomplete replies", () => {
  test("need more until the last line's CRLF", () => {
    for (const s of ["", "2", "25", "250", "250-", "250-a", "250-a\r", "250-a\r\n", "250-a\r\n250", "250-a\r\n250 b", "250-a\r\n250 b\r"])
      expect(parse(s)).toEqual({ kind: "more", scanFrom: s.length });
  });

  test("scanFrom resumes inside a line, after a CR, and after complete lines", () => {
    const full = bytes("250-one\r\n250-two\r\n250 three\r\n");
    for (let k = 0; k < full.length; k++) {
      const r = parseReply(full.subarray(0, k));
      expect(r).toEqual({ kind: "more", scanFrom: k });
      expect(parseReply(full, k)).toEqual(parseReply(full));
    }
  });
});

describe("rejected input", () => {
  test("garbage instead of a reply", () => {
    bad("HTTP/1.1 400 Bad Request\r\n", "not an SMTP reply", 0);
    bad("SSH-2.0-OpenSSH_9.6\r\n", "not an SMTP reply", 0);
    bad("\r\n220 late\r\n", "not an SMTP reply", 0);
    bad(" 220 x\r\n", "not an SMTP reply", 0);
    bad("2x0 x\r\n", "invalid reply code", 1);
    bad("22\r\n", "shorter than its code", 2);
    bad("2200 x\r\n", "expected SP", 3);
    bad("220_x\r\n", "expected SP", 3);
    bad(Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0xa5, 0x01), "not an SMTP reply", 0);
    bad(Uint8Array.of(0x32, 0x32, 0x30, 0x20, 0x00, 0x0d, 0x0a), "NUL", 4);
  });

  test("codes outside 200-599", () => {
    bad("100 x\r\n", "1xx reply codes", 0);
    bad("000 x\r\n", "out of range", 0);
    bad("600 x\r\n", "out of range", 0);
    bad("999 x\r\n", "out of range", 0);
  });

  test("control characters in the text", () => {
    bad("220 a\x01b\r\n", "control character", 5);
    bad("220 a\x7fb\r\n", "control character", 5);
    bad("220 a\x1bb\r\n", "control character", 5);
  });

  test("bare LF and bare CR, wherever they appear", () => {
    bad("220 ready\n", "bare LF", 9);
    bad("220\n", "bare LF", 3);
    bad("250-a\r\n250 b\n", "bare LF", 12);
    bad("\n", "bare LF", 0);
    bad("250-a\r\n\n", "bare LF", 7);
    bad("220 a\rb\r\n", "bare CR", 6);
    bad("220\r\r\n", "bare CR", 4);
    bad("220 a\r\r\n", "bare CR", 6);
  });

  test("different codes in one multi-line reply", () => {
    bad("250-a\r\n251 b\r\n", "different reply codes", 9);
    bad("250-a\r\n550 b\r\n", "different reply codes", 7);
    bad("250-a\r\n250-b\r\n25x c\r\n", "invalid reply code", 16);
    bad("250-a\r\nxyz\r\n", "invalid reply code", 7);
    bad("250-a\r\n25\r\n", "shorter than its code", 9);
    bad("250-a\r\n250-b\r\n2500 c\r\n", "expected SP", 17);
  });

  test("over-long lines fail at their (maxLine+1)th byte, before any CRLF", () => {
    const max = "250 " + "x".repeat(994) + "\r\n"; // 1000 bytes with CRLF: allowed
    expect(max.length).toBe(1000);
    expect(parse(max)).toMatchObject({ kind: "done", consumed: 1000 });
    bad("250 " + "x".repeat(995) + "\r\n", "reply line longer than 1000 bytes", 1000);
    bad("250 " + "x".repeat(5000), "reply line longer than 1000 bytes", 1000); // no CRLF yet
    bad("250-ok\r\n250 " + "x".repeat(200), "longer than 100 bytes", 108, 100); // a later line
    bad("250 " + "x".repeat(95) + "\r\n", "longer than 100 bytes", 100, 100); // the LF is byte 101
    expect(parse("250 " + "x".repeat(94) + "\r\n", 100)).toMatchObject({ kind: "done", consumed: 100 });
  });

  test("endless multi-line replies fail at maxReply", () => {
    bad("250-x\r\n".repeat(100), "reply longer than 512 bytes", 512, undefined, 512);
    bad("250-x\r\n".repeat(20000), "reply longer than 65536 bytes", 65536);
  });
});

describe("ReplyReader", () => {
  /** Push `input` in pieces of `step` bytes, calling next() until "more" after each; all results. */
  function read(input: Uint8Array, step: number, maxLine?: number): ReaderResult[] {
    const rd = new ReplyReader(maxLine);
    const out: ReaderResult[] = [];
    for (let i = 0; i < input.length; i += step) {
      rd.push(input.subarray(i, i + step));
      for (let r = rd.next(); r.kind !== "more"; r = rd.next()) {
        out.push(r);
        if (r.kind === "error") return out;
      }
    }
    return out;
  }

  const text = (r: ReaderResult) => (r.kind === "done" ? new TextDecoder().decode(r.raw) : r.kind);

  test("several pipelined replies in one chunk come out one after another, byte-exact", () => {
    const s = "250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 2.1.5 still ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";
    const whole = read(bytes(s), s.length);
    expect(whole.map((r) => (r.kind === "done" ? r.code : r.kind))).toEqual([250, 250, 354]);
    expect(whole.map(text)).toEqual(["250 2.1.0 Ok\r\n", "250-2.1.5 Ok\r\n250 2.1.5 still ok\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"]);
    for (const step of [1, 2, 3, 5, 13]) expect(read(bytes(s), step)).toEqual(whole);
  });

  test("an error stops the stream; its offset counts from the first byte pushed", () => {
    const s = "220 hi\r\n250 ok\r\n250-a\r\n251 b\r\n";
    for (const step of [1, 4, s.length]) {
      const out = read(bytes(s), step);
      expect(out.length).toBe(3);
      expect(out[2]).toEqual({ kind: "error", pos: 25, reason: "different reply codes in one multi-line reply" });
    }
    const rd = new ReplyReader();
    rd.push(bytes("HTTP/1.1 200 OK\r\n"));
    const err = rd.next();
    expect(err).toMatchObject({ kind: "error", pos: 0 });
    rd.push(bytes("220 ok\r\n"));
    expect(rd.next()).toEqual(err);
  });

  test("over-long lines are refused before the buffer grows past the limit", () => {
    const rd = new ReplyReader(512);
    rd.push(bytes("220 "));
    let r: ReaderResult = rd.next();
    let pushed = 4;
    for (; r.kind === "more" && pushed < 10000; pushed += 10) {
      rd.push(bytes("x".repeat(10)));
      r = rd.next();
    }
    expect(r).toMatchObject({ kind: "error", pos: 512, reason: "reply line longer than 512 bytes" });
    expect(pushed).toBeLessThan(512 + 10);
  });

  test("take() hands over what follows the greeting; buffered counts it", () => {
    const rd = new ReplyReader();
    rd.push(bytes("220 ready\r\n250 unsolicited"));
    expect(rd.next()).toMatchObject({ kind: "done", code: 220 });
    expect(rd.next()).toEqual({ kind: "more" });
    expect(rd.buffered).toBe(15);
    expect(new TextDecoder().decode(rd.take())).toBe("250 unsolicited");
    expect(rd.buffered).toBe(0);
    rd.push(bytes("250 ok\r\n"));
    expect(rd.next()).toMatchObject({ kind: "done", code: 250, lines: ["ok"] });
  });

  test("a long stream of small replies stays linear and the buffer stays small", () => {
    const rd = new ReplyReader();
    const one = bytes("250-2.0.0 a\r\n250 2.0.0 b\r\n");
    let n = 0;
    const t0 = performance.now();
    for (let i = 0; i < 20000; i++) {
      for (let k = 0; k < one.length; k += 5) rd.push(one.subarray(k, k + 5));
      for (let r = rd.next(); r.kind === "done"; r = rd.next()) n++;
    }
    expect(n).toBe(20000);
    expect(rd.buffered).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
