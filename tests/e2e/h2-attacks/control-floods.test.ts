/**
 * Control-frame floods through plb (CVE-2019-9512, 9515, 9518 and kin):
 * SETTINGS and PING floods, a PING flood from a client that reads nothing,
 * empty DATA frames, WINDOW_UPDATE frames, and zero-increment
 * WINDOW_UPDATEs. Each ends in GOAWAY (ENHANCE_YOUR_CALM for the floods,
 * as src/http/h2/floods.ts decides; PROTOCOL_ERROR for a zero increment on
 * the connection), costs plb little CPU and memory, and a well-behaved client
 * on another connection keeps getting 200s. A client that reads nothing is
 * closed by timeout_client.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { EMPTY_DATA_BURST, MAX_UNFLUSHED_ACKS, WINDOW_UPDATE_BURST } from "../../../src/http/h2/floods.ts";
import { FrameType } from "../../../src/http/h2/frames.ts";
import { H2Error } from "../../../src/http/h2/types.ts";
import { attackRig, costLine, measure, socketsHeld, politeClient, type Rig } from "../../support/h2-attack.ts";
import { h2Client, type Scenario } from "../../support/h2-peers.ts";

const TIMEOUT_CLIENT_S = 3;
let rig: Rig;
beforeAll(async () => {
  rig = await attackRig(`timeout_client = "${TIMEOUT_CLIENT_S}s"`);
});
afterAll(() => rig?.stop());

async function attack(name: string, s: Partial<Scenario> & Pick<Scenario, "steps">, transport: "tls" | "h2c" = "tls") {
  const heads0 = rig.backend.heads();
  const run = measure(rig.plb.pid, () => h2Client({ port: rig[transport], tls: transport === "tls", sni: "localhost", timeout_ms: 30_000, ...s }));
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

test("SETTINGS flood: 100,000 empty SETTINGS end in GOAWAY ENHANCE_YOUR_CALM", async () => {
  const { summary } = await attack("SETTINGS flood (100,000 frames)", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "settings_flood", count: 100_000 },
      { op: "wait", until: "closed", ms: 20_000 },
    ],
  });
  expect(summary.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM" });
  expect(summary.goaway!.debug).toContain("SETTINGS/PING acknowledgements");
  expect(summary.closed).toBe(true);
}, 60_000);

test("PING flood from a client that reads nothing (h2c): GOAWAY ENHANCE_YOUR_CALM once the acks pile up, and plb lets go of the connection while the client still reads nothing", async () => {
  const port = rig.h2c;
  const started = Date.now();
  const unreadMs = (TIMEOUT_CLIENT_S + 8) * 1000;
  // Watch plb's side of the connection while the client reads nothing: when is it gone?
  let seen = false;
  let goneAfter: number | undefined;
  const watching = (async () => {
    while (Date.now() - started < unreadMs && goneAfter === undefined) {
      const n = socketsHeld(rig.plb.pid, port);
      if (n > 0) seen = true;
      else if (seen) goneAfter = Date.now() - started;
      await Bun.sleep(100);
    }
  })();
  const { summary } = await attack(
    "PING flood, client not reading (100,000 frames)",
    {
      steps: [
        { op: "wait", until: "settings", ms: 5000 },
        { op: "stop_reading" },
        { op: "ping", count: 100_000 },
        { op: "sleep", ms: unreadMs },
        { op: "start_reading" },
        { op: "wait", until: "closed", ms: 10_000 },
      ],
    },
    "h2c",
  );
  await watching;
  console.log(`PING flood, client not reading: plb let go of the connection after ${goneAfter} ms`);
  expect(seen).toBe(true);
  expect(goneAfter).toBeDefined();
  expect(goneAfter!).toBeLessThan(unreadMs - 1000);
  expect(summary.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM" });
  expect(summary.goaway!.debug).toContain(`more than ${MAX_UNFLUSHED_ACKS} SETTINGS/PING acknowledgements`);
  expect(summary.closed).toBe(true);
}, 60_000);

test(`empty DATA frames on an open stream: GOAWAY ENHANCE_YOUR_CALM after a burst of ${EMPTY_DATA_BURST}`, async () => {
  const { summary, heads } = await attack("empty DATA flood (100,000 frames)", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "request", method: "POST", path: "/upload", end_stream: false },
      { op: "flood", type: FrameType.DATA, stream: 1, count: 100_000 },
      { op: "wait", until: "closed", ms: 20_000 },
    ],
  });
  expect(summary.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM", last_stream_id: 1 });
  expect(summary.goaway!.debug).toContain("empty DATA frames");
  expect(heads).toBeLessThanOrEqual(1);
}, 60_000);

test(`WINDOW_UPDATE flood: GOAWAY ENHANCE_YOUR_CALM after a burst of ${WINDOW_UPDATE_BURST} beyond the DATA sent`, async () => {
  const { summary } = await attack("WINDOW_UPDATE flood (100,000 frames)", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "flood", type: FrameType.WINDOW_UPDATE, stream: 0, payload: "00000001", count: 100_000 },
      { op: "wait", until: "closed", ms: 20_000 },
    ],
  });
  expect(summary.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM" });
  expect(summary.goaway!.debug).toContain("WINDOW_UPDATE frames");
}, 60_000);

test("a zero-increment WINDOW_UPDATE: RST_STREAM PROTOCOL_ERROR on a stream (the connection goes on), GOAWAY PROTOCOL_ERROR on the connection", async () => {
  const { summary } = await attack("zero-increment WINDOW_UPDATE", {
    steps: [
      { op: "wait", until: "settings", ms: 5000 },
      { op: "request", method: "POST", path: "/upload", end_stream: false },
      { op: "window_update", stream: 1, increment: 0 },
      { op: "wait", until: "reset", stream: 1, ms: 5000 },
      { op: "request", path: "/next" },
      { op: "wait", until: "end", stream: 3, ms: 5000 },
      { op: "window_update", stream: 0, increment: 0 },
      { op: "wait", until: "closed", ms: 10_000 },
    ],
  });
  expect(summary.streams["1"].reset).toBe(H2Error.PROTOCOL_ERROR);
  expect(summary.streams["3"]).toMatchObject({ status: 200, ended: true });
  expect(summary.goaway).toMatchObject({ error: "PROTOCOL_ERROR", last_stream_id: 3 });
  expect(summary.closed).toBe(true);
}, 60_000);
