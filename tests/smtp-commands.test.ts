/** src/smtp/commands.ts: the pure decisions of STARTTLS at plb, byte by byte. */
import { describe, expect, test } from "bun:test";
import { decide, LINE_TOO_LONG, MUST_STARTTLS, rewriteEhlo, splitCommand, STARTTLS_SYNTAX, takeLine, TLS_ALREADY } from "../src/smtp/commands.ts";

const bytes = (s: string) => Buffer.from(s, "latin1");
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

describe("takeLine", () => {
  test("a CRLF line, a bare LF line, and the offset after each", () => {
    expect(takeLine(bytes("EHLO a\r\nRSET\r\n"))).toEqual({ kind: "line", line: "EHLO a", end: 8 });
    expect(takeLine(bytes("NOOP\nQUIT\r\n"))).toEqual({ kind: "line", line: "NOOP", end: 5 });
    expect(takeLine(bytes("\r\n"))).toEqual({ kind: "line", line: "", end: 2 });
  });
  test("no line end yet is 'more'; a bare CR is not a line end", () => {
    expect(takeLine(bytes("EHLO a"))).toEqual({ kind: "more" });
    expect(takeLine(bytes("EHLO a\r"))).toEqual({ kind: "more" });
  });
  test("8-bit bytes come back as latin1, one char per byte", () => {
    const r = takeLine(new Uint8Array([0x48, 0xe9, 0xff, 0x0d, 0x0a]));
    expect(r).toEqual({ kind: "line", line: "H\xe9\xff", end: 5 });
  });
  test("a line is too long at `max` bytes without a line end, or when its end is past `max`", () => {
    expect(takeLine(bytes("x".repeat(9)), 10)).toEqual({ kind: "more" });
    expect(takeLine(bytes("x".repeat(10)), 10)).toEqual({ kind: "too-long" });
    expect(takeLine(bytes(`${"x".repeat(8)}\r\n`), 10)).toEqual({ kind: "line", line: "x".repeat(8), end: 10 });
    expect(takeLine(bytes(`${"x".repeat(9)}\r\n`), 10)).toEqual({ kind: "too-long" });
  });
});

describe("splitCommand", () => {
  test("the verb upper-cased, the arguments trimmed", () => {
    expect(splitCommand("mail FROM:<a@b>")).toEqual({ verb: "MAIL", args: "FROM:<a@b>" });
    expect(splitCommand("StartTLS")).toEqual({ verb: "STARTTLS", args: "" });
    expect(splitCommand("STARTTLS  \t")).toEqual({ verb: "STARTTLS", args: "" });
    expect(splitCommand("")).toEqual({ verb: "", args: "" });
    // Only SP and HT separate: a CR inside the line (only the CRLF is cut off), NBSP or NUL belong to a word.
    expect(splitCommand("s \xe5\rG")).toEqual({ verb: "S", args: "\xe5\rG" });
    expect(splitCommand("STARTTLS\rRSET")).toEqual({ verb: "STARTTLS\rRSET", args: "" });
    expect(splitCommand("STARTTLS\xa0")).toEqual({ verb: "STARTTLS\xa0", args: "" });
  });
});

describe("decide", () => {
  const plain = { tls: false, requireTls: false };
  const secure = { tls: true, requireTls: false };
  const required = { tls: false, requireTls: true };
  test("STARTTLS: start TLS; with a parameter 501; inside TLS 503", () => {
    expect(decide("STARTTLS", plain)).toEqual({ kind: "starttls" });
    expect(decide("starttls", required)).toEqual({ kind: "starttls" });
    expect(decide("STARTTLS now", plain)).toEqual({ kind: "reply", reply: STARTTLS_SYNTAX });
    expect(decide("STARTTLS", secure)).toEqual({ kind: "reply", reply: TLS_ALREADY });
    expect(STARTTLS_SYNTAX.startsWith("501 ")).toBe(true);
    expect(TLS_ALREADY.startsWith("503 ")).toBe(true);
  });
  test("EHLO is forwarded and its reply rewritten; HELO, NOOP, RSET, HELP, VRFY, EXPN forwarded one at a time", () => {
    expect(decide("EHLO client.test", plain)).toEqual({ kind: "forward", ehlo: true });
    expect(decide("ehlo client.test", secure)).toEqual({ kind: "forward", ehlo: true });
    for (const c of ["HELO c", "NOOP", "RSET", "HELP", "VRFY postmaster", "EXPN list"]) expect(decide(c, plain)).toEqual({ kind: "forward", ehlo: false });
  });
  test("MAIL, RCPT, DATA, BDAT, AUTH, QUIT and unknown verbs end plb's part: relay from that line on", () => {
    for (const c of ["MAIL FROM:<a@b>", "RCPT TO:<b@c>", "DATA", "BDAT 10 LAST", "AUTH PLAIN AGFAYg==", "QUIT", "XYZZY", ""]) {
      expect(decide(c, plain)).toEqual({ kind: "relay" });
      expect(decide(c, secure)).toEqual({ kind: "relay" });
    }
  });
  test("require_tls before TLS: 530 to all but EHLO, HELO, NOOP, RSET, QUIT, STARTTLS (RFC 3207 §4); nothing after TLS", () => {
    for (const c of ["MAIL FROM:<a@b>", "RCPT TO:<b@c>", "DATA", "AUTH PLAIN x", "VRFY a", "HELP", "XYZZY"]) {
      expect(decide(c, required)).toEqual({ kind: "reply", reply: MUST_STARTTLS });
    }
    expect(MUST_STARTTLS).toBe("530 5.7.0 Must issue a STARTTLS command first");
    expect(decide("EHLO a", required)).toEqual({ kind: "forward", ehlo: true });
    for (const c of ["HELO a", "NOOP", "RSET"]) expect(decide(c, required)).toEqual({ kind: "forward", ehlo: false });
    expect(decide("QUIT", required)).toEqual({ kind: "relay" });
    expect(decide("MAIL FROM:<a@b>", { tls: true, requireTls: true })).toEqual({ kind: "relay" });
  });
  test("the line-too-long reply is a 500", () => expect(LINE_TOO_LONG.startsWith("500 ")).toBe(true));
});

describe("rewriteEhlo", () => {
  test("before TLS: the server's STARTTLS line removed, plb's added last, 250- / 250 kept well-formed", () => {
    const raw = bytes("250-mx.test greets you\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
    expect(text(rewriteEhlo(raw, true))).toBe("250-mx.test greets you\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n");
  });
  test("inside TLS: STARTTLS removed, none added; the new last line gets '250 '", () => {
    const raw = bytes("250-mx.test\r\n250-SIZE 1000\r\n250 starttls\r\n");
    expect(text(rewriteEhlo(raw, false))).toBe("250-mx.test\r\n250 SIZE 1000\r\n");
  });
  test("a one-line reply becomes two lines when STARTTLS is added; unchanged otherwise", () => {
    expect(text(rewriteEhlo(bytes("250 mx.test\r\n"), true))).toBe("250-mx.test\r\n250 STARTTLS\r\n");
    expect(text(rewriteEhlo(bytes("250 mx.test\r\n"), false))).toBe("250 mx.test\r\n");
  });
  test("the greeting line is kept even when it reads STARTTLS; a keyword merely starting with STARTTLS stays", () => {
    expect(text(rewriteEhlo(bytes("250-STARTTLS\r\n250-STARTTLSX\r\n250 STARTTLS \r\n"), false))).toBe("250-STARTTLS\r\n250 STARTTLSX\r\n");
  });
  test("8-bit bytes in the text pass unchanged", () => {
    const raw = new Uint8Array([...bytes("250-mx \xe9\xff\r\n250 SIZE\r\n")]);
    expect([...rewriteEhlo(raw, false)]).toEqual([...raw]);
  });
  test("an error reply (5xx, 4xx) is relayed as it is, nothing added", () => {
    const raw = bytes("550 5.7.1 go away\r\n");
    expect(rewriteEhlo(raw, true)).toBe(raw);
    const raw4 = bytes("421-4.3.2 busy\r\n421 4.3.2 try later\r\n");
    expect(rewriteEhlo(raw4, true)).toBe(raw4);
  });
});
