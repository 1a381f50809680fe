/**
 * src/http/h2/floods.ts, through the session: each flood ends the
 * connection with GOAWAY ENHANCE_YOUR_CALM just past its limit, and the
 * same traffic at a client's honest pace does not.
 */
import { describe, expect, test } from "bun:test";
import {
  Bucket, EMPTY_DATA_BURST, EMPTY_DATA_PER_SECOND, FloodGuard, MAX_CONTINUATIONS, MAX_UNFLUSHED_ACKS, MIN_BLOCK_BYTES, RESET_BURST, RESET_PER_SECOND, RESET_RATIO_MIN, WINDOW_UPDATE_BURST,
} from "../src/http/h2/floods.ts";
import { FrameType } from "../src/http/h2/frames.ts";
import { H2Error } from "../src/http/h2/types.ts";
import { continuation, data, GET, goawayOf, Harness, headers, literalBlock, ping, POST, raw, rst, settings, windowUpdate } from "./support/h2-wire.ts";

function calm(h: Harness): void {
  expect(goawayOf(h.take())?.[1]).toBe(H2Error.ENHANCE_YOUR_CALM);
  expect(h.events.at(-1)).toMatchObject({ e: "connectionError", code: H2Error.ENHANCE_YOUR_CALM });
}

function fine(h: Harness): void {
  expect(h.session.closed).toBe(false);
  expect(goawayOf(h.take())).toBeUndefined();
}

describe("Bucket", () => {
  test("a burst, then the rate", () => {
    const b = new Bucket(3, 2);
    expect([b.take(0), b.take(0), b.take(0), b.take(0)]).toEqual([true, true, true, false]);
    const c = new Bucket(3, 2);
    for (let k = 0; k < 3; k++) c.take(0);
    expect(c.take(500)).toBe(true); // one token back after 0.5 s at 2/s
    expect(c.take(500)).toBe(false);
    c.give(10);
    expect(c.take(500)).toBe(true);
  });
});

describe("FloodGuard", () => {
  test("a bucket made at its first frame is full: DATA sent before any WINDOW_UPDATE gives nothing beyond the burst", () => {
    const g = new FloodGuard();
    g.dataFramesSent(10_000);
    for (let k = 0; k < WINDOW_UPDATE_BURST; k++) expect(g.windowUpdate(0)).toBeUndefined();
    expect(g.windowUpdate(0)).toContain("WINDOW_UPDATE");
    g.dataFramesSent(1); // made now: one DATA frame gives 2 tokens back (one paid the refused frame's debt)
    expect(g.windowUpdate(0)).toBeUndefined();
    expect(g.windowUpdate(0)).toContain("WINDOW_UPDATE");
  });
  test("the reset and empty-DATA buckets start full at their first use", () => {
    const g = new FloodGuard();
    for (let k = 0; k < EMPTY_DATA_BURST; k++) expect(g.emptyDataFrame(0)).toBeUndefined();
    expect(g.emptyDataFrame(0)).toContain("empty DATA");
    for (let k = 0; k < RESET_RATIO_MIN - 1; k++) g.streamCompleted();
    for (let k = 0; k < RESET_RATIO_MIN - 1; k++) expect(g.prematureReset(0)).toBeUndefined();
  });
});

describe("rapid reset (CVE-2023-44487)", () => {
  test(`streams opened and reset with none completed: ENHANCE_YOUR_CALM at the ${RESET_RATIO_MIN}th`, () => {
    const h = new Harness().open();
    let id = 1;
    for (; id < 2 * (RESET_RATIO_MIN - 1); id += 2) h.feed(headers(id, GET, false), rst(id, H2Error.CANCEL));
    fine(h);
    h.feed(headers(id, GET, false), rst(id, H2Error.CANCEL));
    calm(h);
  });

  test("streams the session resets for the client's faults count too", () => {
    const h = new Harness().open();
    for (let id = 1; id <= 2 * RESET_RATIO_MIN; id += 2) h.feed(headers(id, [...GET, "connection", "x"], true));
    calm(h);
  });

  test("as many resets as completed streams, at under the rate, for a long time: fine", () => {
    const h = new Harness().open();
    for (let id = 1; id < 4 * 3000; id += 4) {
      h.now += Math.ceil(1000 / (RESET_PER_SECOND - 8));
      h.feed(headers(id, GET, true));
      h.session.respond(id, [":status", "200"], true);
      h.feed(headers(id + 2, GET, false), rst(id + 2, H2Error.CANCEL));
    }
    fine(h);
  });

  test(`the same without pause: ENHANCE_YOUR_CALM once the burst of ${RESET_BURST} is spent`, () => {
    const h = new Harness().open();
    let n = 0;
    for (let id = 1; !h.session.closed && id < 8 * RESET_BURST; id += 4) {
      h.feed(headers(id, GET, true));
      h.session.respond(id, [":status", "200"], true);
      h.feed(headers(id + 2, GET, false), rst(id + 2, H2Error.CANCEL));
      n++;
    }
    expect(n).toBe(RESET_BURST + 1);
    calm(h);
  });

  test("a reset after our complete response (half-closed local) is not premature", () => {
    const h = new Harness().open();
    for (let id = 1; id < 2 * 3 * RESET_RATIO_MIN; id += 2) {
      h.now += 50;
      h.feed(headers(id, POST(), false));
      h.session.respond(id, [":status", "413"], true);
      h.feed(rst(id, H2Error.NO_ERROR));
    }
    fine(h);
  });
});

describe("CONTINUATION flood", () => {
  test(`more than ${MAX_CONTINUATIONS} CONTINUATION frames in one block: ENHANCE_YOUR_CALM, before any decoding`, () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.HEADERS, 0, 1, literalBlock(GET)));
    for (let k = 0; k < MAX_CONTINUATIONS; k++) h.feed(raw(FrameType.CONTINUATION, 0, 1));
    fine(h);
    h.feed(raw(FrameType.CONTINUATION, 0, 1));
    calm(h);
    expect(h.decoder.blocks).toBe(0);
  });

  test(`a block over ${MIN_BLOCK_BYTES} octets (4 × a 16 KiB max header list): ENHANCE_YOUR_CALM`, () => {
    const h = new Harness().open();
    const part = literalBlock(["x-a", "b".repeat(16000)]);
    h.feed(raw(FrameType.HEADERS, 0, 1, literalBlock(GET)));
    let k = 0;
    while (!h.session.closed && k < 10) {
      h.feed(raw(FrameType.CONTINUATION, 0, 1, part));
      k++;
    }
    expect(k).toBe(Math.floor(MIN_BLOCK_BYTES / part.length) + 1);
    calm(h);
  });

  test("the bound follows a larger max header list size", () => {
    expect(FloodGuard.maxBlockBytes(100_000)).toBe(400_000);
    const h = new Harness({ maxHeaderListSize: 100_000 }).open();
    h.feed(raw(FrameType.HEADERS, 0, 1, literalBlock(GET)));
    for (let k = 0; k < 10; k++) h.feed(raw(FrameType.CONTINUATION, 0, 1, new Uint8Array(16000)));
    fine(h);
  });

  test("a block in 100 small CONTINUATIONs is a request", () => {
    const h = new Harness().open();
    const fields = [...GET];
    for (let k = 0; k < 100; k++) fields.push(`x-${k}`, "v");
    h.feed(raw(FrameType.HEADERS, 1, 1, literalBlock(GET)));
    for (let k = 0; k < 100; k++) h.feed(continuation(1, [`x-${k}`, "v"], k === 99));
    expect(h.events).toEqual([{ e: "request", id: 1, fields, end: true }]);
  });
});

describe("SETTINGS and PING floods", () => {
  test(`more than ${MAX_UNFLUSHED_ACKS} acks while the carrier has not flushed: ENHANCE_YOUR_CALM`, () => {
    const h = new Harness().open();
    h.session.flushed();
    for (let k = 0; k < MAX_UNFLUSHED_ACKS; k++) h.feed(k % 2 ? ping() : settings());
    fine(h);
    h.feed(ping());
    calm(h);
  });

  test("the same acks with the carrier flushing in between: fine", () => {
    const h = new Harness().open();
    for (let k = 0; k < 5 * MAX_UNFLUSHED_ACKS; k++) {
      h.feed(k % 2 ? ping() : settings());
      if (k % 100 === 0) h.session.flushed();
    }
    fine(h);
  });
});

describe("empty DATA frames", () => {
  test(`more than ${EMPTY_DATA_BURST} empty DATA frames without END_STREAM at once: ENHANCE_YOUR_CALM`, () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false));
    for (let k = 0; k < EMPTY_DATA_BURST; k++) h.feed(data(1, "", false));
    fine(h);
    h.feed(data(1, "", false));
    calm(h);
  });

  test("under the rate: fine; an empty DATA with END_STREAM is not counted", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false));
    for (let k = 0; k < 3 * EMPTY_DATA_BURST; k++) {
      h.now += Math.ceil(1000 / (EMPTY_DATA_PER_SECOND / 2));
      h.feed(data(1, "", false));
    }
    for (let id = 3; id < 2 * 3 * EMPTY_DATA_BURST; id += 2) {
      h.feed(headers(id, POST(), false), data(id, "", true));
      h.session.respond(id, [":status", "204"], true);
    }
    fine(h);
  });
});

describe("WINDOW_UPDATE flood", () => {
  test(`more than ${WINDOW_UPDATE_BURST} WINDOW_UPDATEs with no DATA sent: ENHANCE_YOUR_CALM`, () => {
    const h = new Harness().open();
    for (let k = 0; k < WINDOW_UPDATE_BURST; k++) h.feed(windowUpdate(0, 1));
    fine(h);
    h.feed(windowUpdate(0, 1));
    calm(h);
  });

  test("a WINDOW_UPDATE for every DATA frame we send, on a long download: fine", () => {
    const h = new Harness().open(settings([4, 16384]));
    h.feed(headers(1, GET, true));
    h.session.respond(1, [":status", "200"], false);
    const chunk = new Uint8Array(16384);
    for (let k = 0; k < 5 * WINDOW_UPDATE_BURST; k++) {
      expect(h.session.sendData(1, chunk, false)).toBe(16384);
      h.feed(windowUpdate(1, 16384), windowUpdate(0, 16384));
      h.take();
    }
    fine(h);
  });
});

test("every flood ends with a GOAWAY whose last stream id is the last request passed on", () => {
  const h = new Harness().open();
  h.feed(headers(1, GET, true), headers(3, GET, true));
  for (let k = 0; k <= MAX_UNFLUSHED_ACKS; k++) h.feed(ping());
  expect(goawayOf(h.take())).toEqual([3, H2Error.ENHANCE_YOUR_CALM]);
});
