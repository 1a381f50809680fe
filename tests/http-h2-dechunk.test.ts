/**
 * src/http/h2/dechunk.ts: a server's chunked body as DATA spans (views of
 * the buffers fed, however the body is split) and trailer fields;
 * ChunkedScanner's checks and statuses stay its own; and the request
 * direction's chunk framing, which ChunkedScanner reads back as one body.
 */
import { describe, expect, test } from "bun:test";
import { ChunkedScanner } from "../src/http/chunked.ts";
import { chunkFrame, Dechunker, lastChunk } from "../src/http/h2/dechunk.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

/** Feed `body` split at `cuts`: the data joined, the trailers, the bytes consumed in all, or the error. */
function dechunk(body: string, cuts: number[] = []) {
  const d = new Dechunker();
  const input = bytes(body);
  let data = "", at = 0, consumed = 0;
  for (const cut of [...cuts, input.length]) {
    if (cut <= at) continue;
    const piece = input.slice(at, cut);
    const r = d.feed(piece);
    if (r.kind === "error") return { error: r.reason, status: r.status, data };
    for (const s of r.data) {
      expect(s.buffer).toBe(piece.buffer); // a view, not a copy
      data += text(s);
    }
    consumed += r.consumed;
    if (r.kind === "done") return { data, trailers: r.trailers, consumed, done: d.done };
    at = cut;
  }
  return { data, more: true, consumed };
}

describe("response direction", () => {
  const BODY = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Checksum: abc\r\nGrpc-Status:  0 \r\n\r\nNEXT";
  test("data spans and trailers (names lowercased, values trimmed); consumed stops at the body's end", () => {
    expect(dechunk(BODY)).toEqual({ data: "hello, world", trailers: ["x-checksum", "abc", "grpc-status", "0"], consumed: BODY.length - 4, done: true });
  });
  test("the same at every split into two and three pieces", () => {
    const want = dechunk(BODY);
    for (let a = 1; a < BODY.length; a++) {
      expect(dechunk(BODY, [a])).toEqual(want);
      for (let b = a + 1; b < BODY.length; b += 7) expect(dechunk(BODY, [a, b])).toEqual(want);
    }
  });
  test("byte by byte", () => {
    expect(dechunk(BODY, Array.from({ length: BODY.length }, (_, i) => i))).toEqual(dechunk(BODY));
  });
  test("no trailers: an empty list", () => {
    expect(dechunk("3\r\nabc\r\n0\r\n\r\n")).toEqual({ data: "abc", trailers: [], consumed: 13, done: true });
  });
  test("connection-specific trailers are left out", () => {
    expect(dechunk("0\r\nConnection: close\r\nKeep-Alive: 1\r\nTE: trailers\r\nUpgrade: x\r\nTrailer: a\r\nX-Ok: 1\r\n\r\n").trailers).toEqual(["x-ok", "1"]);
  });
  test("errors are the scanner's, as 502 (a server's response)", () => {
    expect(dechunk("5\r\nhello\n0\r\n\r\n")).toEqual({ error: "missing CRLF after chunk data", status: 502, data: "" });
    expect(dechunk("0\r\nContent-Length: 5\r\n\r\n")).toMatchObject({ error: "framing or routing field in trailers", status: 502 });
    expect(dechunk("0\r\nX: a\rb\r\n\r\n")).toMatchObject({ status: 502 });
    expect(dechunk("zz\r\n")).toMatchObject({ status: 502 });
  });
  test("an incomplete body is 'more' with the data so far", () => {
    expect(dechunk("5\r\nhel")).toEqual({ data: "hel", more: true, consumed: 6 });
  });
  test("the scanner without a sink is unchanged (HTTP/1 path)", () => {
    const s = new ChunkedScanner();
    expect(s.scan(bytes(BODY), 0, BODY.length)).toEqual({ kind: "done", consumed: BODY.length - 4 });
  });
});

describe("request direction", () => {
  const scanAll = (b: Uint8Array) => new ChunkedScanner().scan(b, 0, b.length);
  test("chunkFrame: size in hex, data, CRLF; nothing for empty data (a 0 chunk would end the body)", () => {
    expect(text(chunkFrame(bytes("hello")))).toBe("5\r\nhello\r\n");
    expect(text(chunkFrame(new Uint8Array(300)))).toStartWith("12c\r\n");
    expect(chunkFrame(new Uint8Array(0)).length).toBe(0);
  });
  test("frames and last chunk with trailers read back as exactly one chunked body", () => {
    const last = lastChunk(["x-checksum", "abc", "grpc-status", "0"]);
    if (last.kind !== "done") throw new Error(last.reason);
    expect(text(last.bytes)).toBe("0\r\nx-checksum: abc\r\ngrpc-status: 0\r\n\r\n");
    const body = Buffer.concat([chunkFrame(bytes("ab")), chunkFrame(new Uint8Array(0)), chunkFrame(bytes("c\r\n0\r\n\r\n")), last.bytes]);
    expect(scanAll(body)).toEqual({ kind: "done", consumed: body.length });
    const d = new Dechunker();
    const r = d.feed(body);
    expect(r.kind === "done" && [r.data.map(text).join(""), r.trailers]).toEqual(["abc\r\n0\r\n\r\n", ["x-checksum", "abc", "grpc-status", "0"]]);
  });
  test("lastChunk without trailers", () => {
    expect(lastChunk()).toEqual({ kind: "done", bytes: bytes("0\r\n\r\n") });
    expect(lastChunk([])).toEqual({ kind: "done", bytes: bytes("0\r\n\r\n") });
  });
  test("lastChunk refuses pseudo-headers, bad names and values, and fields that would reframe or reroute", () => {
    for (const t of [[":path", "/x"], [":status", "200"], ["X-Up", "1"], ["a b", "1"], ["a:b", "1"], ["x", "a\r\nb"], ["x", "\0"], ["x", " a"],
      ["content-length", "5"], ["content_length", "5"], ["transfer-encoding", "chunked"], ["host", "evil"], ["connection", "close"], ["te", "trailers"], ["trailer", "x"], ["x"]])
      expect(lastChunk(t).kind).toBe("error");
  });
});
