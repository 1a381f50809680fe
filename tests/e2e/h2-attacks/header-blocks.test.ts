/**
 * Attacks on header blocks through plb: an endless run of CONTINUATION
 * frames without END_HEADERS (the 2024 "CONTINUATION flood"), one huge
 * header block, an HPACK bomb (a large dynamic-table entry referenced
 * thousands of times), and a dynamic table size update out of place. Each
 * ends the connection with GOAWAY (ENHANCE_YOUR_CALM for the floods,
 * COMPRESSION_ERROR for the bad encoding), costs plb little CPU and memory,
 * and a well-behaved client on another connection keeps getting 200s.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { MAX_CONTINUATIONS, RESET_RATIO_MIN } from "../../../src/http/h2/floods.ts";
import { FrameType } from "../../../src/http/h2/frames.ts";
import { attackRig, costLine, measure, politeClient, type Rig } from "../../support/h2-attack.ts";
import { h2Client, type Scenario } from "../../support/h2-peers.ts";
import { literalBlock } from "../../support/h2-literal-hpack.ts";

let rig: Rig;
beforeAll(async () => {
  rig = await attackRig();
});
afterAll(() => rig?.stop());

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const END_STREAM_END_HEADERS = 0x5;

/** Run `steps` on the TLS service beside a polite client; the cost, the summary, what the backend got. */
async function attack(name: string, s: Partial<Scenario> & Pick<Scenario, "steps">) {
  const heads0 = rig.backend.heads();
  const run = measure(rig.plb.pid, () => h2Client({ port: rig.tls, tls: true, sni: "localhost", timeout_ms: 30_000, ...s }));
  const polite = await politeClient(rig.tls, run);
  const m = await run;
  const heads = rig.backend.heads() - heads0 - polite.during.length - 1;
  console.log(`${costLine(name, m)}; backend received ${heads} of the attack's requests; polite client: ${polite.during.length} during`);
  expect(polite.during.every((st) => st === 200)).toBe(true);
  expect(polite.after).toBe(200);
  expect(m.cpu).toBeLessThan(5);
  expect(m.rssPeak - m.rssBefore).toBeLessThan(64 << 20);
  return { m, summary: m.result.summary, heads };
}

test("CONTINUATION flood: empty CONTINUATION frames without END_HEADERS end in GOAWAY ENHANCE_YOUR_CALM after the limit", async () => {
  const { summary, heads } = await attack("CONTINUATION flood (200,000 empty frames)", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "continuation", count: 200_000, fragment: 0, end_headers: false },
      { op: "wait", until: "closed", ms: 20_000 },
    ],
  });
  expect(summary.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM", last_stream_id: 0 });
  expect(summary.goaway!.debug).toContain(`more than ${MAX_CONTINUATIONS} CONTINUATION`);
  expect(summary.closed).toBe(true);
  expect(heads).toBe(0);
}, 60_000);

test("one huge header block (16 KiB CONTINUATION frames, 3 MiB in all) ends in GOAWAY ENHANCE_YOUR_CALM once it passes the block limit", async () => {
  const { summary, heads } = await attack("huge header block (3 MiB)", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "continuation", count: 200, fragment: 16384, end_headers: true },
      { op: "wait", until: "closed", ms: 20_000 },
    ],
  });
  expect(summary.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM", last_stream_id: 0 });
  expect(summary.goaway!.debug).toMatch(/header block over \d+ octets before END_HEADERS/);
  expect(heads).toBe(0);
}, 60_000);

test("HPACK bomb: one block referencing a 4000-octet table entry 16,000 times (64 MB decoded) gets 431 and no request; a run of them ends in GOAWAY ENHANCE_YOUR_CALM", async () => {
  const one = await attack("HPACK bomb (1 stream, 16,000 references)", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "hpack_bomb", value_size: 4000, refs: 16_000, streams: 1 },
      { op: "wait", until: "end", stream: 3, ms: 10_000 },
      { op: "request", path: "/after-bomb" },
      { op: "wait", until: "end", ms: 10_000 },
    ],
  });
  // The request that planted the entry is served; the bomb is answered 431 by the session (never translated); the connection goes on.
  expect(one.summary.streams["1"]).toMatchObject({ status: 200, ended: true });
  expect(one.summary.streams["3"]).toMatchObject({ status: 431, ended: true });
  expect(one.summary.streams["5"]).toMatchObject({ status: 200, ended: true });
  expect(one.summary.goaway).toBeNull();
  expect(one.heads).toBe(2);

  const many = await attack(`HPACK bomb (${3 * RESET_RATIO_MIN} streams × 16,000 references)`, {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "hpack_bomb", value_size: 4000, refs: 16_000, streams: 3 * RESET_RATIO_MIN },
      { op: "wait", until: "closed", ms: 20_000 },
    ],
  });
  expect(many.summary.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM" });
  expect(many.summary.closed).toBe(true);
  expect(many.heads).toBeLessThanOrEqual(1);
}, 60_000);

test("a dynamic table size update after a field (RFC 7541 §4.2) is a COMPRESSION_ERROR: GOAWAY, no request", async () => {
  const fields = [":method", "GET", ":scheme", "https", ":path", "/late-update", ":authority", "localhost"];
  const late = hex(new Uint8Array([...literalBlock(fields), 0x20]));
  const { summary, heads } = await attack("table size update out of place", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "frame", type: FrameType.HEADERS, flags: END_STREAM_END_HEADERS, stream: 1, payload: late },
      { op: "wait", until: "closed", ms: 10_000 },
    ],
  });
  expect(summary.goaway).toMatchObject({ error: "COMPRESSION_ERROR", last_stream_id: 0 });
  expect(heads).toBe(0);
  // Over the table size we announced (4096): also a COMPRESSION_ERROR.
  const big = hex(new Uint8Array([0x3f, 0xe1, 0xff, 0x03, ...literalBlock(fields)])); // size update to 65535
  const over = await attack("table size update over SETTINGS_HEADER_TABLE_SIZE", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "frame", type: FrameType.HEADERS, flags: END_STREAM_END_HEADERS, stream: 1, payload: big },
      { op: "wait", until: "closed", ms: 10_000 },
    ],
  });
  expect(over.summary.goaway).toMatchObject({ error: "COMPRESSION_ERROR" });
  expect(over.heads).toBe(0);
}, 60_000);
