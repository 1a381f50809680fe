/**
 * SETTINGS (RFC 9113 §6.5): the peer's values parsed and checked, and ours
 * from `H2Limits`. Pure.
 *
 * A peer's SETTINGS frame is applied in order (two INITIAL_WINDOW_SIZE
 * values: the last wins, §6.5.3); ENABLE_PUSH other than 0/1 and
 * MAX_FRAME_SIZE outside 2^14 … 2^24-1 are PROTOCOL_ERRORs,
 * INITIAL_WINDOW_SIZE over 2^31-1 a FLOW_CONTROL_ERROR (connection errors);
 * unknown ids are ignored (§6.5.2).
 */
import { MAX_WINDOW } from "./frames.ts";
import { H2Error, type H2Limits } from "./types.ts";

export const enum SettingId {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

export const MIN_MAX_FRAME_SIZE = 16384;
export const MAX_MAX_FRAME_SIZE = 16777215;
/** Window size every stream and the connection start with (§6.9.2). */
export const DEFAULT_WINDOW = 65535;

/** The peer's settings as they apply to what we send. */
export interface PeerSettings {
  headerTableSize: number;
  enablePush: boolean;
  maxConcurrentStreams: number;
  initialWindowSize: number;
  maxFrameSize: number;
  maxHeaderListSize: number;
}

/** Before the peer's first SETTINGS (§6.5.2 initial values). */
export const INITIAL_PEER_SETTINGS: Readonly<PeerSettings> = Object.freeze({
  headerTableSize: 4096,
  enablePush: true,
  maxConcurrentStreams: Infinity,
  initialWindowSize: DEFAULT_WINDOW,
  maxFrameSize: MIN_MAX_FRAME_SIZE,
  maxHeaderListSize: Infinity,
});

export type SettingsResult =
  | { kind: "ok"; settings: PeerSettings; /** Every known parameter in order, as [id, value]. */ changes: [number, number][] }
  | { kind: "error"; code: H2Error; reason: string; /** Offset in the payload of the bad parameter. */ pos: number };

/** Apply one SETTINGS payload (a multiple of 6 octets: frames.ts checked) to `current`. */
export function applySettings(current: Readonly<PeerSettings>, payload: Uint8Array): SettingsResult {
  const s: PeerSettings = { ...current };
  const changes: [number, number][] = [];
  for (let at = 0; at + 6 <= payload.length; at += 6) {
    const id = (payload[at] << 8) | payload[at + 1];
    const v = payload[at + 2] * 0x1000000 + ((payload[at + 3] << 16) | (payload[at + 4] << 8) | payload[at + 5]);
    switch (id) {
      case SettingId.HEADER_TABLE_SIZE:
        s.headerTableSize = v;
        break;
      case SettingId.ENABLE_PUSH:
        if (v > 1) return { kind: "error", code: H2Error.PROTOCOL_ERROR, reason: `SETTINGS_ENABLE_PUSH ${v}, not 0 or 1`, pos: at };
        s.enablePush = v === 1;
        break;
      case SettingId.MAX_CONCURRENT_STREAMS:
        s.maxConcurrentStreams = v;
        break;
      case SettingId.INITIAL_WINDOW_SIZE:
        if (v > MAX_WINDOW) return { kind: "error", code: H2Error.FLOW_CONTROL_ERROR, reason: `SETTINGS_INITIAL_WINDOW_SIZE ${v} over 2^31-1`, pos: at };
        s.initialWindowSize = v;
        break;
      case SettingId.MAX_FRAME_SIZE:
        if (v < MIN_MAX_FRAME_SIZE || v > MAX_MAX_FRAME_SIZE)
          return { kind: "error", code: H2Error.PROTOCOL_ERROR, reason: `SETTINGS_MAX_FRAME_SIZE ${v} outside ${MIN_MAX_FRAME_SIZE}..${MAX_MAX_FRAME_SIZE}`, pos: at };
        s.maxFrameSize = v;
        break;
      case SettingId.MAX_HEADER_LIST_SIZE:
        s.maxHeaderListSize = v;
        break;
      default:
        continue; // unknown: ignored
    }
    changes.push([id, v]);
  }
  return { kind: "ok", settings: s, changes };
}

/** The SETTINGS we send first: no push, and every limit of `H2Limits` (values equal to the protocol default are sent too: explicit is cheap). */
export function ourSettings(limits: H2Limits): [number, number][] {
  return [
    [SettingId.HEADER_TABLE_SIZE, limits.headerTableSize],
    [SettingId.ENABLE_PUSH, 0],
    [SettingId.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
    [SettingId.INITIAL_WINDOW_SIZE, limits.initialWindowSize],
    [SettingId.MAX_FRAME_SIZE, limits.maxFrameSize],
    [SettingId.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
  ];
}

/** What is wrong with `limits` for the wire (config/http2.ts checks its own ranges; this is the protocol's), or undefined. */
export function limitsProblem(limits: H2Limits): string | undefined {
  if (limits.maxFrameSize < MIN_MAX_FRAME_SIZE || limits.maxFrameSize > MAX_MAX_FRAME_SIZE) return `maxFrameSize ${limits.maxFrameSize} outside ${MIN_MAX_FRAME_SIZE}..${MAX_MAX_FRAME_SIZE}`;
  if (limits.initialWindowSize > MAX_WINDOW || limits.initialWindowSize < 0) return `initialWindowSize ${limits.initialWindowSize} outside 0..2^31-1`;
  if (limits.connectionWindowSize > MAX_WINDOW || limits.connectionWindowSize < DEFAULT_WINDOW) return `connectionWindowSize ${limits.connectionWindowSize} outside 65535..2^31-1`;
  for (const k of ["maxConcurrentStreams", "maxHeaderListSize", "headerTableSize"] as const)
    if (!Number.isInteger(limits[k]) || limits[k] < 0 || limits[k] > 0xffffffff) return `${k} ${limits[k]} outside 0..2^32-1`;
  return undefined;
}
