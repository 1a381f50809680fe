/**
 * The HTTP/2 → HTTP/1.1 desync matrix: the cases of James Kettle's "HTTP/2:
 * The Sequel is Always Worse" (PortSwigger, 2021) — H2.CL, H2.TE, CRLF
 * injection in names, values and pseudo-headers, request-line injection
 * through :method, :path and :scheme, :authority and Host tricks, h2c
 * upgrades, pseudo-headers and framing fields in trailers — plus their
 * obvious variants. Each h2 request (header list, END_STREAM, DATA,
 * trailers) is either refused (by h1RequestFrom, or for trailers by
 * lastChunk) or becomes exactly one well-formed HTTP/1.1 request: the bytes
 * a server would get (the head built, then the body as the carrier frames
 * it: chunkFrame + lastChunk, or the DATA under the client's
 * Content-Length) parse with plb's strict parser as one head and one body
 * that ends exactly at the end, with the method, target and host the client
 * sent and no field the client did not send (but Host and the framing).
 */
import { describe, expect, test } from "bun:test";
import { BodyTracker } from "../src/http/body.ts";
import { parseRequestHead } from "../src/http/head.ts";
import { h1RequestFrom } from "../src/http/h2/request-head.ts";
import { DEFAULT_LIMITS } from "../src/http/types.ts";
import { BASE, bytes, type Case, CASES, SMUGGLED, translate } from "./support/h2-desync-cases.ts";

/** The wire bytes parse as exactly one request with what the client asked for; else why not. */
function oneRequest(c: Case, wire: string): string | undefined {
  const buf = bytes(wire);
  const p = parseRequestHead(buf, DEFAULT_LIMITS);
  if (p.kind !== "done") return `head: ${p.kind === "error" ? p.reason : "incomplete"}`;
  const h = p.head;
  const pseudo = (n: string) => c.fields[c.fields.indexOf(n) + 1];
  if (h.method !== pseudo(":method") || h.target !== pseudo(":path")) return "request line differs from :method/:path";
  const auth = c.fields.includes(":authority") ? pseudo(":authority") : pseudo("host");
  if (h.host !== auth) return "Host differs from :authority";
  const sent = new Set<string>();
  for (let i = 0; i < c.fields.length; i += 2) if (!c.fields[i].startsWith(":")) sent.add(c.fields[i]);
  for (const f of h.fields) if (!sent.has(f.lower) && !["host", "content-length", "transfer-encoding"].includes(f.lower)) return `field ${f.lower} the client did not send`;
  if (h.fields.filter((f) => f.lower === "host").length !== 1) return "not one Host";
  const body = new BodyTracker(h.body, false);
  const step = body.take(buf, p.consumed, buf.length);
  if (step.kind === "error") return `body: ${step.reason}`;
  if (!body.done) return "body incomplete";
  if (p.consumed + step.consumed !== buf.length) return `${buf.length - p.consumed - step.consumed} bytes after the request`;
  return undefined;
}

describe(`HTTP/2 desync matrix (${CASES.length} cases)`, () => {
  for (const c of CASES) {
    test(c.name, () => {
      const o = translate(c);
      if (c.want === "refused") {
        expect(o).toMatchObject({ refused: expect.any(String) });
        return;
      }
      if ("refused" in o) throw new Error(`refused: ${o.refused}`);
      expect(o.framing).toBe(c.want);
      expect(oneRequest(c, o.wire)).toBeUndefined();
    });
  }
  test(`0 of ${CASES.length} pass through malformed`, () => {
    const through = CASES.filter((c) => {
      const o = translate(c);
      return "wire" in o && (c.want === "refused" || oneRequest(c, o.wire) !== undefined);
    }).map((c) => c.name);
    expect(through).toEqual([]);
    expect(CASES.filter((c) => c.want === "refused").length).toBeGreaterThan(60);
  });
  test("the H2.CL cases reach the server with the client's length, so the carrier's DATA check decides", () => {
    const r = h1RequestFrom([...BASE(), "content-length", "0"], false, DEFAULT_LIMITS);
    expect(r.kind === "done" && [r.contentLength, r.head.body]).toEqual([0, { kind: "length", length: 0 }]);
    expect(translate(CASES[0])).toEqual({ refused: `DATA (${SMUGGLED.length}) disagree with content-length (0)` });
  });
});
