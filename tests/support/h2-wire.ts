/**
 * HTTP/2 on the wire for tests of src/http/h2/: raw frames (valid or not)
 * built byte by byte, the frames a session wrote read back, and a session
 * with a recording handler and the literal HPACK of h2-literal-hpack.ts.
 */
import { concatBytes } from "../../src/net/bytes.ts";
import { expect } from "bun:test";
import { type Frame, FrameType, PREFACE, readFrame } from "../../src/http/h2/frames.ts";
import { H2Session } from "../../src/http/h2/session.ts";
import type { H2Error, H2Handler, H2Limits, HeaderList } from "../../src/http/h2/types.ts";
import { literalBlock, LiteralDecoder, LiteralEncoder } from "./h2-literal-hpack.ts";

export { literalBlock, PREFACE };

/** A frame: 9-octet header and `payload`, any length, type, flags or stream (the reserved bit too). */
export function raw(type: number, flags: number, streamId: number, payload: ArrayLike<number> = []): Uint8Array {
  const n = payload.length;
  const b = new Uint8Array(9 + n);
  b.set([n >>> 16, (n >>> 8) & 0xff, n & 0xff, type, flags, (streamId >>> 24) & 0xff, (streamId >>> 16) & 0xff, (streamId >>> 8) & 0xff, streamId & 0xff]);
  b.set(payload, 9);
  return b;
}

export const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
export const setting = (id: number, v: number): number[] => [id >> 8, id & 0xff, ...u32(v)];
export const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** The parts joined (net/bytes.ts concatBytes). */
export const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

export const GET: HeaderList = [":method", "GET", ":scheme", "https", ":path", "/", ":authority", "example.org"];
export const POST = (extra: string[] = []): HeaderList => [":method", "POST", ":scheme", "https", ":path", "/up", ":authority", "example.org", ...extra];

/** HEADERS of a request (literal HPACK), END_HEADERS set. */
export const headers = (streamId: number, fields: readonly string[], endStream: boolean, flags = 0): Uint8Array =>
  raw(FrameType.HEADERS, 0x4 | (endStream ? 0x1 : 0) | flags, streamId, literalBlock(fields));
export const data = (streamId: number, payload: ArrayLike<number> | string, endStream: boolean): Uint8Array =>
  raw(FrameType.DATA, endStream ? 0x1 : 0, streamId, typeof payload === "string" ? bytes(payload) : payload);
export const settings = (...params: [number, number][]): Uint8Array => raw(FrameType.SETTINGS, 0, 0, params.flatMap(([id, v]) => setting(id, v)));
export const settingsAck = (): Uint8Array => raw(FrameType.SETTINGS, 1, 0);
export const ping = (opaque = [1, 2, 3, 4, 5, 6, 7, 8], ack = false): Uint8Array => raw(FrameType.PING, ack ? 1 : 0, 0, opaque);
export const rst = (streamId: number, code: number): Uint8Array => raw(FrameType.RST_STREAM, 0, streamId, u32(code));
export const windowUpdate = (streamId: number, inc: number): Uint8Array => raw(FrameType.WINDOW_UPDATE, 0, streamId, u32(inc));
export const priority = (streamId: number, dep: number, weight = 15): Uint8Array => raw(FrameType.PRIORITY, 0, streamId, [...u32(dep), weight]);
export const continuation = (streamId: number, fields: readonly string[], endHeaders: boolean): Uint8Array =>
  raw(FrameType.CONTINUATION, endHeaders ? 0x4 : 0, streamId, literalBlock(fields));

/** Every frame in `b` (which must hold whole frames). */
export function framesOf(b: Uint8Array): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < b.length;) {
    const r = readFrame(b, i, b.length, 1 << 24);
    if (r.kind !== "done") throw new Error(`written bytes do not parse at ${i}: ${r.kind === "error" ? r.reason : "incomplete"}`);
    out.push(r.frame);
    i += r.consumed;
  }
  return out;
}

export type Event =
  | { e: "request"; id: number; fields: HeaderList; end: boolean }
  | { e: "data"; id: number; data: string; end: boolean }
  | { e: "trailers"; id: number; fields: HeaderList }
  | { e: "reset"; id: number; code: H2Error }
  | { e: "window"; id: number }
  | { e: "goaway"; last: number; code: H2Error }
  | { e: "connectionError"; code: H2Error; reason: string };

export const LIMITS: H2Limits = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderListSize: 16384,
  maxFrameSize: 16384,
  initialWindowSize: 65535,
  connectionWindowSize: 65535,
  headerTableSize: 4096,
});

/** A session with a handler that records every event and every frame written; `hooks` may act inside callbacks. */
export class Harness {
  readonly events: Event[] = [];
  written: Uint8Array[] = [];
  readonly decoder = new LiteralDecoder();
  readonly encoder = new LiteralEncoder();
  readonly session: H2Session;
  now = 1000;

  constructor(limits: Partial<H2Limits> = {}, hooks: Partial<H2Handler> = {}) {
    const ev = this.events;
    const handler: H2Handler = {
      write: (b) => void this.written.push(b),
      onRequest: (id, fields, end) => {
        ev.push({ e: "request", id, fields, end });
        hooks.onRequest?.(id, fields, end);
      },
      onStreamData: (id, d, end) => {
        ev.push({ e: "data", id, data: String.fromCharCode(...d), end });
        hooks.onStreamData?.(id, d, end);
      },
      onTrailers: (id, fields) => void ev.push({ e: "trailers", id, fields }),
      onStreamReset: (id, code) => void ev.push({ e: "reset", id, code }),
      onWindow: (id) => {
        ev.push({ e: "window", id });
        hooks.onWindow?.(id);
      },
      onGoaway: (last, code) => void ev.push({ e: "goaway", last, code }),
      onConnectionError: (code, reason) => void ev.push({ e: "connectionError", code, reason }),
    };
    this.session = new H2Session(handler, { ...LIMITS, ...limits }, this.decoder, this.encoder);
  }

  /** start(), the preface and an empty SETTINGS; the output so far is dropped. */
  open(clientSettings: Uint8Array = settings()): this {
    this.session.start(this.now);
    this.feed(PREFACE, clientSettings);
    this.take();
    return this;
  }

  feed(...parts: Uint8Array[]): this {
    this.session.feed(concat(...parts), this.now);
    return this;
  }

  /** Feeds `parts` one octet at a time. */
  feedBytewise(...parts: Uint8Array[]): this {
    const all = concat(...parts);
    for (let i = 0; i < all.length; i++) this.session.feed(all.subarray(i, i + 1), this.now);
    return this;
  }

  /** The frames written since the last take. */
  take(): Frame[] {
    const out = framesOf(concat(...this.written));
    this.written = [];
    return out;
  }

  /** Events since the last call. */
  private seen = 0;
  newEvents(): Event[] {
    const out = this.events.slice(this.seen);
    this.seen = this.events.length;
    return out;
  }
}

/** The RST_STREAM frames in `frames` as [stream, code]. */
export const resets = (frames: Frame[]): [number, number][] => frames.flatMap((f) => (f.type === FrameType.RST_STREAM ? [[f.streamId, f.code] as [number, number]] : []));
/** The GOAWAY in `frames` as [last stream, code], or undefined. */
export function goawayOf(frames: Frame[]): [number, number] | undefined {
  const g = frames.find((f) => f.type === FrameType.GOAWAY);
  return g?.type === FrameType.GOAWAY ? [g.lastStreamId, g.code] : undefined;
}

/** A connection error: GOAWAY `code`, `onConnectionError`, a closed session. */
export function connError(h: Harness, code: H2Error): void {
  const fs = h.take();
  expect(goawayOf(fs)?.[1]).toBe(code);
  expect(h.events.at(-1)).toMatchObject({ e: "connectionError", code });
  expect(h.session.closed).toBe(true);
}

/** A stream error: RST_STREAM `code` on `id` and nothing else; the connection lives. */
export function streamError(h: Harness, id: number, code: H2Error): Frame[] {
  const fs = h.take();
  expect(resets(fs)).toEqual([[id, code]]);
  expect(goawayOf(fs)).toBeUndefined();
  expect(h.session.closed).toBe(false);
  return fs;
}

/** The connection still works: a PING is answered. */
export function alive(h: Harness): void {
  h.feed(ping([8, 7, 6, 5, 4, 3, 2, 1]));
  const fs = h.take();
  expect(fs.some((f) => f.type === FrameType.PING && f.ack && f.opaque[0] === 8)).toBe(true);
}

export const pingAcks = (fs: Frame[]) => fs.filter((f) => f.type === FrameType.PING && f.ack).length;
export const settingsAcks = (fs: Frame[]) => fs.filter((f) => f.type === FrameType.SETTINGS && f.ack).length;
