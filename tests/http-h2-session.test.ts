/**
 * src/http/h2/session.ts beyond h2spec's cases (those are in
 * http-h2-session-h2spec.test.ts): flow control of received DATA and its
 * batched WINDOW_UPDATEs, what the carrier submits, the 431 the session
 * answers itself, and any split of the input giving the same result.
 */
import { describe, expect, test } from "bun:test";
import { FrameType } from "../src/http/h2/frames.ts";
import { H2Error } from "../src/http/h2/types.ts";
import {
  bytes, concat, connError, continuation, data, GET, goawayOf, Harness, headers, literalBlock, ping, POST, PREFACE, raw, resets, rst, settings, settingsAck, streamError, windowUpdate,
} from "./support/h2-wire.ts";

describe("flow control of received DATA", () => {
  test("consumed() re-opens the windows in batches (half a window), not per DATA frame", () => {
    const h = new Harness().open();
    h.feed(settingsAck(), headers(1, POST(), false));
    for (let k = 0; k < 4; k++) {
      h.feed(data(1, new Uint8Array(10000), false));
      h.session.consumed(1, 10000);
    }
    const fs = h.take();
    // 40000 consumed of 65535: one update each for the stream and the connection, once 32768 was reached
    expect(fs.map((f) => f.type === FrameType.WINDOW_UPDATE && [f.streamId, f.increment])).toEqual([[0, 40000], [1, 40000]]);
  });

  test("DATA beyond the stream window: stream FLOW_CONTROL_ERROR; beyond the connection window: connection FLOW_CONTROL_ERROR", () => {
    const h = new Harness({ initialWindowSize: 16384 }).open();
    h.feed(settingsAck(), headers(1, POST(), false), data(1, new Uint8Array(16384), false), data(1, "x", false));
    streamError(h, 1, H2Error.FLOW_CONTROL_ERROR);
    const c = new Harness().open();
    c.feed(headers(1, POST(), false), headers(3, POST(), false));
    for (let k = 0; k < 3; k++) c.feed(data(1, new Uint8Array(16384), false));
    c.feed(data(3, new Uint8Array(16384), false));
    expect(c.session.closed).toBe(true);
    connError(c, H2Error.FLOW_CONTROL_ERROR);
  });

  test("before our SETTINGS are acknowledged a stream may receive 65535 octets even with a smaller initial window", () => {
    const h = new Harness({ initialWindowSize: 1000 }).open();
    h.feed(headers(1, POST(), false), data(1, new Uint8Array(16384), false), data(1, new Uint8Array(16384), false));
    expect(h.session.closed).toBe(false);
    expect(resets(h.take())).toEqual([]);
    h.feed(settingsAck(), data(1, new Uint8Array(16384), false));
    streamError(h, 1, H2Error.FLOW_CONTROL_ERROR);
  });

  test("padding and DATA on closed streams go back to the connection window", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), rst(1, H2Error.CANCEL));
    h.take();
    h.feed(headers(3, POST(), false));
    for (let k = 0; k < 2; k++) h.feed(raw(FrameType.DATA, 0x8, 3, [200, ...new Uint8Array(16000 - 201 + 200)]));
    h.session.reset(3, H2Error.CANCEL);
    expect(h.events.at(-1)).toMatchObject({ e: "data" });
    h.take();
    for (let k = 0; k < 6; k++) h.feed(data(3, new Uint8Array(16000), false));
    expect(h.session.closed).toBe(false);
    const fs = h.take();
    expect(fs.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0).length).toBeGreaterThan(0);
    expect(resets(fs)).toEqual([]); // we reset 3: DATA in flight is ignored
  });

  test("a stream's undelivered octets go back to the connection when it closes; consumed() after is ignored", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), data(1, new Uint8Array(16000), false), data(1, new Uint8Array(16000), false), data(1, new Uint8Array(16000), false));
    h.take();
    h.feed(rst(1, H2Error.CANCEL));
    const fs = h.take();
    expect(fs.map((f) => f.type === FrameType.WINDOW_UPDATE && [f.streamId, f.increment])).toEqual([[0, 48000]]);
    h.session.consumed(1, 48000);
    expect(h.take()).toEqual([]);
  });
});

describe("what the carrier submits", () => {
  test("sendData splits at the peer's max frame size and stops at the connection window", () => {
    const h = new Harness().open(settings([4, 1 << 20], [5, 20000]));
    h.feed(headers(1, GET, true));
    h.session.respond(1, [":status", "200"], false);
    h.take();
    expect(h.session.sendData(1, new Uint8Array(100000), true)).toBe(65535);
    const fs = h.take();
    expect(fs.map((f) => f.type === FrameType.DATA && f.flowLength)).toEqual([20000, 20000, 20000, 5535]);
    expect(fs.every((f) => f.type === FrameType.DATA && !f.endStream)).toBe(true);
    expect(h.session.sendWindow(1)).toBe(0);
    h.feed(windowUpdate(0, 100000));
    expect(h.events.at(-1)).toEqual({ e: "window", id: 0 });
    expect(h.session.sendData(1, new Uint8Array(100000 - 65535), true)).toBe(100000 - 65535);
    expect(h.take().at(-1)).toMatchObject({ type: FrameType.DATA, endStream: true });
  });

  test("an empty DATA with END_STREAM goes even with a zero window", () => {
    const h = new Harness().open(settings([4, 0]));
    h.feed(headers(1, GET, true));
    h.session.respond(1, [":status", "200"], false);
    h.take();
    expect(h.session.sendData(1, new Uint8Array(0), true)).toBe(0);
    expect(h.take()).toEqual([expect.objectContaining({ type: FrameType.DATA, endStream: true, flowLength: 0 })]);
    expect(h.session.activeStreams).toBe(0);
  });

  test("a response HEADERS over the peer's max frame size is split into CONTINUATIONs", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true));
    h.session.respond(1, [":status", "200", "x-big", "b".repeat(40000)], true);
    expect(h.take().map((f) => f.type)).toEqual([FrameType.HEADERS, FrameType.CONTINUATION, FrameType.CONTINUATION]);
  });

  test("a 1xx then the response on one stream", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(["expect", "100-continue"]), false));
    h.session.respond(1, [":status", "100"], false);
    h.feed(data(1, "x", true));
    h.session.respond(1, [":status", "200"], true);
    expect(h.take().filter((f) => f.type === FrameType.HEADERS).length).toBe(2);
    expect(h.session.activeStreams).toBe(0);
  });

  test("reset() sends RST_STREAM without telling the carrier back; frames in flight are then ignored", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false));
    h.session.reset(1, H2Error.CANCEL);
    expect(resets(h.take())).toEqual([[1, H2Error.CANCEL]]);
    h.feed(data(1, "late", false), headers(1, ["x-t", "1"], true), windowUpdate(1, 5), rst(1, H2Error.CANCEL));
    expect(h.take()).toEqual([]);
    expect(h.events.map((e) => e.e)).toEqual(["request"]);
    expect(h.decoder.blocks).toBe(2);
  });

  test("goaway(): last id is the highest request passed on; new streams after it are ignored, open ones go on", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true), headers(3, POST(), false));
    h.session.goaway(H2Error.NO_ERROR, "bye");
    expect(goawayOf(h.take())).toEqual([3, H2Error.NO_ERROR]);
    h.feed(headers(5, GET, true), data(5, "x", true), data(3, "body", true));
    expect(h.events.map((e) => e.e === "request" ? e.id : e.e)).toEqual([1, 3, "data"]);
    expect(h.take()).toEqual([]);
    expect(h.decoder.blocks).toBe(3);
    expect(h.session.closed).toBe(false);
  });

  test("the peer's HEADER_TABLE_SIZE reaches the encoder, every value in order", () => {
    const h = new Harness().open(settings([1, 0], [1, 4096]));
    expect(h.encoder.peerMaxTableSizes).toEqual([0, 4096]);
  });

  test("submits may come from inside a handler callback", () => {
    const h = new Harness({}, {
      onRequest: (id) => {
        h.session.respond(id, [":status", "200"], false);
        h.session.sendData(id, bytes("hi"), true);
      },
    }).open();
    h.feed(headers(1, GET, true), headers(3, GET, true));
    expect(h.take().map((f) => [f.type, (f as { streamId: number }).streamId])).toEqual([[FrameType.HEADERS, 1], [FrameType.DATA, 1], [FrameType.HEADERS, 3], [FrameType.DATA, 3]]);
    expect(h.session.activeStreams).toBe(0);
  });
});

describe("header list over SETTINGS_MAX_HEADER_LIST_SIZE", () => {
  test("a request: the session answers 431 itself (and RST_STREAM NO_ERROR when a body was to follow); the carrier never sees it", () => {
    const h = new Harness({ maxHeaderListSize: 1000 }).open();
    h.feed(headers(1, [...GET, "x-big", "a".repeat(1000)], true));
    let fs = h.take();
    expect(fs).toHaveLength(1);
    expect(fs[0]).toMatchObject({ type: FrameType.HEADERS, streamId: 1, endStream: true });
    expect(h.events).toEqual([]);
    h.feed(headers(3, [...POST(), "x-big", "a".repeat(1000)], false), data(3, "ignored", true));
    fs = h.take();
    expect(fs.map((f) => f.type)).toEqual([FrameType.HEADERS, FrameType.RST_STREAM]);
    expect(resets(fs)).toEqual([[3, H2Error.NO_ERROR]]);
    h.feed(headers(5, GET, true));
    expect(h.events.map((e) => e.e)).toEqual(["request"]);
  });

  test("trailers over the limit: stream PROTOCOL_ERROR", () => {
    const h = new Harness({ maxHeaderListSize: 1000 }).open();
    h.feed(headers(1, POST(), false), headers(1, ["x-big", "a".repeat(1000)], true));
    streamError(h, 1, H2Error.PROTOCOL_ERROR);
  });
});

describe("any split", () => {
  test("a whole conversation fed one octet at a time gives the same events and output as fed at once", () => {
    const script = concat(PREFACE, settings([4, 1000]), settingsAck(), headers(1, POST(), false), raw(FrameType.HEADERS, 0, 3, literalBlock(GET.slice(0, 4))),
      continuation(3, GET.slice(4), true), data(1, "abc", false), ping(), windowUpdate(0, 5), raw(FrameType.DATA, 0x9, 1, [1, 0x61, 0]), rst(3, H2Error.CANCEL), headers(5, [":method", "X"], true));
    const run = (bytewise: boolean) => {
      const h = new Harness();
      h.session.start(0);
      bytewise ? h.feedBytewise(script) : h.feed(script);
      return { events: h.events, frames: h.take() };
    };
    const whole = run(false);
    expect(whole.events.length).toBeGreaterThan(4);
    expect(run(true)).toEqual(whole);
  });
});
