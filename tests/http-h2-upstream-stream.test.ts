/**
 * src/http/h2/upstream-stream.ts and upstream-translate.ts: the exchange's
 * HTTP/1 bytes ⇄ one h2 stream, against a recording StreamHost (what the
 * connection would put on the wire) and a recording receiver (what the
 * exchange would read). Request heads and bodies are fed whole and byte by
 * byte; responses are checked byte for byte, malformed ones refused.
 */
import { describe, expect, test } from "bun:test";
import { healthRequest, servingStatus } from "../src/http/h2/grpc-check.ts";
import { H2Error, type HeaderList } from "../src/http/h2/types.ts";
import { type H2UpstreamStream as Stream, H2UpstreamStream, type StreamHost } from "../src/http/h2/upstream-stream.ts";
import { Framing, h1ResponseHead } from "../src/http/h2/upstream-translate.ts";

const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const dec = (b: Uint8Array) => String.fromCharCode(...b);

/** A host with windows the test sets, recording what the stream sends. */
class Host implements StreamHost {
  log: unknown[][] = [];
  window = 1 << 20;
  openResult = 1;
  released = 0;
  retries = 0;
  open(_s: Stream, fields: HeaderList, end: boolean): number {
    this.log.push(["headers", fields, end]);
    return this.openResult;
  }
  sendData(_id: number, data: Uint8Array, end: boolean): number {
    const n = Math.min(this.window, data.length);
    if (n === 0 && !(end && data.length === 0)) return 0;
    this.window -= n;
    this.log.push(["data", dec(data.subarray(0, n)), end && n === data.length]);
    return n;
  }
  sendTrailers(_id: number, fields: HeaderList): void {
    this.log.push(["trailers", fields]);
  }
  consumed(_id: number, n: number): void {
    this.log.push(["consumed", n]);
  }
  reset(_id: number, code: H2Error): void {
    this.log.push(["reset", code]);
  }
  release(): void {
    this.released++;
  }
  retry(): boolean {
    this.retries++;
    return false;
  }
}

function stream(host = new Host(), scheme: "http" | "https" = "http") {
  const s = new H2UpstreamStream(host, scheme);
  const got: string[] = [];
  const ev: string[] = [];
  s.data = { onData: (b) => void got.push(dec(b)), onDrain: () => void ev.push("drain"), onEnd: () => {}, onClose: (e) => void ev.push(`close ${e?.message ?? ""}`) };
  return { s, host, got, ev, text: () => got.join("") };
}

const GET = "GET /a?b=1 HTTP/1.1\r\nHost: app.example:8080\r\nUser-Agent: t\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nTE: trailers\r\nCookie: a=1\r\n\r\n";

describe("request: HTTP/1 bytes → HEADERS, DATA, trailers", () => {
  test("a GET: pseudo-headers from the request line and Host, lowercase fields, hop-by-hop ones dropped, te: trailers; END_STREAM on HEADERS", () => {
    for (const split of [false, true]) {
      const t = stream(undefined, "https");
      const b = enc(GET);
      if (split) for (let i = 0; i < b.length; i++) expect(t.s.write(b.subarray(i, i + 1))).toBe(1);
      else expect(t.s.write(b)).toBe(b.length);
      expect(t.host.log).toEqual([["headers", [":method", "GET", ":scheme", "https", ":authority", "app.example:8080", ":path", "/a?b=1", "user-agent", "t", "cookie", "a=1", "te", "trailers"], true]]);
    }
  });

  test("a Content-Length body goes as DATA, END_STREAM with its last octet; split anywhere", () => {
    const req = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
    for (const cut of [0, 5, req.length - 3]) {
      const t = stream();
      const b = enc(req);
      t.s.write(b.subarray(0, req.indexOf("\r\n\r\n") + 4 + cut));
      t.s.write(b.subarray(req.indexOf("\r\n\r\n") + 4 + cut));
      const data = t.host.log.filter((l) => l[0] === "data");
      expect(data.map((d) => d[1]).join("")).toBe("0123456789");
      expect(data.at(-1)![2]).toBe(true);
      expect(t.host.log[0]).toEqual(["headers", [":method", "POST", ":scheme", "http", ":authority", "h", ":path", "/up", "content-length", "10", "te", "trailers"], false]);
    }
  });

  test("a chunked body: chunks → DATA, its trailers → a trailing HEADERS (byte by byte too)", () => {
    const req = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n";
    for (const bytewise of [false, true]) {
      const t = stream();
      const b = enc(req);
      if (bytewise) for (let i = 0; i < b.length; i++) t.s.write(b.subarray(i, i + 1));
      else t.s.write(b);
      expect(t.host.log[0][2]).toBe(false);
      expect((t.host.log[0][1] as string[]).includes("transfer-encoding")).toBe(false);
      expect(t.host.log.filter((l) => l[0] === "data").map((d) => d[1]).join("")).toBe("abcde");
      expect(t.host.log.at(-1)).toEqual(["trailers", ["x-sum", "5"]]);
    }
  });

  test("backpressure: with the window shut, write takes at most the slack and returns short; drain fires once the window opens and all went out", () => {
    const t = stream();
    t.host.window = 0;
    const body = new Uint8Array(200_000).fill(0x7a);
    const head = enc(`PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`);
    expect(t.s.write(head)).toBe(head.length);
    const n = t.s.write(body);
    expect(n).toBe(64 * 1024);
    t.host.window = 1 << 30;
    t.s.onWindow();
    expect(t.ev).toEqual(["drain"]);
    expect(t.s.write(body.subarray(n))).toBe(body.length - n);
    const sent = t.host.log.filter((l) => l[0] === "data").reduce((a, d) => a + (d[1] as string).length, 0);
    expect(sent).toBe(body.length);
  });
});

describe("response: HEADERS, DATA, trailers → HTTP/1 bytes", () => {
  const opened = (method = "POST") => {
    const t = stream();
    t.s.write(enc(`${method} /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/grpc\r\nContent-Length: 0\r\n\r\n`));
    return t;
  };

  test("a gRPC response: a chunked head (connection: close), DATA as chunks, trailers as chunked trailers; DATA given back once passed on", () => {
    const t = opened();
    t.s.onHeaders([":status", "200", "content-type", "application/grpc"], false);
    t.s.onData(enc("\x00\x00\x00\x00\x01A"), false);
    t.s.onHeaders(["grpc-status", "0", "grpc-message", "ok"], true);
    expect(t.text()).toBe("HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n6\r\n\x00\x00\x00\x00\x01A\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n");
    expect(t.host.log).toContainEqual(["consumed", 6]);
    expect(t.host.released).toBe(1);
  });

  test("trailers-only (HEADERS with END_STREAM): content-length: 0; a Content-Length response passes as is; HEAD and 204 have no framing", () => {
    const a = opened();
    a.s.onHeaders([":status", "200", "grpc-status", "5", "grpc-message", "nope"], true);
    expect(a.text()).toBe("HTTP/1.1 200 OK\r\ngrpc-status: 5\r\ngrpc-message: nope\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    const b = opened("GET");
    b.s.onHeaders([":status", "200", "content-length", "3"], false);
    b.s.onData(enc("abc"), true);
    expect(b.text()).toBe("HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc");
    expect(h1ResponseHead([":status", "200", "content-length", "9"], true, "HEAD")).toMatchObject({ kind: "done", framing: Framing.None });
    expect(h1ResponseHead([":status", "204"], true, "GET")).toMatchObject({ kind: "done", framing: Framing.None });
    expect(h1ResponseHead([":status", "103", "link", "</a>"], false, "GET")).toMatchObject({ kind: "done", interim: true });
  });

  test("malformed responses are refused (RST_STREAM PROTOCOL_ERROR, the exchange sees an error close)", () => {
    const bad: [HeaderList, boolean][] = [
      [["content-type", "x"], false],
      [[":status", "20"], false],
      [[":status", "200", ":path", "/"], false],
      [[":status", "200", "Upper", "x"], false],
      [[":status", "200", "x", "a\r\nb"], false],
      [[":status", "200", "connection", "close"], false],
      [[":status", "200", "transfer-encoding", "chunked"], false],
      [[":status", "200", "content-length", "1x"], false],
      [[":status", "200", "content-length", "5"], true],
      [[":status", "101"], false],
      [[":status", "100"], true],
    ];
    for (const [fields, end] of bad) {
      const t = opened();
      t.s.onHeaders(fields, end);
      expect({ fields, got: t.text() }).toEqual({ fields, got: "" });
      expect(t.host.log).toContainEqual(["reset", H2Error.PROTOCOL_ERROR]);
      expect(t.ev[0]).toStartWith("close malformed response");
    }
    const t = opened("GET");
    t.s.onHeaders([":status", "200", "content-length", "2"], false);
    t.s.onData(enc("abc"), false);
    expect(t.ev[0]).toContain("beyond the response's content-length");
  });

  test("a server reset mid-response of a gRPC call ends it with grpc-status 14 trailers; before the head it is an error close (502)", () => {
    const a = opened();
    a.s.onHeaders([":status", "200", "content-type", "application/grpc"], false);
    a.s.onReset(H2Error.INTERNAL_ERROR);
    expect(a.text()).toMatch(/\r\n0\r\ngrpc-status: 14\r\ngrpc-message: the server reset the stream \(INTERNAL_ERROR\)\r\n\r\n$/);
    expect(a.ev).toEqual([]);
    const b = opened();
    b.s.onConnectionLost("the server closed the connection");
    expect(b.ev).toEqual(["close the server closed the connection"]);
  });

  test("paused: what arrives is held (and not given back) until resume", async () => {
    const t = opened();
    t.s.onHeaders([":status", "200", "content-type", "application/grpc"], false);
    t.s.pause();
    t.s.onData(enc("hello"), false);
    expect(t.got).toHaveLength(1);
    expect(t.host.log.some((l) => l[0] === "consumed")).toBe(false);
    t.s.resume();
    await Promise.resolve();
    expect(t.got[1]).toBe("5\r\nhello\r\n");
    expect(t.host.log).toContainEqual(["consumed", 5]);
  });

  test("REFUSED_STREAM on a retryable request asks the host for a retry; on a POST it is an error close", () => {
    const g = stream();
    g.s.write(enc("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    g.s.onReset(H2Error.REFUSED_STREAM);
    expect(g.host.retries).toBe(1);
    const p = opened();
    p.s.onRefused();
    expect(p.host.retries).toBe(0);
    expect(p.ev[0]).toContain("refused");
  });
});

describe("grpc health messages", () => {
  test("HealthCheckRequest: the frame header and field 1; the empty service is an empty message", () => {
    expect([...healthRequest("")]).toEqual([0, 0, 0, 0, 0]);
    expect([...healthRequest("a.B")]).toEqual([0, 0, 0, 0, 5, 0x0a, 3, 0x61, 0x2e, 0x42]);
  });
  test("HealthCheckResponse: SERVING, NOT_SERVING, absent (UNKNOWN), framing errors", () => {
    expect(servingStatus(new Uint8Array([0, 0, 0, 0, 2, 8, 1]))).toBe(1);
    expect(servingStatus(new Uint8Array([0, 0, 0, 0, 2, 8, 2]))).toBe(2);
    expect(servingStatus(new Uint8Array([0, 0, 0, 0, 0]))).toBe(0);
    expect(servingStatus(new Uint8Array([0, 0, 0, 0, 3, 8, 1]))).toBeTypeOf("string");
    expect(servingStatus(new Uint8Array([1, 0, 0, 0, 2, 8, 1]))).toBeTypeOf("string");
  });
});
