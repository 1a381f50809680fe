/**
 * The HTTP/2 desync matrix through plb (tests/support/h2-desync-cases.ts:
 * James Kettle's "HTTP/2: The Sequel is Always Worse" and variants): each
 * case is sent as a real h2 request over TLS (raw frames, h2_client.py) to
 * plb in front of a raw TCP server that records every byte
 * (recording-backend.ts). What the server received while the case ran is
 * read with plb's strict parseRequestHead and its body framing (length or
 * chunked, ChunkedScanner): it must be nothing, or exactly one well-formed
 * HTTP/1.1 request whose body is exactly what its framing says. A
 * connection left holding part of a request must have been closed by plb
 * (never reused). Cases whose content-length disagrees with the DATA are
 * refused with RST_STREAM PROTOCOL_ERROR and no whole request reaches the
 * server.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ChunkedScanner } from "../../../src/http/chunked.ts";
import { parseRequestHead } from "../../../src/http/head.ts";
import { H2Error } from "../../../src/http/h2/types.ts";
import { DEFAULT_LIMITS } from "../../../src/http/types.ts";
import { type Case, CASES, text } from "../../support/h2-desync-cases.ts";
import { type Fields, h2Client, type Step, type Summary } from "../../support/h2-peers.ts";
import { type PlbProcess, startPlb } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";
import { recordingBackend, type RecordingBackend } from "../../support/recording-backend.ts";
import { testCa } from "../../support/test-ca.ts";
import { until } from "../../support/until.ts";

let plb: PlbProcess;
let server: RecordingBackend;
let port: number;

beforeAll(async () => {
  const ca = await testCa();
  server = recordingBackend({ keep: true });
  port = await freePort();
  plb = await startPlb(`
[[service]]
name = "desync"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${server.port}"]
tls = { cert = "${ca.server.cert}", key = "${ca.server.key}" }
`);
});
afterAll(async () => {
  await plb?.stop();
  server?.stop();
});

const pairs = (flat: string[]): Fields => {
  const out: Fields = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1] ?? ""]);
  return out;
};

/** The frames of case `c`: HEADERS (END_STREAM unless DATA or trailers follow), each DATA, the trailers. */
function steps(c: Case): Step[] {
  const data = c.data ?? [];
  const end = c.end ?? (c.data === undefined && c.trailers === undefined);
  const out: Step[] = [{ op: "wait", until: "settings", ms: 5000 }, { op: "request", headers: pairs(c.fields), end_stream: end }];
  data.forEach((d, i) => out.push({ op: "data", stream: 1, data: d, end_stream: i === data.length - 1 && c.trailers === undefined }));
  if (c.trailers) out.push({ op: "headers", stream: 1, headers: pairs(c.trailers), end_stream: true });
  out.push({ op: "wait", until: "end", stream: 1, ms: 10_000 });
  return out;
}

interface Received {
  /** Whole requests read, with their body framing. */
  requests: { head: string; framing: string; bodyBytes: number }[];
  /** Why the bytes are not (only) well-formed requests, if they are not. */
  malformed: string[];
  /** Connections left with part of a request. */
  partial: number[];
}

/** Read the bytes each server connection got with plb's strict parsers: whole requests, and what is left. */
function read(byConn: Map<number, Uint8Array>): Received {
  const out: Received = { requests: [], malformed: [], partial: [] };
  for (const [conn, all] of byConn) {
    let at = 0;
    while (at < all.length) {
      const rest = all.subarray(at);
      const h = parseRequestHead(rest, DEFAULT_LIMITS);
      if (h.kind === "more") {
        out.partial.push(conn);
        break;
      }
      if (h.kind === "error") {
        out.malformed.push(`conn ${conn}: ${h.reason}: ${JSON.stringify(text(rest).slice(0, 200))}`);
        break;
      }
      const head = text(rest.subarray(0, h.consumed));
      const body = h.head.body;
      let n = 0;
      if (body.kind === "length") {
        if (rest.length - h.consumed < body.length) {
          out.partial.push(conn);
          break;
        }
        n = body.length;
      } else if (body.kind === "chunked") {
        const r = new ChunkedScanner().scan(rest, h.consumed, rest.length);
        if (r.kind === "error") {
          out.malformed.push(`conn ${conn}: chunked body: ${r.reason}`);
          break;
        }
        if (r.kind === "more") {
          out.partial.push(conn);
          break;
        }
        n = r.consumed;
      }
      out.requests.push({ head, framing: body.kind, bodyBytes: n });
      at += h.consumed + n;
    }
  }
  return out;
}

interface Outcome {
  c: Case;
  summary: Summary;
  got: Received;
  /** Connections with part of a request that plb did not close. */
  leftOpen: number[];
}

/** Run case `c`; what the server received meanwhile, once it is quiet. */
async function runCase(c: Case): Promise<Outcome> {
  const from = server.events.length;
  const { summary } = await h2Client({ port, tls: true, sni: "localhost", timeout_ms: 15_000, steps: steps(c) });
  // Quiet: no new event for 150 ms (bounded).
  let seen = server.events.length;
  let quietSince = Date.now();
  await until(() => {
    if (server.events.length !== seen) (seen = server.events.length), (quietSince = Date.now());
    return Date.now() - quietSince > 150;
  }, "the server to be quiet", 10_000);
  const byConn = new Map<number, Uint8Array>();
  for (const e of server.events.slice(from))
    if (e.kind === "data" && e.data) {
      const prev = byConn.get(e.conn) ?? new Uint8Array(0);
      byConn.set(e.conn, Buffer.concat([prev, e.data]));
    }
  const got = read(byConn);
  // A connection holding part of a request must not be reused: plb closes it.
  await until(() => got.partial.every((id) => server.conns[id].closed), "plb to close the server connections holding part of a request", 5000).catch(() => {});
  return { c, summary, got, leftOpen: got.partial.filter((id) => !server.conns[id].closed) };
}

/** The case has a content-length field that is not the one number the DATA add up to (RFC 9113 §8.1.1: malformed). */
function lengthDisagrees(c: Case): boolean {
  const total = (c.data ?? []).reduce((n, d) => n + d.length, 0);
  const values = pairs(c.fields).filter(([n]) => n === "content-length").map(([, v]) => v);
  return values.some((v) => !/^\d+$/.test(v) || Number(v) !== total);
}

/** Why an outcome is a failure (empty: fine). */
function problems(o: Outcome): string[] {
  const { c, summary, got } = o;
  const s = summary.streams["1"];
  const out: string[] = [...got.malformed.map((m) => `malformed at the server: ${m}`)];
  if (got.requests.length > 1) out.push(`${got.requests.length} requests at the server: ${got.requests.map((r) => JSON.stringify(r.head)).join(" | ")}`);
  if (o.leftOpen.length > 0) out.push(`server connection(s) ${o.leftOpen.join(", ")} hold part of a request and were not closed`);
  if (c.want === "refused") {
    if (got.requests.length > 0) out.push(`refused case, yet a whole request reached the server: ${JSON.stringify(got.requests[0].head)}`);
    if (s === undefined || (s.reset === null && !(typeof s.status === "number" && s.status >= 400))) out.push(`not refused: ${JSON.stringify(s)}`);
    if (lengthDisagrees(c) && s?.reset !== H2Error.PROTOCOL_ERROR) out.push(`content-length case not refused with RST_STREAM PROTOCOL_ERROR: ${JSON.stringify(s)}`);
  } else {
    if (got.requests.length !== 1) out.push(`want one request at the server, got ${got.requests.length}`);
    else if (got.requests[0].framing !== c.want) out.push(`want ${c.want} framing, got ${got.requests[0].framing}: ${JSON.stringify(got.requests[0].head)}`);
    if (got.partial.length > 0) out.push(`part of a request left at the server besides`);
    if (s?.status !== 200) out.push(`want 200 from the server, got ${JSON.stringify(s)}`);
  }
  return out;
}

test(`the desync matrix through plb (${CASES.length} cases over TLS): the server receives nothing or exactly one well-formed request for each`, async () => {
  const outcomes: Outcome[] = [];
  for (const c of CASES) outcomes.push(await runCase(c));
  const bad = outcomes.map((o) => ({ name: o.c.name, problems: problems(o) })).filter((x) => x.problems.length > 0);
  const malformed = outcomes.filter((o) => o.got.malformed.length > 0 || o.got.requests.length > 1 || o.leftOpen.length > 0 || (o.c.want === "refused" && o.got.requests.length > 0));
  const through = outcomes.filter((o) => o.got.requests.length === 1).length;
  const lengthCases = CASES.filter(lengthDisagrees).length;
  const headOnly = outcomes.filter((o) => o.c.want === "refused" && o.got.partial.length > 0).map((o) => o.c.name);
  console.log(`${malformed.length} of ${CASES.length} passed through malformed (${through} reached the server as one well-formed request, ${CASES.length - through} refused, ${lengthCases} of them for a content-length the DATA disagree with, by RST_STREAM PROTOCOL_ERROR${headOnly.length ? `; ${headOnly.length} refused after the head went out, connection closed: ${headOnly.join("; ")}` : ""})`);
  expect(bad).toEqual([]);
  expect(malformed.length).toBe(0);
  expect(server.violations).toEqual([]);
  // The matrix proves something only if both kinds are there.
  expect(through).toBeGreaterThanOrEqual(10);
  expect(lengthCases).toBeGreaterThanOrEqual(8);
  expect(CASES.length - through).toBeGreaterThanOrEqual(60);
}, 240_000);

test("the reading catches a desync: the H2.CL case as a naive gateway would send it reads as two requests", () => {
  const naive = new TextEncoder().encode(`POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n${CASES[0].data![0]}`);
  const got = read(new Map([[0, naive]]));
  expect(got.requests.map((r) => r.head.split("\r\n")[0])).toEqual(["POST / HTTP/1.1", "GET /admin HTTP/1.1"]);
  const half = read(new Map([[0, naive.subarray(0, 30)]]));
  expect(half).toEqual({ requests: [], malformed: [], partial: [0] });
});
