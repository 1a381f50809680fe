/**
 * src/tls/client-hello.ts: ClientHellos captured from real clients
 * (openssl s_client, curl, Python's ssl) read whole, byte by byte and
 * re-split over records; built ones for each decision and each error.
 */
import { describe, expect, test } from "bun:test";
import { clientHello, records } from "../fuzz/formats/tls.ts";
import { concat, latin1 } from "../fuzz/rng.ts";
import { type HelloResult, MAX_HELLO, MAX_RECORDS, parseClientHello } from "../src/tls/client-hello.ts";
import { captureClientHello, run } from "./support/client-hello.ts";

const PY = `
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.set_alpn_protocols(["imap", "x-custom/2"])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
try:
    ctx.wrap_socket(s, server_hostname="Py.Example.NET")
except Exception:
    pass
`;

const CLIENTS: Record<string, { run: (port: number) => Promise<unknown>; name: string | undefined; alpn: string[] }> = {
  "openssl s_client -servername -alpn": {
    run: (port) => run(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "a.example.com", "-alpn", "h2,http/1.1"], ""),
    name: "a.example.com",
    alpn: ["h2", "http/1.1"],
  },
  "openssl s_client -noservername -tls1_2": {
    run: (port) => run(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-noservername", "-tls1_2"], ""),
    name: undefined,
    alpn: [],
  },
  "curl --resolve": {
    run: (port) => run(["curl", "-sk", "--max-time", "10", "--resolve", `www.example.org:${port}:127.0.0.1`, `https://www.example.org:${port}/`]),
    name: "www.example.org",
    alpn: ["h2", "http/1.1"],
  },
  "python3 ssl": {
    run: (port) => run(["/usr/bin/python3", "-c", PY, String(port)]),
    name: "py.example.net",
    alpn: ["imap", "x-custom/2"],
  },
};

/** Feed `b` one byte more at a time: "more" until `consumed`, then the whole result. */
function byteByByte(b: Uint8Array): HelloResult {
  for (let n = 1; n <= b.length; n++) {
    const r = parseClientHello(b.subarray(0, n));
    if (r.kind !== "more") return r;
  }
  return { kind: "more" };
}

/** The handshake bytes of the records up to `end`. */
function handshakeOf(b: Uint8Array, end: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < end; at += 5 + ((b[at + 3] << 8) | b[at + 4])) parts.push(b.subarray(at + 5, at + 5 + ((b[at + 3] << 8) | b[at + 4])));
  return concat(...parts);
}

describe("ClientHellos of real clients", () => {
  for (const [label, c] of Object.entries(CLIENTS)) {
    test(label, async () => {
      const { bytes } = await captureClientHello(c.run);
      const whole = parseClientHello(bytes);
      expect(whole).toMatchObject({ kind: "done", serverName: c.name, alpn: c.alpn });
      if (whole.kind !== "done") return;
      expect(whole.consumed).toBe(bytes.length); // the clients wait for the server after it
      // byte by byte: the same result, found at the last byte
      expect(byteByByte(bytes)).toEqual(whole);
      expect(parseClientHello(bytes.subarray(0, bytes.length - 1))).toEqual({ kind: "more" });
      // the same handshake bytes over 4 records (the first cut inside the handshake header)
      const hs = handshakeOf(bytes, whole.consumed);
      const split = records(hs, [2, 40, 100]);
      expect(parseClientHello(split)).toEqual({ ...whole, consumed: split.length });
      expect(byteByByte(split)).toEqual({ ...whole, consumed: split.length });
    });
  }
});

describe("decisions", () => {
  test("the name is lowercased and one trailing dot dropped", () => {
    expect(parseClientHello(clientHello({ names: ["WWW.Example.COM."] }))).toMatchObject({ kind: "done", serverName: "www.example.com" });
  });
  test("no server_name extension, or no extensions at all: no name", () => {
    expect(parseClientHello(clientHello({ alpn: ["h2"] }))).toMatchObject({ kind: "done", serverName: undefined, alpn: ["h2"] });
    expect(parseClientHello(clientHello({ noExtensions: true }))).toMatchObject({ kind: "done", serverName: undefined, alpn: [] });
  });
  test("a name type other than host_name is skipped", () => {
    const b = clientHello({ extra: [[0, Uint8Array.from([0, 9, 7, 0, 2, 0x61, 0x62, 0, 0, 1, 0x78])]] });
    expect(parseClientHello(b)).toMatchObject({ kind: "done", serverName: "x" });
  });
  test("consumed ends the record holding the last byte; what follows is not read", () => {
    const hello = clientHello({ names: ["a.test"] });
    const ccs = Uint8Array.from([20, 3, 3, 0, 1, 1]);
    expect(parseClientHello(concat(hello, ccs, latin1("anything")))).toMatchObject({ kind: "done", consumed: hello.length });
  });
  test("the handshake header split over records is read", () => {
    const hs = clientHello({ names: ["split.test"] }).subarray(5);
    expect(parseClientHello(records(hs, [1, 1, 1]))).toMatchObject({ kind: "done", serverName: "split.test" });
  });
  test("a record version 3.0 to 3.4 is TLS", () => {
    for (const minor of [0, 1, 3, 4]) expect(parseClientHello(clientHello({ names: ["v.test"], recordMinor: minor })).kind).toBe("done");
  });
});

describe("errors", () => {
  const err = (b: Uint8Array) => parseClientHello(b) as Extract<HelloResult, { kind: "error" }>;
  test("another protocol is not TLS, at its first byte", () => {
    for (const s of ["GET / HTTP/1.1\r\n", "SSH-2.0-OpenSSH\r\n", "\x80\x2e\x01\x03\x01", "\x16\x02\x00"]) {
      const e = err(latin1(s));
      expect(e.kind).toBe("error");
      expect(e.notTls).toBe(true);
      expect(e.position).toBeLessThanOrEqual(1);
    }
    expect(err(latin1("\x16\x03\x07")).notTls).toBe(true);
  });
  test("a broken ClientHello is TLS, with the position of the bad byte", () => {
    const b = clientHello({ names: ["a.test"] });
    b[5] = 2; // a ServerHello
    expect(err(b)).toMatchObject({ kind: "error", position: 5, notTls: false });
  });
  test("an empty record, and a record above 2^14 bytes", () => {
    expect(err(Uint8Array.from([22, 3, 1, 0, 0])).reason).toBe("an empty handshake record");
    expect(err(Uint8Array.from([22, 3, 1, 0x40, 1])).reason).toContain("at most 16384");
  });
  test(`a ClientHello above ${MAX_HELLO} bytes is refused at its length, before the bytes come`, () => {
    const e = err(Uint8Array.from([22, 3, 1, 0x40, 0, 1, 0, 0x40, 0x00]));
    expect(e).toMatchObject({ position: 8 });
    expect(e.reason).toContain(`at most ${MAX_HELLO}`);
  });
  test(`more than ${MAX_RECORDS} records`, () => {
    const hs = clientHello({ names: ["r.test"] }).subarray(5);
    const b = records(hs, [10, 10, 10, 10]);
    expect(err(b).reason).toContain(`more than ${MAX_RECORDS} records`);
    expect(err(b).position).toBe(4 * 5 + 40);
  });
  test("an alert between the records of a ClientHello", () => {
    const hs = clientHello({ names: ["r.test"] }).subarray(5);
    const first = records(hs.subarray(0, 20), []);
    expect(err(concat(first, Uint8Array.from([21, 3, 3, 0, 2, 2, 40]))).position).toBe(first.length);
  });
  test("two host_name entries, an extension twice, an IP address, a bad byte, an empty label", () => {
    expect(err(clientHello({ names: ["a.test", "b.test"] })).reason).toContain("two host_name");
    expect(err(clientHello({ names: ["a.test"], extra: [[0, Uint8Array.from([0, 4, 0, 0, 1, 0x62])]] })).reason).toContain("given twice");
    expect(err(clientHello({ names: ["127.0.0.1"] })).reason).toContain("IP address");
    expect(err(clientHello({ names: ["a b.test"] })).reason).toContain("byte 32");
    expect(err(clientHello({ names: ["a..test"] })).reason).toContain("empty label");
    expect(err(clientHello({ names: [""] })).reason).toContain("host_name of 0 bytes");
  });
  test("ALPN: an empty list or an empty name", () => {
    expect(err(clientHello({ alpn: [] })).reason).toContain("ALPN list of 0 bytes");
    expect(err(clientHello({ alpn: ["h2", ""] })).reason).toContain("empty ALPN protocol name");
  });
  test("the error of a whole input is the error of its prefixes, at the same byte", () => {
    const b = clientHello({ names: ["a.test"], split: [3] });
    b[5 + 3 + 5 + 1] = 9; // in the second record, after the last length byte: the client version's major
    const whole = err(b);
    expect(whole.reason).toContain("client version major 9");
    expect(byteByByte(b)).toEqual(whole);
    expect(b[whole.position]).toBe(9);
  });
});

test("an empty extension at the very end of the message is reported inside the input (fuzz, seed 7)", () => {
  for (const type of [0, 16]) {
    const b = clientHello({ extra: [[type, new Uint8Array(0)]] });
    const r = parseClientHello(b);
    expect(r.kind).toBe("error");
    if (r.kind === "error") expect(r.position).toBe(b.length - 2); // the extension's length
  }
  const empty = clientHello({ names: [""] });
  const r = parseClientHello(empty);
  expect(r.kind === "error" && r.position).toBe(empty.length - 2);
});

test("a ClientHello that ends right after its random is an error inside it, never a read past its end (fuzz, seed 8)", () => {
  const body = [3, 3, ...new Array(32).fill(7)];
  const b = Uint8Array.from([22, 3, 1, 0, body.length + 4 + 3, 1, 0, 0, body.length, ...body, 0xee, 0xee, 0xee]); // 3 more bytes in the record
  const r = parseClientHello(b);
  expect(r).toMatchObject({ kind: "error", reason: "the ClientHello ends inside its version, random and session id" });
  expect(r.kind === "error" && r.position).toBe(5 + 4 + body.length - 1);
});
