/**
 * Rapid reset (CVE-2023-44487) through plb: a client opens thousands of
 * streams and resets each at once. plb ends the connection with GOAWAY
 * ENHANCE_YOUR_CALM (floods.ts: more than RESET_RATIO_MIN streams reset and
 * more resets than completed streams), the backend sees a bounded number of
 * the requests, plb's CPU and memory stay small, and a well-behaved client
 * on another connection keeps getting 200s during and after. A client that
 * first completes more streams than it will reset (to pass the ratio) meets
 * the reset rate's bucket instead (RESET_BURST at RESET_PER_SECOND).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { RESET_BURST, RESET_RATIO_MIN } from "../../../src/http/h2/floods.ts";
import { H2Error } from "../../../src/http/h2/types.ts";
import { attackRig, costLine, measure, politeClient, type Rig } from "../../support/h2-attack.ts";
import { h2Client } from "../../support/h2-peers.ts";

let rig: Rig;
beforeAll(async () => {
  rig = await attackRig();
});
afterAll(() => rig?.stop());

const STREAMS = 5000;

for (const transport of ["tls", "h2c"] as const) {
  test(`${transport}: ${STREAMS} streams opened and reset at once end in GOAWAY ENHANCE_YOUR_CALM; the backend gets at most a few hundred; others keep getting 200`, async () => {
    const heads0 = rig.backend.heads();
    const attack = measure(rig.plb.pid, () =>
      h2Client({
        port: rig[transport],
        tls: transport === "tls",
        sni: "localhost",
        timeout_ms: 30_000,
        steps: [
          { op: "wait", until: "settings", count: 1, ms: 5000 },
          { op: "open_streams", count: STREAMS, path: "/reset", rst: H2Error.CANCEL },
          { op: "wait", until: "closed", ms: 20_000 },
        ],
      }),
    );
    const polite = await politeClient(rig.tls, attack);
    const m = await attack;
    const heads = rig.backend.heads() - heads0 - polite.during.length - 1;
    console.log(`${costLine(`rapid reset (${transport}, ${STREAMS} streams)`, m)}; backend received ${heads} of the attack's requests; polite client: ${polite.during.length} requests during`);
    expect(m.result.summary.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM" });
    expect(m.result.summary.goaway!.debug).toContain("rapid reset");
    expect(m.result.summary.closed).toBe(true);
    // A stream can reach the backend before its RST_STREAM is read: at most the ratio's minimum, with room for what one read holds.
    expect(heads).toBeLessThanOrEqual(2 * RESET_RATIO_MIN);
    expect(m.cpu).toBeLessThan(5);
    expect(m.rssPeak - m.rssBefore).toBeLessThan(64 << 20);
    expect(polite.during.every((s) => s === 200)).toBe(true);
    expect(polite.after).toBe(200);
  }, 60_000);
}

test(`a rapid reset behind ${RESET_BURST + 100} completed streams (the ratio check passed) ends at the reset bucket: GOAWAY ENHANCE_YOUR_CALM after ${RESET_BURST} resets`, async () => {
  const batches = Math.ceil((RESET_BURST + 100) / 100);
  const heads0 = rig.backend.heads();
  const attack = measure(rig.plb.pid, () =>
    h2Client({
      port: rig.h2c,
      timeout_ms: 50_000,
      steps: [
        { op: "wait", until: "settings", count: 1, ms: 5000 },
        // Completed streams first, 100 at a time (the concurrency limit): each waits for the last of its batch.
        ...Array.from({ length: batches }, () => [
          { op: "open_streams" as const, count: 100, path: "/complete" },
          { op: "wait" as const, until: "end" as const, ms: 10_000 },
          { op: "sleep" as const, ms: 30 },
        ]).flat(),
        { op: "open_streams", count: 3 * RESET_BURST, path: "/reset", rst: H2Error.CANCEL },
        { op: "wait", until: "closed", ms: 20_000 },
      ],
    }),
  );
  const polite = await politeClient(rig.tls, attack);
  const m = await attack;
  const s = m.result.summary;
  const completed = Object.values(s.streams).filter((x) => x.status === 200 && x.ended).length;
  const heads = rig.backend.heads() - heads0 - polite.during.length - 1;
  console.log(`${costLine(`rapid reset behind ${completed} completed streams (h2c)`, m)}; backend received ${heads} requests (${completed} completed); GOAWAY: ${s.goaway?.debug}; polite client: ${polite.during.length} during`);
  expect(completed).toBeGreaterThan(RESET_BURST);
  expect(s.goaway).toMatchObject({ error: "ENHANCE_YOUR_CALM" });
  expect(s.goaway!.debug).toContain(`more than ${RESET_BURST} stream resets`);
  // The reset streams that reached the backend: at most the bucket's burst (most are reset before plb connects).
  expect(heads - completed).toBeLessThanOrEqual(RESET_BURST);
  expect(m.cpu).toBeLessThan(10);
  expect(m.rssPeak - m.rssBefore).toBeLessThan(64 << 20);
  expect(polite.during.every((st) => st === 200)).toBe(true);
  expect(polite.after).toBe(200);
}, 90_000);
