/**
 * Slow reading through plb: a client that announces SETTINGS_INITIAL_WINDOW_SIZE
 * 0 and never opens a window asks for large responses on many streams. plb
 * holds only what its buffers take (the servers are paused), closes the
 * connection once timeout_client passes without the client taking anything,
 * and a well-behaved client on another connection keeps getting 200s.
 */
import { H2Error } from "../../../src/http/h2/types.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { attackRig, BIG, costLine, measure, politeClient, type Rig } from "../../support/h2-attack.ts";
import { h2Client } from "../../support/h2-peers.ts";

const TIMEOUT_CLIENT_S = 3;
const STREAMS = 50;
let rig: Rig;
beforeAll(async () => {
  rig = await attackRig(`timeout_client = "${TIMEOUT_CLIENT_S}s"`);
});
afterAll(() => rig?.stop());

test(`zero window: ${STREAMS} streams of ${BIG >> 20} MiB never read; plb's memory stays bounded and timeout_client closes the connection`, async () => {
  const run = measure(rig.plb.pid, () =>
    h2Client({
      port: rig.tls,
      tls: true,
      sni: "localhost",
      settings: { INITIAL_WINDOW_SIZE: 0 },
      auto: { window_update: false },
      timeout_ms: 40_000,
      steps: [
        { op: "wait", until: "settings", ms: 5000 },
        { op: "open_streams", count: STREAMS, path: "/big" },
        { op: "wait", until: "closed", ms: 30_000 },
      ],
    }),
  );
  const polite = await politeClient(rig.tls, run);
  const m = await run;
  const s = m.result.summary;
  const responses = Object.values(s.streams).filter((x) => x.status === 200).length;
  console.log(`${costLine(`zero window (${STREAMS} × ${BIG >> 20} MiB)`, m)}; closed after ${s.elapsed_ms} ms; ${responses} response heads, ${Object.values(s.streams).reduce((n, x) => n + x.data_length, 0)} DATA octets; polite client: ${polite.during.length} during`);
  expect(responses).toBe(STREAMS); // the heads go out (HEADERS are not flow-controlled); no DATA can
  expect(Object.values(s.streams).every((x) => x.data_length === 0)).toBe(true);
  expect(s.closed).toBe(true);
  // Whichever of plb's two timeout_client rules fires first: the connection whose client took nothing gets
  // GOAWAY(NO_ERROR, "timeout_client"), or each stream whose window stayed closed is reset (INTERNAL_ERROR) and the
  // then idle connection gets GOAWAY(NO_ERROR).
  expect(s.goaway).toMatchObject({ error: "NO_ERROR" });
  if (s.goaway?.debug !== "timeout_client") expect(Object.values(s.streams).every((x) => x.reset === H2Error.INTERNAL_ERROR)).toBe(true);
  expect(s.elapsed_ms).toBeGreaterThanOrEqual(TIMEOUT_CLIENT_S * 1000 - 500);
  expect(s.elapsed_ms).toBeLessThan(TIMEOUT_CLIENT_S * 1000 + 15_000);
  expect(m.cpu).toBeLessThan(5);
  // 50 MiB asked for: plb holds a bounded part of it.
  expect(m.rssPeak - m.rssBefore).toBeLessThan(40 << 20);
  expect(polite.during.every((st) => st === 200)).toBe(true);
  expect(polite.after).toBe(200);
}, 60_000);

test(`a client that reads nothing: ${STREAMS} streams of ${BIG >> 20} MiB fill plb's queue for it; plb stops there, and timeout_client closes the connection`, async () => {
  const run = measure(rig.plb.pid, () =>
    h2Client({
      port: rig.h2c,
      timeout_ms: 40_000,
      steps: [
        { op: "wait", until: "settings", ms: 5000 },
        { op: "settings", settings: { INITIAL_WINDOW_SIZE: 1 << 24 } },
        { op: "window_update", stream: 0, increment: 1 << 30 },
        { op: "stop_reading" },
        { op: "open_streams", count: STREAMS, path: "/big" },
        { op: "sleep", ms: (TIMEOUT_CLIENT_S + 4) * 1000 },
        { op: "start_reading" },
        { op: "wait", until: "closed", ms: 20_000 },
      ],
    }),
  );
  const polite = await politeClient(rig.tls, run);
  const m = await run;
  const s = m.result.summary;
  const got = Object.values(s.streams).reduce((n, x) => n + x.data_length, 0);
  console.log(`${costLine(`client reading nothing (${STREAMS} × ${BIG >> 20} MiB)`, m)}; it read ${(got / (1 << 20)).toFixed(1)} MiB afterwards; polite client: ${polite.during.length} during`);
  expect(s.closed).toBe(true);
  // What was in the kernel's buffers when plb gave up, not the 50 MiB asked for.
  expect(got).toBeLessThan(STREAMS * BIG / 2);
  expect(Object.values(s.streams).filter((x) => x.ended).length).toBeLessThan(STREAMS);
  expect(m.cpu).toBeLessThan(5);
  expect(m.rssPeak - m.rssBefore).toBeLessThan(40 << 20);
  expect(polite.during.every((st) => st === 200)).toBe(true);
  expect(polite.after).toBe(200);
}, 60_000);
