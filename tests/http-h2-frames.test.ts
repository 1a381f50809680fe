/**
 * src/http/h2/frames.ts: every frame type read whole and one octet at a
 * time (a prefix is always "more", never an error), every payload check with
 * its error code and scope, and the serializers read back.
 */
import { describe, expect, test } from "bun:test";
import {
  dataFrame, type FrameResult, FrameType, goawayFrame, headersFrames, pingAckFrame, readFrame, rstStreamFrame, settingsAckFrame, settingsFrame, windowUpdateFrame,
} from "../src/http/h2/frames.ts";
import { H2Error } from "../src/http/h2/types.ts";
import { bytes, concat, framesOf, raw, setting, u32 } from "./support/h2-wire.ts";

const MAX = 16384;

/** Reads `b` whole, and checks that every shorter prefix is "more" (or, for an error known from the header, the same error). */
function read(b: Uint8Array, max = MAX): FrameResult {
  const whole = readFrame(b, 0, b.length, max);
  for (let n = 0; n < b.length; n++) {
    const r = readFrame(b, 0, n, max);
    if (r.kind !== "more") expect(r as FrameResult).toEqual(whole);
  }
  // at an offset, with bytes after it
  const shifted = concat(new Uint8Array(3), b, new Uint8Array([0, 0, 0, 4]));
  const r = readFrame(shifted, 3, shifted.length, max);
  if (r.kind === "error") expect(r.pos).toBe((whole as { pos: number }).pos + 3);
  else expect(r.kind as string).toBe(whole.kind);
  return whole;
}

function frameOf(b: Uint8Array) {
  const r = read(b);
  if (r.kind !== "done") throw new Error(`not done: ${JSON.stringify(r)}`);
  expect(r.consumed).toBe(b.length);
  return r.frame;
}

function errorOf(b: Uint8Array, max = MAX) {
  const r = read(b, max);
  if (r.kind !== "error") throw new Error(`not an error: ${r.kind}`);
  return { code: r.code, stream: r.stream, pos: r.pos, reason: r.reason };
}

describe("valid frames", () => {
  test("DATA, plain and padded (padding removed, flow length counts it)", () => {
    expect(frameOf(raw(0, 1, 3, bytes("hello")))).toMatchObject({ type: FrameType.DATA, streamId: 3, endStream: true, flowLength: 5 });
    const f = frameOf(raw(0, 0x8, 5, [3, ...bytes("abc"), 0, 0, 0]));
    expect(f).toMatchObject({ type: FrameType.DATA, streamId: 5, endStream: false, flowLength: 7 });
    expect(f.type === FrameType.DATA && [...f.data]).toEqual([...bytes("abc")]);
    // pad length 0 with PADDED: one octet of overhead, no padding
    const g = frameOf(raw(0, 0x8, 5, [0, 0x41]));
    expect(g.type === FrameType.DATA && [...g.data]).toEqual([0x41]);
  });

  test("HEADERS with padding and priority", () => {
    const f = frameOf(raw(1, 0x4 | 0x8 | 0x20 | 0x1, 1, [2, ...u32(0x80000003), 200, 0xaa, 0xbb, 0, 0]));
    expect(f).toMatchObject({ type: FrameType.HEADERS, streamId: 1, endStream: true, endHeaders: true, priority: { dependency: 3, exclusive: true, weight: 201 } });
    expect(f.type === FrameType.HEADERS && [...f.block]).toEqual([0xaa, 0xbb]);
  });

  test("PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION, unknown, PUSH_PROMISE", () => {
    expect(frameOf(raw(2, 0, 7, [...u32(5), 9]))).toMatchObject({ type: FrameType.PRIORITY, priority: { dependency: 5, exclusive: false, weight: 10 } });
    expect(frameOf(raw(3, 0, 7, u32(8)))).toMatchObject({ type: FrameType.RST_STREAM, streamId: 7, code: 8 });
    expect(frameOf(raw(4, 0, 0, [...setting(1, 0), ...setting(9, 1)]))).toMatchObject({ type: FrameType.SETTINGS, ack: false });
    expect(frameOf(raw(4, 1, 0))).toMatchObject({ type: FrameType.SETTINGS, ack: true });
    expect(frameOf(raw(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]))).toMatchObject({ type: FrameType.PING, ack: false });
    expect(frameOf(raw(7, 0, 0, [...u32(0x80000005), ...u32(11), 0x78]))).toMatchObject({ type: FrameType.GOAWAY, lastStreamId: 5, code: 11 });
    expect(frameOf(raw(8, 0, 0, u32(0x80000010)))).toMatchObject({ type: FrameType.WINDOW_UPDATE, streamId: 0, increment: 16 });
    expect(frameOf(raw(9, 4, 1, [1, 2]))).toMatchObject({ type: FrameType.CONTINUATION, endHeaders: true });
    expect(frameOf(raw(0x42, 0xff, 0, [1, 2, 3]))).toMatchObject({ type: -1, frameType: 0x42 });
    expect(frameOf(raw(5, 4, 1, [0, 0, 0, 2]))).toMatchObject({ type: FrameType.PUSH_PROMISE, streamId: 1 });
  });

  test("the reserved bit of the stream id is ignored; undefined flags are ignored", () => {
    expect(frameOf(raw(6, 0xfe, 0x80000000, [0, 0, 0, 0, 0, 0, 0, 0]))).toMatchObject({ type: FrameType.PING, ack: false });
    expect(frameOf(raw(3, 0, 0x80000001, u32(0)))).toMatchObject({ streamId: 1 });
  });

  test("a frame of exactly the max frame size is read; the header alone decides an oversized one", () => {
    expect(frameOf(raw(0, 0, 1, new Uint8Array(MAX))).type).toBe(FrameType.DATA);
    const over = raw(0, 0, 1, new Uint8Array(MAX + 1));
    expect(readFrame(over, 0, 9, MAX)).toMatchObject({ kind: "error", code: H2Error.FRAME_SIZE_ERROR, stream: false });
  });

  test("several frames in one buffer, read one after the other", () => {
    const b = concat(raw(6, 0, 0, [0, 0, 0, 0, 0, 0, 0, 1]), raw(8, 0, 1, u32(1)), raw(0, 1, 1));
    expect(framesOf(b).map((f) => f.type)).toEqual([FrameType.PING, FrameType.WINDOW_UPDATE, FrameType.DATA]);
  });
});

describe("errors: code and scope", () => {
  const cases: [string, Uint8Array, H2Error, boolean][] = [
    ["DATA on stream 0", raw(0, 0, 0, [1]), H2Error.PROTOCOL_ERROR, false],
    ["HEADERS on stream 0", raw(1, 4, 0, [0x82]), H2Error.PROTOCOL_ERROR, false],
    ["PRIORITY on stream 0", raw(2, 0, 0, [0, 0, 0, 1, 1]), H2Error.PROTOCOL_ERROR, false],
    ["RST_STREAM on stream 0", raw(3, 0, 0, u32(8)), H2Error.PROTOCOL_ERROR, false],
    ["CONTINUATION on stream 0", raw(9, 4, 0, [0x82]), H2Error.PROTOCOL_ERROR, false],
    ["SETTINGS on stream 1", raw(4, 0, 1), H2Error.PROTOCOL_ERROR, false],
    ["PING on stream 1", raw(6, 0, 1, new Uint8Array(8)), H2Error.PROTOCOL_ERROR, false],
    ["GOAWAY on stream 1", raw(7, 0, 1, new Uint8Array(8)), H2Error.PROTOCOL_ERROR, false],
    ["DATA pad length = payload", raw(0, 8, 1, [3, 1, 2]), H2Error.PROTOCOL_ERROR, false],
    ["DATA pad length > payload", raw(0, 8, 1, [9, 1, 2]), H2Error.PROTOCOL_ERROR, false],
    ["DATA PADDED and empty", raw(0, 8, 1), H2Error.FRAME_SIZE_ERROR, false],
    ["HEADERS pad length ≥ payload", raw(1, 8 | 4, 1, [5, 0x82, 0, 0, 0]), H2Error.PROTOCOL_ERROR, false],
    ["HEADERS with priority and padding: pad covers the block", raw(1, 0x28 | 4, 1, [1, 0, 0, 0, 0, 15]), H2Error.PROTOCOL_ERROR, false],
    ["HEADERS PRIORITY flag, 4 octets", raw(1, 0x20 | 4, 1, [0, 0, 0, 3]), H2Error.FRAME_SIZE_ERROR, false],
    ["PRIORITY of 4 octets (a stream error)", raw(2, 0, 1, [0, 0, 0, 1]), H2Error.FRAME_SIZE_ERROR, true],
    ["PRIORITY of 6 octets (a stream error)", raw(2, 0, 1, [0, 0, 0, 1, 1, 1]), H2Error.FRAME_SIZE_ERROR, true],
    ["RST_STREAM of 3 octets", raw(3, 0, 1, [0, 0, 8]), H2Error.FRAME_SIZE_ERROR, false],
    ["RST_STREAM of 5 octets", raw(3, 0, 1, [0, 0, 0, 8, 0]), H2Error.FRAME_SIZE_ERROR, false],
    ["SETTINGS of 5 octets", raw(4, 0, 0, [0, 1, 0, 0, 0]), H2Error.FRAME_SIZE_ERROR, false],
    ["SETTINGS ACK with a payload", raw(4, 1, 0, setting(1, 0)), H2Error.FRAME_SIZE_ERROR, false],
    ["PING of 7 octets", raw(6, 0, 0, new Uint8Array(7)), H2Error.FRAME_SIZE_ERROR, false],
    ["PING of 9 octets", raw(6, 0, 0, new Uint8Array(9)), H2Error.FRAME_SIZE_ERROR, false],
    ["GOAWAY of 7 octets", raw(7, 0, 0, new Uint8Array(7)), H2Error.FRAME_SIZE_ERROR, false],
    ["WINDOW_UPDATE of 3 octets", raw(8, 0, 0, [0, 0, 1]), H2Error.FRAME_SIZE_ERROR, false],
    ["WINDOW_UPDATE of 5 octets", raw(8, 0, 1, [0, 0, 0, 1, 0]), H2Error.FRAME_SIZE_ERROR, false],
    ["DATA over the max frame size", raw(0, 0, 1, new Uint8Array(MAX + 1)), H2Error.FRAME_SIZE_ERROR, false],
    ["HEADERS over the max frame size", raw(1, 4, 1, new Uint8Array(MAX + 1)), H2Error.FRAME_SIZE_ERROR, false],
  ];
  for (const [name, b, code, stream] of cases)
    test(name, () => {
      const e = errorOf(b);
      expect([e.code, e.stream]).toEqual([code, stream]);
      expect(e.reason.length).toBeGreaterThan(5);
      expect(e.pos).toBeGreaterThanOrEqual(0);
      expect(e.pos).toBeLessThan(b.length);
    });

  test("a stream error's consumed skips exactly the frame", () => {
    const b = concat(raw(2, 0, 1, [0, 0, 0, 1]), raw(6, 0, 0, new Uint8Array(8)));
    const r = readFrame(b, 0, b.length, MAX);
    expect(r).toMatchObject({ kind: "error", stream: true, consumed: 13 });
    expect(readFrame(b, 13, b.length, MAX)).toMatchObject({ kind: "done", frame: { type: FrameType.PING } });
  });

  test("a larger max frame size is honoured", () => {
    expect(read(raw(0, 0, 1, new Uint8Array(MAX + 1)), MAX * 2).kind).toBe("done");
  });
});

describe("serializers, read back", () => {
  test("SETTINGS, SETTINGS ack, PING ack, WINDOW_UPDATE, RST_STREAM, GOAWAY", () => {
    const fs = framesOf(concat(settingsFrame([[3, 100], [4, 0x7fffffff]]), settingsAckFrame(), pingAckFrame(Uint8Array.from([9, 8, 7, 6, 5, 4, 3, 2])),
      windowUpdateFrame(3, 0x7fffffff), rstStreamFrame(5, H2Error.CANCEL), goawayFrame(7, H2Error.ENHANCE_YOUR_CALM, bytes("calm"))));
    expect(fs[0]).toMatchObject({ type: FrameType.SETTINGS, ack: false });
    expect(fs[0].type === FrameType.SETTINGS && [...fs[0].payload]).toEqual([...setting(3, 100), ...setting(4, 0x7fffffff)]);
    expect(fs[1]).toMatchObject({ type: FrameType.SETTINGS, ack: true });
    expect(fs[2].type === FrameType.PING && [fs[2].ack, [...fs[2].opaque]]).toEqual([true, [9, 8, 7, 6, 5, 4, 3, 2]]);
    expect(fs[3]).toMatchObject({ type: FrameType.WINDOW_UPDATE, streamId: 3, increment: 0x7fffffff });
    expect(fs[4]).toMatchObject({ type: FrameType.RST_STREAM, streamId: 5, code: H2Error.CANCEL });
    expect(fs[5]).toMatchObject({ type: FrameType.GOAWAY, lastStreamId: 7, code: H2Error.ENHANCE_YOUR_CALM });
    expect(fs[5].type === FrameType.GOAWAY && String.fromCharCode(...fs[5].debug)).toBe("calm");
  });

  test("HEADERS split into CONTINUATIONs at the peer's max frame size; END_STREAM on HEADERS, END_HEADERS on the last", () => {
    const block = Uint8Array.from({ length: 40000 }, (_, i) => i & 0xff);
    const fs = framesOf(headersFrames(3, block, true, 16384));
    expect(fs.map((f) => f.type)).toEqual([FrameType.HEADERS, FrameType.CONTINUATION, FrameType.CONTINUATION]);
    expect(fs[0]).toMatchObject({ endStream: true, endHeaders: false });
    expect(fs[1]).toMatchObject({ endHeaders: false });
    expect(fs[2]).toMatchObject({ endHeaders: true });
    const joined = concat(...fs.map((f) => (f.type === FrameType.HEADERS || f.type === FrameType.CONTINUATION ? f.block : new Uint8Array())));
    expect(joined).toEqual(block);
    const one = framesOf(headersFrames(1, block.subarray(0, 16384), false, 16384));
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ type: FrameType.HEADERS, endStream: false, endHeaders: true });
    expect(framesOf(headersFrames(1, new Uint8Array(0), true, 16384))).toHaveLength(1);
  });

  test("DATA", () => {
    expect(framesOf(dataFrame(9, bytes("xyz"), true))[0]).toMatchObject({ type: FrameType.DATA, streamId: 9, endStream: true, flowLength: 3 });
  });
});
