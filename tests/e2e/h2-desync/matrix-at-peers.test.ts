/**
 * The HTTP/2 desync matrix (tests/support/h2-desync-cases.ts) against real
 * peers:
 * - nginx as the HTTP/1.1 server behind plb: every case plb turns into a
 *   request is sent as the bytes a server would get, followed on the same
 *   connection by a sentinel request; nginx answers each request it reads
 *   with its method and URI, so exactly two answers, the case's then the
 *   sentinel's, show it read exactly one request (a desync shows as a third
 *   answer, a missing sentinel, or a 400).
 * - Python's h2 (hyper-h2) as an HTTP/2 server with its inbound checks:
 *   every header list it refuses as malformed, plb refuses too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { parseResponseHead } from "../../../src/http/head.ts";
import { h1RequestFrom } from "../../../src/http/h2/request-head.ts";
import { DEFAULT_LIMITS } from "../../../src/http/types.ts";
import { CASES, text, translate } from "../../support/h2-desync-cases.ts";
import { type Nginx, startNginx } from "../../support/nginx.ts";
import { PYTHON } from "../../support/notify-listener.ts";
import { freePorts } from "../../support/ports.ts";

let nginx: Nginx;
let port: number;
beforeAll(async () => {
  [port] = await freePorts(1);
  nginx = await startNginx(`server { listen 127.0.0.1:${port}; location / { return 200 "$request_method $request_uri"; } }`, port);
});
afterAll(() => nginx?.stop());

const SENTINEL = "GET /sentinel HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n";

/** Send `wire` then the sentinel on one connection; the answers' status and body, in order (nginx closes after the sentinel). */
function exchange(wire: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(port, "127.0.0.1", () => s.write(Buffer.from(wire + SENTINEL, "latin1")));
    const timer = setTimeout(() => (s.destroy(), reject(new Error(`no close from nginx: ${Buffer.concat(chunks).toString("latin1")}`))), 20_000);
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("error", (e) => (clearTimeout(timer), reject(e)));
    s.on("close", () => {
      clearTimeout(timer);
      const all = new Uint8Array(Buffer.concat(chunks));
      const out: string[] = [];
      let at = 0;
      while (at < all.length) {
        const r = parseResponseHead(all.subarray(at), DEFAULT_LIMITS);
        if (r.kind !== "done") return resolve([...out, `unparsed: ${text(all.subarray(at))}`]);
        const n = r.head.body.kind === "length" ? r.head.body.length : 0;
        out.push(`${r.head.status} ${text(all.subarray(at + r.consumed, at + r.consumed + n))}`);
        at += r.consumed + n;
      }
      resolve(out);
    });
  });
}

describe("nginx reads exactly one request for each case plb lets through", () => {
  const through = CASES.filter((c) => c.want !== "refused");
  test("the matrix has cases that pass (else this proves nothing)", () => expect(through.length).toBeGreaterThanOrEqual(10));
  for (const c of through) {
    test(c.name, async () => {
      const o = translate(c);
      if (!("wire" in o)) throw new Error(`refused: ${o.refused}`);
      const get = (n: string) => c.fields[c.fields.indexOf(n) + 1];
      expect(await exchange(o.wire)).toEqual([`200 ${get(":method")} ${get(":path")}`, "200 GET /sentinel"]);
    });
  }
  test("the check catches a desync: the H2.CL case sent as a naive gateway would (content-length 0, then the DATA)", async () => {
    const r = h1RequestFrom(CASES[0].fields, false, DEFAULT_LIMITS);
    if (r.kind !== "done") throw new Error(r.reason);
    expect(await exchange(text(r.raw) + CASES[0].data!.join(""))).toEqual(["200 POST /", "200 GET /admin", "200 GET /sentinel"]);
  });
});

const H2_SERVER = `
import json, sys
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import RequestReceived
from h2.exceptions import ProtocolError
for line in sys.stdin:
    case = json.loads(line)
    client = H2Connection(H2Configuration(client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
    server = H2Connection(H2Configuration(client_side=False, validate_inbound_headers=True, normalize_inbound_headers=False))
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    fields = case["fields"]
    headers = [(fields[i].encode("latin1"), fields[i + 1].encode("latin1")) for i in range(0, len(fields) - 1, 2)]
    client.send_headers(1, headers, end_stream=case["end"])
    try:
        events = server.receive_data(client.data_to_send())
        verdict = "accepted" if any(isinstance(e, RequestReceived) for e in events) else "rejected"
    except ProtocolError as e:
        verdict = "rejected"
    print(verdict, flush=True)
`;

test("every header list Python's h2 refuses as a server, plb refuses too", async () => {
  const lists = CASES.filter((c) => c.fields.length % 2 === 0);
  const input = lists.map((c) => JSON.stringify({ fields: c.fields, end: c.end ?? (c.data === undefined && c.trailers === undefined) })).join("\n") + "\n";
  const proc = Bun.spawn([PYTHON, "-c", H2_SERVER], { stdin: new Blob([input]), stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect({ code: await proc.exited, err }).toEqual({ code: 0, err: "" });
  const verdicts = out.trim().split("\n");
  expect(verdicts.length).toBe(lists.length);
  const h2Refuses = lists.filter((_, i) => verdicts[i] === "rejected");
  expect(h2Refuses.length).toBeGreaterThan(30);
  const plbPasses = h2Refuses.filter((c) => h1RequestFrom(c.fields, c.end ?? (c.data === undefined && c.trailers === undefined), DEFAULT_LIMITS).kind === "done");
  expect(plbPasses.map((c) => c.name)).toEqual([]);
  // Sanity: h2 accepts the plain requests.
  expect(verdicts[lists.findIndex((c) => c.name.startsWith("host equal to :authority"))]).toBe("accepted");
});

