/** src/http/h2/settings.ts: the peer's SETTINGS checked and applied in order, ours from H2Limits. */
import { describe, expect, test } from "bun:test";
import { applySettings, INITIAL_PEER_SETTINGS, limitsProblem, ourSettings, SettingId } from "../src/http/h2/settings.ts";
import { H2Error } from "../src/http/h2/types.ts";
import { LIMITS, setting } from "./support/h2-wire.ts";

const apply = (...params: [number, number][]) => applySettings(INITIAL_PEER_SETTINGS, Uint8Array.from(params.flatMap(([id, v]) => setting(id, v))));

describe("the peer's SETTINGS", () => {
  test("every known value is applied; unknown ids are ignored", () => {
    const r = apply([1, 0], [2, 0], [3, 7], [4, 1], [5, 20000], [6, 999], [0x99, 5], [8, 1]);
    expect(r).toEqual({
      kind: "ok",
      settings: { headerTableSize: 0, enablePush: false, maxConcurrentStreams: 7, initialWindowSize: 1, maxFrameSize: 20000, maxHeaderListSize: 999 },
      changes: [[1, 0], [2, 0], [3, 7], [4, 1], [5, 20000], [6, 999]],
    });
  });

  test("values are processed in order: the last INITIAL_WINDOW_SIZE wins", () => {
    const r = apply([4, 100], [4, 1]);
    expect(r.kind === "ok" && r.settings.initialWindowSize).toBe(1);
    expect(r.kind === "ok" && r.changes).toEqual([[4, 100], [4, 1]]);
  });

  test("an empty SETTINGS changes nothing", () => {
    expect(apply()).toEqual({ kind: "ok", settings: { ...INITIAL_PEER_SETTINGS }, changes: [] });
  });

  const errors: [string, [number, number][], H2Error, number][] = [
    ["ENABLE_PUSH 2", [[2, 2]], H2Error.PROTOCOL_ERROR, 0],
    ["ENABLE_PUSH 2^32-1 after a good value", [[3, 1], [2, 0xffffffff]], H2Error.PROTOCOL_ERROR, 6],
    ["INITIAL_WINDOW_SIZE 2^31", [[4, 0x80000000]], H2Error.FLOW_CONTROL_ERROR, 0],
    ["MAX_FRAME_SIZE 16383", [[5, 16383]], H2Error.PROTOCOL_ERROR, 0],
    ["MAX_FRAME_SIZE 2^24", [[5, 1 << 24]], H2Error.PROTOCOL_ERROR, 0],
  ];
  for (const [name, params, code, pos] of errors)
    test(name, () => {
      const r = apply(...params);
      expect(r.kind === "error" && [r.code, r.pos]).toEqual([code, pos]);
    });

  test("the limits of the ranges are accepted", () => {
    expect(apply([4, 0x7fffffff], [5, 16384], [5, 16777215], [2, 1]).kind).toBe("ok");
  });
});

describe("our SETTINGS", () => {
  test("from H2Limits, push disabled", () => {
    expect(new Map(ourSettings(LIMITS))).toEqual(new Map([
      [SettingId.HEADER_TABLE_SIZE, 4096], [SettingId.ENABLE_PUSH, 0], [SettingId.MAX_CONCURRENT_STREAMS, 100],
      [SettingId.INITIAL_WINDOW_SIZE, 65535], [SettingId.MAX_FRAME_SIZE, 16384], [SettingId.MAX_HEADER_LIST_SIZE, 16384],
    ]));
  });

  test("limits the wire cannot carry are named", () => {
    expect(limitsProblem(LIMITS)).toBeUndefined();
    expect(limitsProblem({ ...LIMITS, maxFrameSize: 100 })).toContain("maxFrameSize");
    expect(limitsProblem({ ...LIMITS, initialWindowSize: 2 ** 31 })).toContain("initialWindowSize");
    expect(limitsProblem({ ...LIMITS, connectionWindowSize: 1000 })).toContain("connectionWindowSize");
    expect(limitsProblem({ ...LIMITS, maxConcurrentStreams: -1 })).toContain("maxConcurrentStreams");
  });
});
