/** src/http/h2/receive-windows.ts: receive windows charged by DATA and opened again by batched WINDOW_UPDATEs. */
import { describe, expect, test } from "bun:test";
import { FrameType } from "../src/http/h2/frames.ts";
import { ReceiveWindows } from "../src/http/h2/receive-windows.ts";
import { H2Stream, StreamState } from "../src/http/h2/streams.ts";
import { concat, framesOf } from "./support/h2-wire.ts";

function windows(ourInitial: number, connectionSize: number) {
  const out: Uint8Array[] = [];
  const w = new ReceiveWindows(ourInitial, connectionSize, { write: (b) => void out.push(b) });
  const updates = () => {
    const fs = framesOf(concat(...out.splice(0)));
    return fs.map((f) => (f.type === FrameType.WINDOW_UPDATE ? [f.streamId, f.increment] : f.type));
  };
  return { w, updates };
}

describe("ReceiveWindows", () => {
  test("open() raises the connection window above the default with one WINDOW_UPDATE, and not at all for the default", () => {
    const a = windows(65535, 1 << 20);
    a.w.open();
    expect(a.updates()).toEqual([[0, (1 << 20) - 65535]]);
    expect(a.w.connection).toBe(1 << 20);
    const b = windows(65535, 65535);
    b.w.open();
    expect(b.updates()).toEqual([]);
  });

  test("charge() takes from the connection window and refuses past it", () => {
    const { w } = windows(65535, 65535);
    expect(w.charge(65535)).toBe(true);
    expect(w.charge(1)).toBe(false);
    expect(w.connection).toBe(0);
  });

  test("giving back sends one WINDOW_UPDATE per half window, for the stream and the connection", () => {
    const { w, updates } = windows(10000, 100000);
    w.settingsAcked([]);
    const s = new H2Stream(1, StreamState.Open, 65535, w.streamInitial);
    expect(s.recvWindow).toBe(10000);
    for (let k = 0; k < 4; k++) w.giveBack(s, 1000);
    expect(updates()).toEqual([]);
    w.giveBack(s, 1000);
    expect(updates()).toEqual([[1, 5000]]);
    expect(s.recvWindow).toBe(15000);
    for (let k = 0; k < 45; k++) w.giveBack(s, 1000);
    expect(updates().filter((u) => Array.isArray(u) && u[0] === 0)).toEqual([[0, 50000]]);
  });

  test("a stream the client ended gets no more WINDOW_UPDATEs; the connection does", () => {
    const { w, updates } = windows(65535, 65535);
    const s = new H2Stream(1, StreamState.HalfClosedRemote, 65535, w.streamInitial);
    w.giveBack(s, 40000);
    expect(updates()).toEqual([[0, 40000]]);
  });

  test("before the ack a stream starts with 65535; the ack moves open streams by the difference, once", () => {
    const { w } = windows(1000, 65535);
    const s = new H2Stream(1, StreamState.Open, 65535, w.streamInitial);
    expect(s.recvWindow).toBe(65535);
    w.settingsAcked([s]);
    w.settingsAcked([s]);
    expect(s.recvWindow).toBe(1000);
    expect(w.streamInitial).toBe(1000);
  });
});
