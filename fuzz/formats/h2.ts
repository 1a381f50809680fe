/**
 * HTTP/2 (RFC 9113) for src/http/h2/frames.ts and session.ts. Two targets:
 *
 * - h2-frames: a run of frames of every type (valid, and with wrong
 *   lengths, streams, flags, pad lengths), read one after the other with
 *   `readFrame`. Oracles: never throws; offsets and `consumed` inside the
 *   input; a copy at another offset reads the same; every prefix of a frame
 *   is "more" or the frame's own header-level error; `referenceFrame`, the
 *   RFC's rules written another way, agrees on the kind, the error code and
 *   scope, the type, the stream and the payload octets; a frame plb can send
 *   (SETTINGS, PING ack, WINDOW_UPDATE, RST_STREAM, GOAWAY, DATA, HEADERS)
 *   written back by the serializers reads back the same.
 * - h2-session: a client's conversation after the preface (SETTINGS,
 *   requests with bodies, trailers, CONTINUATIONs, resets, windows, pings,
 *   priorities, unknown frames) fed to an `H2Session` whose carrier answers
 *   every request at once. Oracles: never throws; fed at once or cut at
 *   other places, the same events and the same output; the output is whole
 *   frames; it ends in a GOAWAY (and `onConnectionError`, and nothing
 *   after) exactly when the session closed; every RST_STREAM is on an odd
 *   stream; no event for a stream before its request or after its reset.
 */
import {
  dataFrame, type Frame, FrameType, goawayFrame, headersFrames, pingAckFrame, readFrame, type FrameResult, rstStreamFrame, settingsFrame, windowUpdateFrame,
} from "../../src/http/h2/frames.ts";
import { H2Session } from "../../src/http/h2/session.ts";
import { H2Error, type H2Limits } from "../../src/http/h2/types.ts";
import { literalBlock, LiteralDecoder, LiteralEncoder } from "../../tests/support/h2-literal-hpack.ts";
import { type Behaviour, ensure, same, show, type Target, view } from "../driver.ts";
import { between, chance, concat, int, pick, type Rng } from "../rng.ts";
import { cutsFor } from "./http.ts";

const MAX = 16384;

function frame(type: number, flags: number, sid: number, payload: ArrayLike<number>): Uint8Array {
  const n = payload.length;
  const b = new Uint8Array(9 + n);
  b.set([n >>> 16, (n >>> 8) & 0xff, n & 0xff, type, flags, (sid >>> 24) & 0xff, (sid >>> 16) & 0xff, (sid >>> 8) & 0xff, sid & 0xff]);
  b.set(payload, 9);
  return b;
}
const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const bytesOf = (r: Rng, n: number): number[] => Array.from({ length: n }, () => int(r, 256));

// ---- h2-frames ----

function randomFrame(r: Rng): Uint8Array {
  const type = chance(r, 0.05) ? between(r, 10, 255) : int(r, 10);
  const sid = chance(r, 0.7) ? (type >= 4 && type <= 8 && type !== 5 ? 0 : 1 + 2 * int(r, 5)) : pick(r, [0, 1, 2, 0x80000001, 0x7fffffff]);
  let flags = chance(r, 0.2) ? int(r, 256) : pick(r, [0, 1, 4, 5, 8, 0x20, 0x2d]);
  const len = (n: number) => (chance(r, 0.1) ? Math.max(0, n + pick(r, [-1, 1, -5, 3])) : n);
  let payload: number[];
  switch (type) {
    case 0:
    case 1:
    case 9: {
      const body = bytesOf(r, chance(r, 0.05) ? between(r, 1000, MAX + 10) : int(r, 40));
      payload = body;
      if (flags & 0x20 && type === 1) payload = [...u32(int(r, 9)), int(r, 256), ...payload];
      if (flags & 0x8 && type !== 9) {
        const pad = chance(r, 0.8) ? int(r, 10) : int(r, 256);
        payload = [pad, ...payload, ...new Array(Math.min(pad, 300)).fill(0)];
      }
      break;
    }
    case 2: payload = bytesOf(r, len(5)); break;
    case 3: payload = bytesOf(r, len(4)); break;
    case 4: flags = chance(r, 0.2) ? 1 : flags & ~1; payload = flags & 1 ? (chance(r, 0.9) ? [] : bytesOf(r, 6)) : bytesOf(r, len(6 * int(r, 4))); break;
    case 6: payload = bytesOf(r, len(8)); break;
    case 7: payload = bytesOf(r, len(8 + int(r, 6))); break;
    case 8: payload = bytesOf(r, len(4)); break;
    default: payload = bytesOf(r, int(r, 20));
  }
  return frame(type, flags, sid, payload);
}

function generateFrames(r: Rng): Uint8Array {
  return concat(...Array.from({ length: between(r, 1, 6) }, () => randomFrame(r)));
}

type Ref = { kind: "more" } | { kind: "error"; code: number; stream: boolean } | { kind: "done"; type: number; sid: number; content: Uint8Array; length: number };

/** RFC 9113 §4 and §6, read another way: header fields by arithmetic, then a table of payload rules. */
export function referenceFrame(b: Uint8Array, max: number): Ref {
  if (b.length < 9) return { kind: "more" };
  const length = b[0] * 65536 + b[1] * 256 + b[2];
  const type = b[3], flags = b[4], sid = (b[5] & 0x7f) * 2 ** 24 + b[6] * 65536 + b[7] * 256 + b[8];
  const conn = (code: number): Ref => ({ kind: "error", code, stream: false });
  if (length > max) return conn(H2Error.FRAME_SIZE_ERROR);
  if ([0, 1, 2, 3, 5, 9].includes(type) && sid === 0) return conn(H2Error.PROTOCOL_ERROR);
  if ([4, 6, 7].includes(type) && sid !== 0) return conn(H2Error.PROTOCOL_ERROR);
  if (b.length < 9 + length) return { kind: "more" };
  const p = b.subarray(9, 9 + length);
  const fixed: Record<number, number> = { 3: 4, 6: 8, 8: 4 };
  if (type === 2 && length !== 5) return { kind: "error", code: H2Error.FRAME_SIZE_ERROR, stream: true };
  if (fixed[type] !== undefined && length !== fixed[type]) return conn(H2Error.FRAME_SIZE_ERROR);
  if (type === 4 && (length % 6 !== 0 || (flags & 1 && length > 0))) return conn(H2Error.FRAME_SIZE_ERROR);
  if (type === 7 && length < 8) return conn(H2Error.FRAME_SIZE_ERROR);
  let content = p;
  if (type === 0 || type === 1) {
    const padded = (flags & 8) !== 0, prio = type === 1 && (flags & 0x20) !== 0;
    const overhead = (padded ? 1 : 0) + (prio ? 5 : 0);
    if (length < overhead) return conn(H2Error.FRAME_SIZE_ERROR);
    const pad = padded ? p[0] : 0;
    if (length - overhead - pad < 0) return conn(H2Error.PROTOCOL_ERROR);
    content = p.subarray(overhead, length - pad);
  }
  return { kind: "done", type, sid, content, length };
}

function contentOf(f: Frame): Uint8Array | undefined {
  switch (f.type) {
    case FrameType.DATA: return f.data;
    case FrameType.HEADERS:
    case FrameType.CONTINUATION: return f.block;
    case FrameType.SETTINGS: return f.payload;
    case FrameType.PING: return f.opaque;
    default: return undefined;
  }
}

/** The frame written back by plb's serializers, when plb sends that type. */
function rewrite(f: Frame): Uint8Array | undefined {
  switch (f.type) {
    case FrameType.SETTINGS: {
      if (f.ack) return undefined;
      const params: [number, number][] = [];
      for (let i = 0; i + 6 <= f.payload.length; i += 6) params.push([f.payload[i] * 256 + f.payload[i + 1], ((f.payload[i + 2] << 24) | (f.payload[i + 3] << 16) | (f.payload[i + 4] << 8) | f.payload[i + 5]) >>> 0]);
      return settingsFrame(params);
    }
    case FrameType.PING: return pingAckFrame(f.opaque);
    case FrameType.WINDOW_UPDATE: return windowUpdateFrame(f.streamId, f.increment);
    case FrameType.RST_STREAM: return rstStreamFrame(f.streamId, f.code);
    case FrameType.GOAWAY: return goawayFrame(f.lastStreamId, f.code, f.debug);
    case FrameType.DATA: return dataFrame(f.streamId, f.data, f.endStream);
    case FrameType.HEADERS: return headersFrames(f.streamId, f.block, f.endStream, MAX);
    default: return undefined;
  }
}

function checkFrames(input: Uint8Array): Behaviour {
  const { buf, at } = view(input);
  let i = 0;
  let last: FrameResult = { kind: "more" };
  while (i < input.length) {
    last = readFrame(input, i, input.length, MAX);
    const shifted = readFrame(buf, at + i, at + input.length, MAX);
    ensure(same(strip(shifted, at + i), strip(last, i)), () => `at an offset: ${show(shifted)}, in place: ${show(last)}`);
    const ref = referenceFrame(input.subarray(i), MAX);
    ensure(ref.kind === last.kind, () => `plb says ${last.kind}${last.kind === "error" ? ` (${last.reason})` : ""}, the reference ${ref.kind} at ${i}`);
    if (last.kind === "more") break;
    if (last.kind === "error" && ref.kind === "error") {
      ensure(last.code === ref.code && last.stream === ref.stream, () => `plb: code ${last.kind === "error" && last.code} stream ${last.kind === "error" && last.stream}, the reference ${show(ref)}`);
      ensure(last.pos >= i && last.pos < input.length && last.reason !== "" && !/NaN|undefined/.test(last.reason), () => `error at ${last.kind === "error" && last.pos} for a frame at ${i}`);
      if (!last.stream) break;
    }
    if (last.kind === "done" && ref.kind === "done") {
      const f = last.frame;
      ensure((f.type === -1 ? f.frameType : f.type) === ref.type, "type differs from the reference");
      ensure(!("streamId" in f) || f.streamId === ref.sid, "stream differs from the reference");
      const c = contentOf(f);
      ensure(c === undefined || same(c, ref.content), () => `content ${show(c)} differs from the reference ${show(ref.content)}`);
      if (f.type === FrameType.DATA) ensure(f.flowLength === ref.length, "DATA flow length is not the payload length");
      const again = rewrite(f);
      if (again !== undefined) {
        const back = readFrame(again, 0, again.length, 1 << 24);
        ensure(back.kind === "done" && same(normal(back.frame), normal(f)), () => `written back reads ${show(back)}, was ${show(f)}`);
      }
    }
    // every prefix of this frame: "more", or the same header-level error
    const end = last.kind === "error" ? Math.min(input.length, i + last.consumed) : i + last.consumed;
    for (const cut of cutsFor(input.subarray(i, end))) {
      if (i + cut >= end) break;
      const part = readFrame(input, i, i + cut, MAX);
      ensure(part.kind === "more" || same(part, last), () => `prefix of ${cut} octets: ${show(part)}, whole ${show(last)}`);
    }
    i += last.consumed;
  }
  if (i >= input.length && last.kind !== "error") return { kind: "done" };
  return last.kind === "error" ? { kind: "error", reason: last.reason } : { kind: "more" };
}

/** A result with offsets made relative to the frame's start, and payload views as plain arrays. */
function strip(r: FrameResult, base: number): unknown {
  if (r.kind === "error") return { ...r, pos: r.pos - base };
  if (r.kind === "done") return { ...r, frame: normal(r.frame) };
  return r;
}

/** A frame as plain data (payload views compare by content); flags plb does not write (PADDED, PRIORITY, ack on PING) are dropped. */
function normal(f: Frame): unknown {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) o[k] = v;
  if (f.type === FrameType.HEADERS) delete o.priority;
  if (f.type === FrameType.PING) delete o.ack;
  if (f.type === FrameType.HEADERS) o.endHeaders = true;
  if (f.type === FrameType.DATA) delete o.flowLength;
  return o;
}

function mutateFrames(input: Uint8Array, r: Rng): Uint8Array {
  const b = input.slice();
  if (b.length >= 9 && chance(r, 0.5)) {
    // header games: length, type, flags, stream
    const k = pick(r, [0, 2, 3, 4, 5, 8]);
    b[k] = pick(r, [0, 1, 4, 5, 8, 9, 0x20, 0x40, 0x80, 0xff, int(r, 256)]);
    return b;
  }
  return concat(b, randomFrame(r));
}

export const h2Frames: Target = {
  name: "h2-frames",
  generate: generateFrames,
  mutate: mutateFrames,
  dict: ["\x00\x00\x00", "\x00\x00\x08\x06\x00\x00\x00\x00\x00", "\x00\x00\x04\x08\x00", "\x00\x00\x00\x04\x01\x00\x00\x00\x00", "\x00\x40\x00", "\x7f\xff\xff\xff", "\x80\x00\x00\x00"],
  binary: true,
  maxLen: 1 << 17,
  check: checkFrames,
  run: (input) => {
    const out: number[] = [];
    for (let i = 0; i < input.length;) {
      const r = readFrame(input, i, input.length, MAX);
      if (r.kind !== "done") break;
      out.push(r.frame.type);
      i += r.consumed;
    }
    return out;
  },
};

// ---- h2-session ----

const LIMITS: H2Limits = { maxConcurrentStreams: 8, maxHeaderListSize: 4096, maxFrameSize: MAX, initialWindowSize: 65535, connectionWindowSize: 1 << 20, headerTableSize: 4096 };
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function request(r: Rng, withBody: boolean, bodyLength: number): string[] {
  const f = [":method", withBody ? "POST" : pick(r, ["GET", "HEAD"]), ":scheme", "https", ":path", pick(r, ["/", "/a?b", "*", ""]), ":authority", "example.org"];
  if (chance(r, 0.3)) f.push("content-length", String(chance(r, 0.8) ? bodyLength : bodyLength + 1));
  if (chance(r, 0.1)) f.push(pick(r, ["connection", "te", "X-Up", ":status", "x"]), pick(r, ["close", "trailers", "1", "", " a"]));
  if (chance(r, 0.05)) f.push("x-big", "b".repeat(between(r, 3000, 6000)));
  return f;
}

function conversation(r: Rng): Uint8Array {
  const parts: Uint8Array[] = [frame(4, 0, 0, chance(r, 0.8) ? [] : [...pick(r, [[0, 4], [0, 5], [0, 1], [0, 2]]), ...u32(pick(r, [0, 1, 100, 16384, 65535, 1 << 20, 0x7fffffff]))])];
  let id = 1;
  for (let n = between(r, 1, 8); n > 0; n--) {
    const k = int(r, 12);
    if (k < 5) {
      const body = chance(r, 0.5) ? bytesOf(r, int(r, 300)) : [];
      const withBody = body.length > 0 || chance(r, 0.2);
      const block = literalBlock(request(r, withBody, body.length));
      if (chance(r, 0.2) && block.length > 2) {
        const cut = between(r, 1, block.length - 1);
        parts.push(frame(1, withBody ? 0 : 1, id, block.subarray(0, cut)), frame(9, 4, id, block.subarray(cut)));
      } else parts.push(frame(1, 4 | (withBody ? 0 : 1), id, block));
      if (withBody) {
        const trailers = chance(r, 0.2);
        for (let at = 0; at < body.length || at === 0; at += 100) {
          const last = at + 100 >= body.length;
          const chunk = body.slice(at, at + 100);
          parts.push(chance(r, 0.2) ? frame(0, 8 | (last && !trailers ? 1 : 0), id, [3, ...chunk, 0, 0, 0]) : frame(0, last && !trailers ? 1 : 0, id, chunk));
          if (last) break;
        }
        if (trailers) parts.push(frame(1, 5, id, literalBlock(["x-sum", "1"])));
      }
      id += 2;
    } else if (k === 5) parts.push(frame(3, 0, Math.max(1, id - 2 * int(r, 2)), u32(pick(r, [0, 8, 1]))));
    else if (k === 6) parts.push(frame(8, 0, pick(r, [0, Math.max(1, id - 2)]), u32(pick(r, [1, 1000, 0, 0x7fffffff]))));
    else if (k === 7) parts.push(frame(6, 0, 0, bytesOf(r, 8)));
    else if (k === 8) parts.push(frame(2, 0, Math.max(1, id - 2), [...u32(int(r, 5)), 16]));
    else if (k === 9) parts.push(frame(4, 1, 0, []));
    else if (k === 10) parts.push(frame(between(r, 10, 255), int(r, 256), int(r, 4), bytesOf(r, int(r, 10))));
    else parts.push(frame(7, 0, 0, [...u32(id), ...u32(0)]));
  }
  return concat(...parts);
}

interface Outcome {
  events: unknown[];
  out: number[];
  closed: boolean;
}

function runSession(input: Uint8Array, cuts: number[] | undefined): Outcome {
  const events: unknown[] = [];
  const out: Uint8Array[] = [];
  let s!: H2Session;
  const answer = (id: number) => {
    s.respond(id, [":status", "200"], false);
    s.sendData(id, new Uint8Array(20), true);
  };
  s = new H2Session({
    write: (b) => void out.push(b),
    onRequest: (id, fields, end) => {
      events.push(["request", id, fields.length, end]);
      if (end) answer(id);
    },
    onStreamData: (id, d, end) => {
      events.push(["data", id, d.length, end]);
      s.consumed(id, d.length);
      if (end) answer(id);
    },
    onTrailers: (id) => {
      events.push(["trailers", id]);
      answer(id);
    },
    onStreamReset: (id, code) => void events.push(["reset", id, code]),
    onWindow: (id) => void events.push(["window", id]),
    onGoaway: (last, code) => void events.push(["goaway", last, code]),
    onConnectionError: (code, reason) => void events.push(["connectionError", code, reason]),
  }, LIMITS, new LiteralDecoder(), new LiteralEncoder());
  s.start(0);
  const all = concat(PREFACE, input);
  let from = 0;
  for (const cut of cuts ?? [all.length]) {
    s.feed(all.subarray(from, PREFACE.length + cut), 7);
    from = PREFACE.length + cut;
  }
  if (from < all.length) s.feed(all.subarray(from), 7);
  return { events, out: [...concat(...out)], closed: s.closed };
}

function checkSession(input: Uint8Array): Behaviour {
  const whole = runSession(input, undefined);
  const split = runSession(input, cutsFor(input));
  ensure(same(split, whole), () => `fed in pieces: ${show(split.events)}, at once: ${show(whole.events)}`);
  const out = Uint8Array.from(whole.out);
  const frames: Frame[] = [];
  for (let i = 0; i < out.length;) {
    const r = readFrame(out, i, out.length, 1 << 24);
    ensure(r.kind === "done", () => `the session wrote a bad frame at ${i}: ${show(r)}`);
    frames.push(r.frame);
    i += r.consumed;
  }
  const goaways = frames.filter((f) => f.type === FrameType.GOAWAY);
  const lastEvent = whole.events.at(-1) as unknown[] | undefined;
  const connError = whole.events.findIndex((e) => (e as unknown[])[0] === "connectionError");
  ensure(whole.closed === (goaways.length === 1) && goaways.length <= 1, () => `closed ${whole.closed} with ${goaways.length} GOAWAY`);
  ensure(!whole.closed || (frames.at(-1)?.type === FrameType.GOAWAY && connError === whole.events.length - 1), "a closed session must end with its GOAWAY and onConnectionError");
  ensure(whole.closed || connError < 0, "onConnectionError without closing");
  for (const f of frames) if (f.type === FrameType.RST_STREAM) ensure(f.streamId % 2 === 1, () => `RST_STREAM on stream ${f.streamId}`);
  const live = new Set<number>();
  const gone = new Set<number>();
  for (const e of whole.events as unknown[][]) {
    const [what, id] = e as [string, number];
    if (what === "request") {
      ensure(!live.has(id) && !gone.has(id), () => `a second request on stream ${id}`);
      live.add(id);
    } else if (what === "data" || what === "trailers") ensure(live.has(id), () => `${what} on stream ${id} without a live request`);
    else if (what === "reset") {
      ensure(live.has(id), () => `reset of unknown stream ${id}`);
      live.delete(id);
      gone.add(id);
    }
  }
  if (whole.closed) return { kind: "connection-error", reason: String((lastEvent as unknown[])[2]) };
  return { kind: frames.some((f) => f.type === FrameType.RST_STREAM) ? "open-with-resets" : "open" };
}

function mutateSession(input: Uint8Array, r: Rng): Uint8Array {
  // frame-level edits: drop, duplicate, swap, or retarget one frame
  const spans: [number, number][] = [];
  for (let i = 0; i + 9 <= input.length;) {
    const n = 9 + input[i] * 65536 + input[i + 1] * 256 + input[i + 2];
    if (i + n > input.length) break;
    spans.push([i, i + n]);
    i += n;
  }
  if (spans.length === 0) return concat(input, conversation(r));
  const parts = spans.map(([a, b]) => input.slice(a, b));
  const k = int(r, parts.length);
  switch (int(r, 5)) {
    case 0: parts.splice(k, 1); break;
    case 1: parts.splice(k, 0, parts[k]); break;
    case 2: { const j = int(r, parts.length); [parts[k], parts[j]] = [parts[j], parts[k]]; break; }
    case 3: parts[k][8] = pick(r, [0, 1, 2, 3, 5, 99]); parts[k][5] = parts[k][6] = parts[k][7] = 0; break;
    default: parts[k][4] ^= 1 << int(r, 8);
  }
  return concat(...parts);
}

export const h2Session: Target = {
  name: "h2-session",
  generate: conversation,
  mutate: mutateSession,
  dict: ["\x00\x00\x00\x04\x01\x00\x00\x00\x00", "\x00\x00\x04\x03\x00\x00\x00\x00\x01\x00\x00\x00\x08", "\x00\x00\x04\x08\x00\x00\x00\x00\x00", "\x00\x00\x00\x09\x04\x00\x00\x00\x01"],
  binary: true,
  maxLen: 1 << 16,
  check: checkSession,
  run: (input) => runSession(input, undefined).closed,
};
