/**
 * plb's HPACK against real peers, no mocks:
 * - Python's hpack (Debian python3-hpack, tests/support/hpack_peer.py)
 *   decodes a sequence of blocks plb encodes (dynamic table carried, peer
 *   table size changes, every octet value, sensitive fields), and encodes
 *   lists that plb decodes (with and without Huffman, size updates,
 *   never-indexed fields); the lists and the tables must agree.
 * - nghttp (nghttp2-client) talks HTTP/2 to a bare loopback listener of
 *   this test: plb decodes the request blocks nghttp2's encoder sends on one
 *   connection, and nghttp2's decoder reads the response blocks plb encodes
 *   (printed by `nghttp -v`).
 * Debian ships no inflatehd/deflatehd (nghttp2's HPACK tools), so nghttp
 * itself is the nghttp2 peer.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createDecoder, createEncoder } from "../src/http/h2/hpack/index.ts";

const PEER = join(import.meta.dir, "support", "hpack_peer.py");
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const pairs = (l: string[]) => Array.from({ length: l.length / 2 }, (_, i) => [l[2 * i], l[2 * i + 1]]);

interface PeerResult {
  decoded: string[][][];
  decoderTable: string[][];
  encoded: string[];
  encoderTable: string[][];
}

async function python(job: unknown): Promise<PeerResult> {
  const p = Bun.spawn(["/usr/bin/python3", PEER], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  p.stdin.write(JSON.stringify(job));
  await p.stdin.end();
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`hpack_peer.py exited ${code}: ${err}`);
  return JSON.parse(out) as PeerResult;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** 60 header lists: browser-like requests and server responses, with random extra fields holding any octet. */
function lists(seed: number): string[][] {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const out: string[][] = [];
  for (let i = 0; i < 60; i++) {
    const l =
      i % 2 === 0
        ? [":method", "GET", ":scheme", "https", ":authority", "www.example.com", ":path", `/assets/${i}.js?v=${int(1e6)}`, "user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "accept", "*/*", "accept-language", "en-US,en;q=0.5", "cookie", i % 4 === 0 ? "sid=1" : `session=${"k".repeat(30)}; theme=dark`, "authorization", "Bearer t0ken"]
        : [":status", ["200", "304", "404", "302"][int(4)], "server", "plb", "date", `Tue, 08 Dec 2026 01:2${int(10)}:00 GMT`, "content-type", "text/javascript", "content-length", String(int(100000)), "etag", `"${int(1e9)}"`, "set-cookie", `a=${int(100)}`];
    for (let k = int(3); k > 0; k--) l.push(`x-${int(5)}`, String.fromCharCode(...Array.from({ length: int(60) }, () => int(256))));
    out.push(l);
  }
  return out;
}

describe("Python's hpack", () => {
  test("decodes 60 blocks plb encodes on one connection (table size lowered to 256, 0, then back): same lists, same table", async () => {
    const e = createEncoder();
    const blocks: string[] = [];
    const all = lists(1);
    all.forEach((l, i) => {
      if (i === 20) e.setPeerMaxTableSize(256);
      if (i === 30) e.setPeerMaxTableSize(0);
      if (i === 31) e.setPeerMaxTableSize(4096);
      blocks.push(toHex(e.encode(l)));
    });
    const got = await python({ decode: blocks });
    expect(got.decoded).toEqual(all.map(pairs));
    expect(got.decoderTable).toEqual(e.tableState().entries);
    expect(got.decoderTable.length).toBeGreaterThan(3);
    // The size updates were in the blocks: the table was emptied at block 30.
    expect(blocks[30].slice(0, 2)).toBe("20");
  });

  test("encodes 60 lists (Huffman on and off, size updates, never-indexed fields) that plb decodes: same lists, same table", async () => {
    const all = lists(2);
    const job = all.map((fields, i) => ({ fields, huffman: i % 3 !== 0, tableSize: i === 10 ? 512 : i === 25 ? 4096 : i === 40 ? 0 : i === 41 ? 2048 : null, never: ["authorization"] }));
    const got = await python({ encode: job });
    const d = createDecoder();
    got.encoded.forEach((hex, i) => {
      const r = d.decode(Uint8Array.from(Buffer.from(hex, "hex")), 1 << 20);
      expect([i, r.kind === "done" ? pairs(r.fields) : r]).toEqual([i, pairs(all[i])]);
    });
    expect(d.tableState().entries).toEqual(got.encoderTable as [string, string][]);
    expect(d.tableState().maxSize).toBe(2048);
    // authorization went as a never-indexed literal (it is in every request, never in the table).
    expect(got.encoderTable.some(([n]) => n === "authorization")).toBe(false);
  });
});

/** One HTTP/2 frame. */
function frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  f.set([payload.length >>> 16, (payload.length >>> 8) & 255, payload.length & 255, type, flags, (stream >>> 24) & 127, (stream >>> 16) & 255, (stream >>> 8) & 255, stream & 255]);
  f.set(payload, 9);
  return f;
}

const PREFACE = 24;
const HEADERS = 1, SETTINGS = 4, CONTINUATION = 9;

/**
 * A bare HTTP/2 listener on loopback for one nghttp connection: it reads
 * the client's frames, decodes each request's field block with plb's
 * decoder, and answers each stream with a HEADERS frame (END_STREAM) plb's
 * encoder made from `respond(i)`.
 */
async function withNghttp(urls: (port: number) => string[], respond: (i: number) => string[], extra: string[] = []) {
  const decoder = createDecoder();
  const encoder = createEncoder();
  const requests: string[][][] = [];
  const blockSizes: number[] = [];
  const errors: string[] = [];
  let buf = new Uint8Array(0);
  let block: Uint8Array | undefined;
  let streamOf = 0;
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, data) {
        const joined = new Uint8Array(buf.length + data.length);
        joined.set(buf);
        joined.set(data, buf.length);
        buf = joined;
        let at = socket.data === undefined ? PREFACE : 0;
        if (buf.length < at) return;
        socket.data = true as never;
        while (buf.length - at >= 9) {
          const len = (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2];
          if (buf.length - at < 9 + len) break;
          const type = buf[at + 3], flags = buf[at + 4];
          const stream = ((buf[at + 5] & 127) << 24) | (buf[at + 6] << 16) | (buf[at + 7] << 8) | buf[at + 8];
          let payload = buf.subarray(at + 9, at + 9 + len);
          at += 9 + len;
          if (type === SETTINGS && (flags & 1) === 0) socket.write(frame(SETTINGS, 1, 0, new Uint8Array(0)));
          if (type !== HEADERS && type !== CONTINUATION) continue;
          if (type === HEADERS) {
            let start = 0, end = payload.length;
            if (flags & 0x8) (start = 1), (end -= payload[0]); // PADDED
            if (flags & 0x20) start += 5; // PRIORITY
            payload = payload.subarray(start, end);
            block = payload.slice();
            streamOf = stream;
          } else {
            const more = new Uint8Array((block?.length ?? 0) + payload.length);
            more.set(block ?? new Uint8Array(0));
            more.set(payload, block?.length ?? 0);
            block = more;
          }
          if ((flags & 0x4) === 0) continue; // END_HEADERS
          const r = decoder.decode(block as Uint8Array, 1 << 20);
          blockSizes.push((block as Uint8Array).length);
          if (r.kind !== "done") errors.push(JSON.stringify(r));
          else requests.push(pairs(r.fields));
          const response = encoder.encode(respond(requests.length - 1));
          socket.write(frame(HEADERS, 0x4 | 0x1, streamOf, response));
        }
        buf = buf.slice(at);
      },
      open(socket) {
        socket.write(frame(SETTINGS, 0, 0, new Uint8Array(0)));
      },
    },
  });
  try {
    const p = Bun.spawn(["nghttp", "-nv", "--timeout=15", ...extra, ...urls(server.port)], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { requests, blockSizes, errors, out, err, code };
  } finally {
    server.stop(true);
  }
}

/** The response fields nghttp printed for each stream: "recv (stream_id=N) name: value". */
function printed(out: string): Map<number, string[][]> {
  const m = new Map<number, string[][]>();
  for (const line of out.split("\n")) {
    const x = /recv \(stream_id=(\d+)\) ([^:]*:?[^:]+): (.*)$/.exec(line);
    if (x === null) continue;
    const id = Number(x[1]);
    if (!m.has(id)) m.set(id, []);
    m.get(id)?.push([x[2], x[3]]);
  }
  return m;
}

describe("nghttp (nghttp2)", () => {
  test("plb decodes 8 requests nghttp2 encodes on one connection; nghttp2 decodes the 8 responses plb encodes", async () => {
    const response = (i: number) => [":status", ["200", "404", "302", "200"][i % 4], "server", "plb", "content-type", "text/html; charset=utf-8", "content-length", String(1000 + i), "x-request", `r${i}`, "cache-control", "private, max-age=60"];
    const urls = (port: number) => Array.from({ length: 8 }, (_, i) => `http://127.0.0.1:${port}/page/${i}?q=${"z".repeat(i)}`);
    const r = await withNghttp(urls, response, ["-H", "x-custom: hpack-interop", "-H", "cookie: theme=dark; lang=en-GB"]);
    expect(r.errors).toEqual([]);
    expect(r.requests.map((q) => Object.fromEntries(q)[":path"]).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `/page/${i}?q=${"z".repeat(i)}`).sort());
    for (const q of r.requests) {
      const f = Object.fromEntries(q);
      expect([f[":method"], f[":scheme"], f["x-custom"], f.cookie]).toEqual(["GET", "http", "hpack-interop", "theme=dark; lang=en-GB"]);
      expect(f["user-agent"]).toStartWith("nghttp2/");
    }
    // nghttp2 indexes what repeats: later request blocks are much shorter than the first.
    expect(Math.max(...r.blockSizes.slice(1))).toBeLessThan(r.blockSizes[0] / 2);
    expect(r.code).toBe(0);
    const got = printed(r.out);
    expect(got.size).toBe(8);
    for (const id of got.keys()) {
      const fields = got.get(id) as string[][];
      const i = Number(fields.find(([n]) => n === "x-request")?.[1].slice(1));
      expect(fields).toEqual(pairs(response(i)));
    }
  });
});
