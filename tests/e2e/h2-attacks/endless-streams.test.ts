/**
 * An endless run of HEADERS frames, each opening a stream whose request
 * never ends (no END_STREAM), through plb: SETTINGS_MAX_CONCURRENT_STREAMS
 * bounds what reaches the backend, the streams over it are refused
 * (REFUSED_STREAM), and refusing many ends the connection with GOAWAY
 * ENHANCE_YOUR_CALM (floods.ts counts them as premature resets). plb's CPU
 * and memory stay small; a well-behaved client keeps getting 200s.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { H2Error } from "../../../src/http/h2/types.ts";
import { attackRig, costLine, measure, politeClient, type Rig } from "../../support/h2-attack.ts";
import { h2Client } from "../../support/h2-peers.ts";

const MAX_STREAMS = 50;
const STREAMS = 20_000;
let rig: Rig;
beforeAll(async () => {
  rig = await attackRig(`h2_max_concurrent_streams = ${MAX_STREAMS}`);
});
afterAll(() => rig?.stop());

test(`${STREAMS} HEADERS opening streams that never end: at most ${MAX_STREAMS} reach the backend, the rest are refused, and the connection ends in GOAWAY ENHANCE_YOUR_CALM`, async () => {
  const heads0 = rig.backend.heads();
  const run = measure(rig.plb.pid, () =>
    h2Client({
      port: rig.tls,
      tls: true,
      sni: "localhost",
      timeout_ms: 30_000,
      steps: [
        { op: "wait", until: "settings", ms: 5000 },
        // The first MAX_STREAMS reach the backend (their bodies never come), then the flood.
        { op: "open_streams", count: MAX_STREAMS, method: "POST", path: "/endless", end_stream: false },
        { op: "sleep", ms: 1500 },
        { op: "open_streams", count: STREAMS, method: "POST", path: "/endless", end_stream: false },
        { op: "wait", until: "closed", ms: 20_000 },
      ],
    }),
  );
  const polite = await politeClient(rig.tls, run);
  const m = await run;
  const s = m.result.summary;
  const heads = rig.backend.heads() - heads0 - polite.during.length - 1;
  const refused = Object.values(s.streams).filter((x) => x.reset === H2Error.REFUSED_STREAM).length;
  console.log(`${costLine(`endless streams (${STREAMS} HEADERS, max ${MAX_STREAMS} concurrent)`, m)}; backend received ${heads} heads; ${refused} streams refused; GOAWAY last stream ${s.goaway?.last_stream_id}; polite client: ${polite.during.length} during`);
  expect(s.server_settings.MAX_CONCURRENT_STREAMS).toBe(MAX_STREAMS);
  expect(s.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM" });
  expect(s.goaway!.last_stream_id).toBe(2 * MAX_STREAMS - 1); // the streams plb took: the first MAX_STREAMS
  expect(refused).toBeGreaterThan(0);
  expect(s.closed).toBe(true);
  expect(heads).toBeLessThanOrEqual(MAX_STREAMS);
  expect(m.cpu).toBeLessThan(5);
  expect(m.rssPeak - m.rssBefore).toBeLessThan(64 << 20);
  expect(polite.during.every((st) => st === 200)).toBe(true);
  expect(polite.after).toBe(200);
}, 60_000);
