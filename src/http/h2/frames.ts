/**
 * HTTP/2 framing (RFC 9113 §4, §6): the 9-octet frame header, a pure frame
 * reader over any byte split, and the serializers of every frame plb sends.
 *
 * `readFrame(buf, start, end, maxFrameSize)` answers "more" (not a whole
 * frame yet: call again from the same `start` with more bytes), "error"
 * (`pos` is the offset in `buf` of the offending byte, `code` the RFC 9113
 * error, `stream` whether it is a stream error: then `consumed` skips the
 * frame and the connection goes on) or "done" (`consumed` bytes from `start`
 * made `frame`). Payload views point into `buf`: they stay valid as long as
 * the caller does not overwrite `buf`. A length over our
 * SETTINGS_MAX_FRAME_SIZE is known from the header alone: it is reported
 * without waiting for the payload.
 *
 * Checked here (needs only the frame): lengths (PING 8, SETTINGS a multiple
 * of 6 and empty with ACK, WINDOW_UPDATE 4, RST_STREAM 4, PRIORITY 5 (a
 * stream error), HEADERS/DATA long enough for their pad length and
 * priority), padding at least as long as the payload, stream 0 where a
 * stream is needed and a stream where stream 0 is needed. What needs the
 * connection's state (stream states, windows, CONTINUATION sequencing,
 * zero window increments) is the session's.
 */
import { H2Error } from "./types.ts";

export const enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum Flag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

export const FRAME_HEADER_LENGTH = 9;
/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** The largest window and window increment (2^31-1). */
export const MAX_WINDOW = 0x7fffffff;

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  /** The reserved bit is dropped. */
  streamId: number;
}

export interface Priority {
  dependency: number;
  exclusive: boolean;
  weight: number;
}

export type Frame =
  | { type: FrameType.DATA; streamId: number; endStream: boolean; data: Uint8Array; /** Payload length with padding: what flow control counts. */ flowLength: number }
  | { type: FrameType.HEADERS; streamId: number; endStream: boolean; endHeaders: boolean; block: Uint8Array; priority?: Priority }
  | { type: FrameType.PRIORITY; streamId: number; priority: Priority }
  | { type: FrameType.RST_STREAM; streamId: number; code: number }
  | { type: FrameType.SETTINGS; ack: boolean; payload: Uint8Array }
  | { type: FrameType.PUSH_PROMISE; streamId: number }
  | { type: FrameType.PING; ack: boolean; opaque: Uint8Array }
  | { type: FrameType.GOAWAY; lastStreamId: number; code: number; debug: Uint8Array }
  | { type: FrameType.WINDOW_UPDATE; streamId: number; increment: number }
  | { type: FrameType.CONTINUATION; streamId: number; endHeaders: boolean; block: Uint8Array }
  | { type: -1; frameType: number; streamId: number };

export type FrameResult =
  | { kind: "more" }
  | { kind: "error"; pos: number; reason: string; code: H2Error; header?: FrameHeader; /** A stream error: the frame is skipped, the connection goes on. */ stream: boolean; consumed: number }
  | { kind: "done"; consumed: number; frame: Frame; header: FrameHeader };

export function readFrameHeader(buf: Uint8Array, at: number): FrameHeader {
  return {
    length: (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2],
    type: buf[at + 3],
    flags: buf[at + 4],
    streamId: u31(buf, at + 5),
  };
}

const u31 = (b: Uint8Array, at: number): number => ((b[at] & 0x7f) * 0x1000000) + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
const u32 = (b: Uint8Array, at: number): number => b[at] * 0x1000000 + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);

/** Frame types that belong to one stream (stream 0 is a PROTOCOL_ERROR). */
const NEEDS_STREAM = new Set<number>([FrameType.DATA, FrameType.HEADERS, FrameType.PRIORITY, FrameType.RST_STREAM, FrameType.PUSH_PROMISE, FrameType.CONTINUATION]);
/** Frame types of the connection (a stream id is a PROTOCOL_ERROR). */
const NEEDS_ZERO = new Set<number>([FrameType.SETTINGS, FrameType.PING, FrameType.GOAWAY]);

/** Read one frame from buf[start, end). */
export function readFrame(buf: Uint8Array, start: number, end: number, maxFrameSize: number): FrameResult {
  if (end - start < FRAME_HEADER_LENGTH) return { kind: "more" };
  const h = readFrameHeader(buf, start);
  const fail = (pos: number, reason: string, code: H2Error, stream = false): FrameResult => ({ kind: "error", pos, reason, code, header: h, stream, consumed: FRAME_HEADER_LENGTH + h.length });
  if (h.length > maxFrameSize) return fail(start, `frame length ${h.length} over SETTINGS_MAX_FRAME_SIZE ${maxFrameSize}`, H2Error.FRAME_SIZE_ERROR);
  if (h.streamId === 0 && NEEDS_STREAM.has(h.type)) return fail(start + 5, `${typeName(h.type)} frame on stream 0`, H2Error.PROTOCOL_ERROR);
  if (h.streamId !== 0 && NEEDS_ZERO.has(h.type)) return fail(start + 5, `${typeName(h.type)} frame on stream ${h.streamId}`, H2Error.PROTOCOL_ERROR);
  if (end - start < FRAME_HEADER_LENGTH + h.length) return { kind: "more" };
  const p = start + FRAME_HEADER_LENGTH;
  const pEnd = p + h.length;
  const consumed = FRAME_HEADER_LENGTH + h.length;
  const done = (frame: Frame): FrameResult => ({ kind: "done", consumed, frame, header: h });
  // padding longer than the payload: PROTOCOL_ERROR at the pad length; a payload too short for its fields: FRAME_SIZE_ERROR at the length
  const padFail = (why: string): FrameResult => (why.startsWith("pad") ? fail(p, why, H2Error.PROTOCOL_ERROR) : fail(start, why, H2Error.FRAME_SIZE_ERROR));
  switch (h.type) {
    case FrameType.DATA: {
      const pad = padding(buf, p, pEnd, h.flags, 0);
      if (typeof pad === "string") return padFail(pad);
      return done({ type: FrameType.DATA, streamId: h.streamId, endStream: (h.flags & Flag.END_STREAM) !== 0, data: buf.subarray(pad.from, pad.to), flowLength: h.length });
    }
    case FrameType.HEADERS: {
      const prio = (h.flags & Flag.PRIORITY) !== 0;
      const pad = padding(buf, p, pEnd, h.flags, prio ? 5 : 0);
      if (typeof pad === "string") return padFail(pad);
      const block = buf.subarray(pad.from + (prio ? 5 : 0), pad.to);
      const frame: Frame = { type: FrameType.HEADERS, streamId: h.streamId, endStream: (h.flags & Flag.END_STREAM) !== 0, endHeaders: (h.flags & Flag.END_HEADERS) !== 0, block };
      if (prio) frame.priority = priorityAt(buf, pad.from);
      return done(frame);
    }
    case FrameType.PRIORITY:
      if (h.length !== 5) return fail(start, `PRIORITY payload of ${h.length} octets, not 5`, H2Error.FRAME_SIZE_ERROR, true);
      return done({ type: FrameType.PRIORITY, streamId: h.streamId, priority: priorityAt(buf, p) });
    case FrameType.RST_STREAM:
      if (h.length !== 4) return fail(start, `RST_STREAM payload of ${h.length} octets, not 4`, H2Error.FRAME_SIZE_ERROR);
      return done({ type: FrameType.RST_STREAM, streamId: h.streamId, code: u32(buf, p) });
    case FrameType.SETTINGS:
      if ((h.flags & Flag.ACK) !== 0 && h.length !== 0) return fail(start, `SETTINGS ACK with a payload of ${h.length} octets`, H2Error.FRAME_SIZE_ERROR);
      if (h.length % 6 !== 0) return fail(start, `SETTINGS payload of ${h.length} octets, not a multiple of 6`, H2Error.FRAME_SIZE_ERROR);
      return done({ type: FrameType.SETTINGS, ack: (h.flags & Flag.ACK) !== 0, payload: buf.subarray(p, pEnd) });
    case FrameType.PUSH_PROMISE:
      return done({ type: FrameType.PUSH_PROMISE, streamId: h.streamId });
    case FrameType.PING:
      if (h.length !== 8) return fail(start, `PING payload of ${h.length} octets, not 8`, H2Error.FRAME_SIZE_ERROR);
      return done({ type: FrameType.PING, ack: (h.flags & Flag.ACK) !== 0, opaque: buf.subarray(p, pEnd) });
    case FrameType.GOAWAY:
      if (h.length < 8) return fail(start, `GOAWAY payload of ${h.length} octets, under 8`, H2Error.FRAME_SIZE_ERROR);
      return done({ type: FrameType.GOAWAY, lastStreamId: u31(buf, p), code: u32(buf, p + 4), debug: buf.subarray(p + 8, pEnd) });
    case FrameType.WINDOW_UPDATE:
      if (h.length !== 4) return fail(start, `WINDOW_UPDATE payload of ${h.length} octets, not 4`, H2Error.FRAME_SIZE_ERROR);
      return done({ type: FrameType.WINDOW_UPDATE, streamId: h.streamId, increment: u31(buf, p) });
    case FrameType.CONTINUATION:
      return done({ type: FrameType.CONTINUATION, streamId: h.streamId, endHeaders: (h.flags & Flag.END_HEADERS) !== 0, block: buf.subarray(p, pEnd) });
    default:
      return done({ type: -1, frameType: h.type, streamId: h.streamId });
  }
}

/** The content range of a padded (or not) payload, after `fixed` octets that follow the pad length; a string says what is wrong. */
function padding(buf: Uint8Array, p: number, pEnd: number, flags: number, fixed: number): { from: number; to: number } | string {
  if ((flags & Flag.PADDED) === 0) {
    if (pEnd - p < fixed) return `payload of ${pEnd - p} octets too short for its priority fields`;
    return { from: p, to: pEnd };
  }
  if (pEnd - p < 1 + fixed) return `payload of ${pEnd - p} octets too short for its pad length${fixed ? " and priority fields" : ""}`;
  const padLength = buf[p];
  if (padLength >= pEnd - p - fixed) return `pad length ${padLength} not shorter than the payload of ${pEnd - p} octets`;
  return { from: p + 1, to: pEnd - padLength };
}

function priorityAt(buf: Uint8Array, at: number): Priority {
  return { dependency: u31(buf, at), exclusive: (buf[at] & 0x80) !== 0, weight: buf[at + 4] + 1 };
}

const NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"];
export const typeName = (t: number): string => NAMES[t] ?? `type 0x${t.toString(16)}`;

// ---- serializers ----

function frame(type: FrameType, flags: number, streamId: number, length: number): Uint8Array {
  const b = new Uint8Array(FRAME_HEADER_LENGTH + length);
  writeHeader(b, 0, length, type, flags, streamId);
  return b;
}

function writeHeader(b: Uint8Array, at: number, length: number, type: number, flags: number, streamId: number): void {
  b[at] = length >>> 16;
  b[at + 1] = (length >>> 8) & 0xff;
  b[at + 2] = length & 0xff;
  b[at + 3] = type;
  b[at + 4] = flags;
  put32(b, at + 5, streamId & MAX_WINDOW);
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** A SETTINGS frame with `params` ([id, value] pairs, in order). */
export function settingsFrame(params: readonly (readonly [number, number])[]): Uint8Array {
  const b = frame(FrameType.SETTINGS, 0, 0, params.length * 6);
  params.forEach(([id, v], i) => {
    const at = FRAME_HEADER_LENGTH + i * 6;
    b[at] = id >>> 8;
    b[at + 1] = id & 0xff;
    put32(b, at + 2, v);
  });
  return b;
}

export const settingsAckFrame = (): Uint8Array => frame(FrameType.SETTINGS, Flag.ACK, 0, 0);

export function pingAckFrame(opaque: Uint8Array): Uint8Array {
  const b = frame(FrameType.PING, Flag.ACK, 0, 8);
  b.set(opaque.subarray(0, 8), FRAME_HEADER_LENGTH);
  return b;
}

export function windowUpdateFrame(streamId: number, increment: number): Uint8Array {
  const b = frame(FrameType.WINDOW_UPDATE, 0, streamId, 4);
  put32(b, FRAME_HEADER_LENGTH, increment & MAX_WINDOW);
  return b;
}

export function rstStreamFrame(streamId: number, code: number): Uint8Array {
  const b = frame(FrameType.RST_STREAM, 0, streamId, 4);
  put32(b, FRAME_HEADER_LENGTH, code);
  return b;
}

export function goawayFrame(lastStreamId: number, code: number, debug: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = frame(FrameType.GOAWAY, 0, 0, 8 + debug.length);
  put32(b, FRAME_HEADER_LENGTH, lastStreamId & MAX_WINDOW);
  put32(b, FRAME_HEADER_LENGTH + 4, code);
  b.set(debug, FRAME_HEADER_LENGTH + 8);
  return b;
}

/** One HEADERS frame, and CONTINUATION frames when `block` is longer than `maxFrameSize` (the peer's), in one buffer. */
export function headersFrames(streamId: number, block: Uint8Array, endStream: boolean, maxFrameSize: number): Uint8Array {
  const n = Math.max(1, Math.ceil(block.length / maxFrameSize));
  const out = new Uint8Array(n * FRAME_HEADER_LENGTH + block.length);
  let at = 0;
  for (let i = 0, from = 0; i < n; i++) {
    const len = Math.min(maxFrameSize, block.length - from);
    const last = i === n - 1;
    const flags = (last ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
    writeHeader(out, at, len, i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, flags, streamId);
    out.set(block.subarray(from, from + len), at + FRAME_HEADER_LENGTH);
    at += FRAME_HEADER_LENGTH + len;
    from += len;
  }
  return out;
}

/** One DATA frame (`data` at most the peer's max frame size). */
export function dataFrame(streamId: number, data: Uint8Array, endStream: boolean): Uint8Array {
  return dataFrames(streamId, data, endStream, Math.max(1, data.length));
}

/** `data` as DATA frames of at most `maxFrameSize` octets, in one buffer; END_STREAM on the last (one empty frame for empty `data`). */
export function dataFrames(streamId: number, data: Uint8Array, endStream: boolean, maxFrameSize: number): Uint8Array {
  const n = Math.max(1, Math.ceil(data.length / maxFrameSize));
  const out = new Uint8Array(n * FRAME_HEADER_LENGTH + data.length);
  for (let k = 0, from = 0, at = 0; k < n; k++) {
    const len = Math.min(maxFrameSize, data.length - from);
    writeHeader(out, at, len, FrameType.DATA, endStream && k === n - 1 ? Flag.END_STREAM : 0, streamId);
    out.set(data.subarray(from, from + len), at + FRAME_HEADER_LENGTH);
    at += FRAME_HEADER_LENGTH + len;
    from += len;
  }
  return out;
}
