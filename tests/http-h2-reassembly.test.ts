/** src/http/h2/reassembly.ts: socket reads into whole frames (joined once, not per read), fragments into one header block. */
import { describe, expect, test } from "bun:test";
import { HeaderBlock, InputQueue } from "../src/http/h2/reassembly.ts";
import { raw } from "./support/h2-wire.ts";

describe("InputQueue", () => {
  test("an empty queue hands the read back as it is", () => {
    const q = new InputQueue();
    const b = new Uint8Array([1, 2, 3]);
    expect(q.take(b)).toBe(b);
  });

  test("a frame arriving an octet at a time is joined twice (header whole, frame whole), not once per octet", () => {
    const frame = raw(0, 1, 1, new Uint8Array(5000).fill(7));
    const q = new InputQueue();
    q.keep(frame.subarray(0, 1));
    const joins: number[] = [];
    let last: Uint8Array | undefined;
    for (let i = 1; i < frame.length; i++) {
      last = q.take(frame.subarray(i, i + 1));
      if (last === undefined) continue;
      joins.push(i + 1);
      if (last.length < frame.length) q.keep(last); // what the session does with an incomplete frame
    }
    expect(joins).toEqual([9, frame.length]);
    expect(last).toEqual(frame);
  });

  test("a kept start of a frame is a copy (the caller's buffer may change)", () => {
    const b = raw(6, 0, 0, new Uint8Array(8));
    const q = new InputQueue();
    const part = b.slice(0, 12);
    q.keep(part);
    part.fill(0xff);
    expect(q.take(b.subarray(12))).toEqual(b);
  });

  test("bytes beyond the frame come back with it; clear() forgets", () => {
    const b = raw(6, 0, 0, new Uint8Array(8));
    const q = new InputQueue();
    q.keep(b.subarray(0, 4));
    expect(q.take(new Uint8Array([...b.subarray(4), 9, 9]))).toEqual(new Uint8Array([...b, 9, 9]));
    q.keep(b.subarray(0, 4));
    q.clear();
    const next = new Uint8Array([5]);
    expect(q.take(next)).toBe(next);
  });
});

describe("HeaderBlock", () => {
  test("fragments joined in order, with their count and size", () => {
    const h = new HeaderBlock(3, true, undefined, new Uint8Array([1, 2]));
    expect(h.joined()).toEqual(new Uint8Array([1, 2]));
    h.add(new Uint8Array([]));
    h.add(new Uint8Array([3]));
    expect([h.frames, h.bytes, h.streamId, h.endStream]).toEqual([3, 3, 3, true]);
    expect(h.joined()).toEqual(new Uint8Array([1, 2, 3]));
  });
});
