/**
 * HPACK speed (src/http/h2/hpack/): ops/s decoding and encoding a typical
 * browser request block and a typical response block, on a fresh table
 * (the first block of a connection) and on a warm one (the same list again:
 * what a connection's later blocks look like).
 *
 *   bun bench/hpack.ts [seconds per case, default 1]
 *
 * Each case runs once to warm up, then for the given time; one line each:
 * ops/s, ns/op, block octets. Numbers are for comparing runs on one
 * machine, not absolute.
 *
 * Bun 1.4.5, this 2-core VM shared with other work (load 3-4), 2 s per
 * case, two runs (2026-12-08):
 *   request (16 fields, 540 octets): encode fresh 3.0 us (375 octets),
 *   warm 0.54-0.56 us (40 octets); decode fresh 2.7-3.0 us, warm 0.42-0.46 us.
 *   response (11 fields, 317 octets): encode fresh 1.9-2.1 us (190 octets),
 *   warm 0.43-0.54 us (57 octets); decode fresh 1.5-1.6 us, warm 0.50-0.61 us.
 */
import { createDecoder, createEncoder } from "../src/http/h2/hpack/index.ts";

const SECONDS = Number(process.argv[2] ?? 1);

const REQUEST = [
  ":method", "GET",
  ":authority", "www.example.com",
  ":scheme", "https",
  ":path", "/assets/app.3f9a1c.js?v=20261208",
  "sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24"',
  "sec-ch-ua-mobile", "?0",
  "sec-ch-ua-platform", '"Linux"',
  "user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "accept", "*/*",
  "sec-fetch-site", "same-origin",
  "sec-fetch-mode", "no-cors",
  "sec-fetch-dest", "script",
  "referer", "https://www.example.com/",
  "accept-encoding", "gzip, deflate, br, zstd",
  "accept-language", "en-GB,en;q=0.9,fr;q=0.8",
  "cookie", "session=9f8e7d6c5b4a39281706f5e4d3c2b1a0; theme=dark; consent=yes",
];
const RESPONSE = [
  ":status", "200",
  "server", "plb",
  "date", "Tue, 08 Dec 2026 01:30:00 GMT",
  "content-type", "application/javascript; charset=utf-8",
  "content-length", "48213",
  "cache-control", "public, max-age=31536000, immutable",
  "etag", '"5f3a-18c2b1d0e9f"',
  "last-modified", "Mon, 07 Dec 2026 18:00:00 GMT",
  "vary", "accept-encoding",
  "content-encoding", "br",
  "x-request-id", "3b1f0c9e-7d2a-4e5b-9c8f-1a2b3c4d5e6f",
];

function run(name: string, octets: number, fn: () => void): void {
  const until = (s: number) => {
    let n = 0;
    const end = Bun.nanoseconds() + s * 1e9;
    while (Bun.nanoseconds() < end) for (let i = 0; i < 1000; i++, n++) fn();
    return n;
  };
  until(Math.min(0.3, SECONDS / 3));
  const t = Bun.nanoseconds();
  const n = until(SECONDS);
  const ns = (Bun.nanoseconds() - t) / n;
  console.log(`${name.padEnd(44)} ${Math.round(1e9 / ns).toLocaleString("en").padStart(11)} ops/s ${ns.toFixed(0).padStart(6)} ns/op ${String(octets).padStart(5)} octets`);
}

for (const [what, list] of [["request", REQUEST], ["response", RESPONSE]] as const) {
  const cold = createEncoder().encode(list);
  const e = createEncoder();
  e.encode(list);
  const warm = e.encode(list);
  const limit = 1 << 20;
  run(`encode ${what}, fresh table`, cold.length, () => void createEncoder().encode(list));
  const we = createEncoder();
  run(`encode ${what}, warm table`, warm.length, () => void we.encode(list));
  run(`decode ${what}, fresh table`, cold.length, () => void createDecoder().decode(cold, limit));
  const wd = createDecoder();
  wd.decode(cold, limit);
  run(`decode ${what}, warm table`, warm.length, () => void wd.decode(warm, limit));
  const raw = list.reduce((n, s) => n + s.length, 0);
  console.log(`  (${list.length / 2} fields, ${raw} octets of names and values)`);
}
