/**
 * `H2ClientSession`: the client side of one HTTP/2 connection from plb to a
 * server (RFC 9113), pure like session.ts: bytes in through `feed(bytes,
 * now)`, events out through `H2ClientHandler`, frames out through
 * `handler.write` for what the stream owners submit (`request`,
 * `sendData`, `sendTrailers`, `reset`, `consumed`). No socket, no timer.
 *
 * It reuses the framing (frames.ts), SETTINGS (settings.ts), the stream
 * states and records (streams.ts), reassembly and HPACK of the server side.
 *
 * Decisions:
 * - The preface, our SETTINGS (no push, our windows) and a connection
 *   WINDOW_UPDATE are written by `start`; streams may be opened at once
 *   (RFC 9113 §3.4: a client need not wait for the server's SETTINGS),
 *   under the server's SETTINGS_MAX_CONCURRENT_STREAMS once it is known.
 * - A server is trusted more than a client (no flood guard), but every
 *   protocol rule that keeps the connection in sync is enforced: a frame
 *   that breaks one is a connection error (GOAWAY, then
 *   `onConnectionError`). PUSH_PROMISE is one (we sent ENABLE_PUSH 0).
 * - Frames on a stream we no longer track are ignored (we may have reset
 *   it); DATA there still counts against the connection window and is
 *   given back at once.
 * - A response header list over MAX_RESPONSE_HEADER_LIST is a stream error
 *   (the stream is reset, the owner told with `onStreamReset`).
 * - GOAWAY: streams above its last stream id were not processed: they are
 *   dropped and reported with `onRefused` (the owner may retry them
 *   elsewhere); no new stream is opened on the connection after it.
 */
import {
  dataFrames, type Frame, FrameType, goawayFrame, headersFrames, MAX_WINDOW, pingAckFrame, PREFACE, readFrame, rstStreamFrame, settingsAckFrame, settingsFrame, typeName, windowUpdateFrame,
} from "./frames.ts";
import { HeaderBlock, InputQueue } from "./reassembly.ts";
import { applySettings, DEFAULT_WINDOW, INITIAL_PEER_SETTINGS, type PeerSettings, SettingId } from "./settings.ts";
import { H2Stream, localOpen, remoteOpen, StreamEvent, StreamState, transition } from "./streams.ts";
import { H2Error, type HeaderDecoder, type HeaderEncoder, type HeaderList } from "./types.ts";

/** Our receive window per stream (what a server may send before the client side has taken it). */
export const CLIENT_STREAM_WINDOW = 1 << 20;
/** Our receive window for the whole connection. */
export const CLIENT_CONNECTION_WINDOW = 8 << 20;
/** The largest response header list we decode (RFC 9113 §6.5.2 size). */
export const MAX_RESPONSE_HEADER_LIST = 256 * 1024;
/** Streams assumed allowed before the server's SETTINGS say otherwise. */
export const ASSUMED_MAX_STREAMS = 100;

/** What the client session tells the connection that owns it. */
export interface H2ClientHandler {
  /** Bytes for the socket, in order. */
  write(bytes: Uint8Array): void;
  /** A header block of a stream (a 1xx, the response head, or trailers with `endStream`). */
  onHeaders(streamId: number, fields: HeaderList, endStream: boolean): void;
  /** DATA (padding removed): call `consumed(streamId, n)` once it is passed on (the response's backpressure). */
  onStreamData(streamId: number, data: Uint8Array, endStream: boolean): void;
  /** The server reset the stream, or the session did on a stream error (`code` says which). */
  onStreamReset(streamId: number, code: H2Error): void;
  /** GOAWAY named a last stream id below this stream: the server never processed it. */
  onRefused(streamId: number): void;
  /** A send window opened (`streamId` 0: the connection's). */
  onWindow(streamId: number): void;
  /** The server's SETTINGS were applied (its stream limit may have changed). */
  onSettings(): void;
  /** The server sent GOAWAY (after `onRefused` for the streams above `lastStreamId`). */
  onGoaway(lastStreamId: number, code: H2Error, debug: string): void;
  /** A connection error: our GOAWAY is written; close the connection. */
  onConnectionError(code: H2Error, reason: string): void;
}

export class H2ClientSession {
  private readonly input = new InputQueue();
  private peer: PeerSettings = { ...INITIAL_PEER_SETTINGS };
  private peerSettingsSeen = false;
  private readonly streams = new Map<number, H2Stream>();
  private nextId = 1;
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  private block: HeaderBlock | undefined;
  private dead = false;
  /** The server sent GOAWAY: no new streams. */
  goawayReceived = false;
  /** Our SETTINGS are not acknowledged yet. */
  private ourSettingsAcked = false;

  constructor(
    private readonly handler: H2ClientHandler,
    private readonly decoder: HeaderDecoder,
    private readonly encoder: HeaderEncoder,
  ) {}

  get closed(): boolean {
    return this.dead;
  }

  /** Streams open now. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Streams the server allows at once (ASSUMED_MAX_STREAMS until its SETTINGS say). */
  get maxStreams(): number {
    return this.peerSettingsSeen ? this.peer.maxConcurrentStreams : Math.min(this.peer.maxConcurrentStreams, ASSUMED_MAX_STREAMS);
  }

  /** A new stream can be opened now. */
  get canOpen(): boolean {
    return !this.dead && !this.goawayReceived && this.streams.size < this.maxStreams && this.nextId <= MAX_WINDOW;
  }

  /** The preface, our SETTINGS and the connection's WINDOW_UPDATE. */
  start(): void {
    this.handler.write(PREFACE);
    this.handler.write(settingsFrame([
      [SettingId.ENABLE_PUSH, 0],
      [SettingId.INITIAL_WINDOW_SIZE, CLIENT_STREAM_WINDOW],
      [SettingId.MAX_HEADER_LIST_SIZE, MAX_RESPONSE_HEADER_LIST],
    ]));
    this.handler.write(windowUpdateFrame(0, CLIENT_CONNECTION_WINDOW - DEFAULT_WINDOW));
    this.connRecvWindow = CLIENT_CONNECTION_WINDOW;
  }

  /** What `sendData` could send on `streamId` now. */
  sendWindow(streamId: number): number {
    const s = this.streams.get(streamId);
    if (s === undefined || !localOpen(s.state)) return 0;
    return Math.max(0, Math.min(this.connSendWindow, s.sendWindow));
  }

  /** Open a stream with the request's HEADERS (`fields` h2, pseudo-headers first); its id, or 0 when none can be opened. */
  request(fields: HeaderList, endStream: boolean): number {
    if (!this.canOpen) return 0;
    const id = this.nextId;
    this.nextId += 2;
    // Before our SETTINGS are acknowledged the server may hold us to the default window.
    const s = new H2Stream(id, endStream ? StreamState.HalfClosedLocal : StreamState.Open, this.peer.initialWindowSize, this.ourSettingsAcked ? CLIENT_STREAM_WINDOW : DEFAULT_WINDOW);
    this.streams.set(id, s);
    this.handler.write(headersFrames(id, this.encoder.encode(fields), endStream, this.peer.maxFrameSize));
    return id;
  }

  /** Send what both windows allow of `data`; the octets taken. END_STREAM only once all of it is taken. */
  sendData(streamId: number, data: Uint8Array, endStream: boolean): number {
    const s = this.streams.get(streamId);
    if (this.dead || s === undefined || !localOpen(s.state)) return 0;
    const n = Math.max(0, Math.min(data.length, this.connSendWindow, s.sendWindow));
    const last = endStream && n === data.length;
    if (n === 0 && !last) return 0;
    this.connSendWindow -= n;
    s.sendWindow -= n;
    this.handler.write(dataFrames(streamId, data.subarray(0, n), last, this.peer.maxFrameSize));
    if (last) this.endLocal(s);
    return n;
  }

  /** Trailers end the request. */
  sendTrailers(streamId: number, fields: HeaderList): void {
    const s = this.streams.get(streamId);
    if (this.dead || s === undefined || !localOpen(s.state)) return;
    this.handler.write(headersFrames(streamId, this.encoder.encode(fields), true, this.peer.maxFrameSize));
    this.endLocal(s);
  }

  /** RST_STREAM on a stream the owner gives up (no event back). */
  reset(streamId: number, code: H2Error): void {
    const s = this.streams.get(streamId);
    if (this.dead || s === undefined) return;
    this.handler.write(rstStreamFrame(streamId, code));
    this.forget(s);
  }

  /** The owner passed `n` octets of `streamId`'s DATA on: the windows open again (batched WINDOW_UPDATEs). */
  consumed(streamId: number, n: number): void {
    if (this.dead || n <= 0) return;
    const s = this.streams.get(streamId);
    if (s === undefined) return;
    const k = Math.min(n, s.held);
    s.held -= k;
    this.giveBack(s, k);
  }

  /** A graceful GOAWAY (we open no more streams; the server may close once the others are done). */
  goaway(): void {
    if (this.dead) return;
    this.goawayReceived = true;
    this.handler.write(goawayFrame(0, H2Error.NO_ERROR));
  }

  feed(bytes: Uint8Array, _now: number): void {
    if (this.dead) return;
    const buf = this.input.take(bytes);
    if (buf === undefined) return;
    let i = 0;
    while (i < buf.length) {
      const r = readFrame(buf, i, buf.length, MAX_FRAME);
      if (r.kind === "more") break;
      if (r.kind === "error") {
        if (this.block !== undefined || !r.stream) return this.connectionError(r.code, `server: ${r.reason}`);
        i += r.consumed;
        this.streamError(r.header?.streamId ?? 0, r.code);
      } else {
        i += r.consumed;
        this.onFrame(r.frame);
      }
      if (this.dead) return;
    }
    if (i < buf.length) this.input.keep(buf.subarray(i));
  }

  private onFrame(f: Frame): void {
    if (!this.peerSettingsSeen && f.type !== FrameType.SETTINGS) return this.connectionError(H2Error.PROTOCOL_ERROR, `server: ${f.type === -1 ? "unknown" : typeName(f.type)} frame before its SETTINGS`);
    if (this.block !== undefined && !(f.type === FrameType.CONTINUATION && f.streamId === this.block.streamId))
      return this.connectionError(H2Error.PROTOCOL_ERROR, `server: ${f.type === -1 ? "unknown" : typeName(f.type)} frame inside the header block of stream ${this.block.streamId}`);
    switch (f.type) {
      case FrameType.DATA:
        return this.onDataFrame(f.streamId, f.data, f.flowLength, f.endStream);
      case FrameType.HEADERS:
        if (this.idle(f.streamId)) return this.connectionError(H2Error.PROTOCOL_ERROR, `server: HEADERS on idle stream ${f.streamId}`);
        this.block = new HeaderBlock(f.streamId, f.endStream, f.priority, f.block);
        return this.blockGrew(f.endHeaders);
      case FrameType.CONTINUATION:
        if (this.block === undefined) return this.connectionError(H2Error.PROTOCOL_ERROR, `server: CONTINUATION on stream ${f.streamId} without HEADERS`);
        this.block.add(f.block);
        return this.blockGrew(f.endHeaders);
      case FrameType.PRIORITY:
        return;
      case FrameType.RST_STREAM: {
        if (this.idle(f.streamId)) return this.connectionError(H2Error.PROTOCOL_ERROR, `server: RST_STREAM on idle stream ${f.streamId}`);
        const s = this.streams.get(f.streamId);
        if (s === undefined) return;
        this.forget(s);
        return this.handler.onStreamReset(f.streamId, f.code as H2Error);
      }
      case FrameType.SETTINGS:
        return f.ack ? this.onSettingsAck() : this.onSettings(f.payload);
      case FrameType.PUSH_PROMISE:
        return this.connectionError(H2Error.PROTOCOL_ERROR, "server: PUSH_PROMISE though push is off");
      case FrameType.PING:
        if (!f.ack) this.handler.write(pingAckFrame(f.opaque));
        return;
      case FrameType.GOAWAY:
        return this.onGoaway(f.lastStreamId, f.code as H2Error, f.debug);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(f.streamId, f.increment);
      default:
        return;
    }
  }

  /** Never opened by us: even (push), or above the last id we used. */
  private idle(id: number): boolean {
    return id % 2 === 0 || id >= this.nextId;
  }

  private blockGrew(endHeaders: boolean): void {
    const b = this.block!;
    if (b.bytes > MAX_RESPONSE_HEADER_LIST * 2) return this.connectionError(H2Error.ENHANCE_YOUR_CALM, `server: header block of stream ${b.streamId} over ${MAX_RESPONSE_HEADER_LIST * 2} octets`);
    if (!endHeaders) return;
    this.block = undefined;
    // Always decoded, even for a stream we reset: the HPACK table must stay in sync.
    const decoded = this.decoder.decode(b.joined(), MAX_RESPONSE_HEADER_LIST);
    if (decoded.kind === "error") return this.connectionError(H2Error.COMPRESSION_ERROR, `server: header block of stream ${b.streamId}: ${decoded.reason} (octet ${decoded.pos})`);
    const s = this.streams.get(b.streamId);
    if (s === undefined) return; // reset by us meanwhile
    if (!remoteOpen(s.state)) return this.streamError(s.id, H2Error.STREAM_CLOSED);
    if (decoded.kind === "tooLarge") return this.streamError(s.id, H2Error.PROTOCOL_ERROR);
    if (b.endStream) s.state = transition(s.state, StreamEvent.RecvEnd) ?? StreamState.Closed;
    this.handler.onHeaders(s.id, decoded.fields, b.endStream);
    if (b.endStream) this.closeIfDone(s);
  }

  private onDataFrame(id: number, data: Uint8Array, flowLength: number, endStream: boolean): void {
    if (this.idle(id)) return this.connectionError(H2Error.PROTOCOL_ERROR, `server: DATA on idle stream ${id}`);
    if (flowLength > this.connRecvWindow) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, `server: DATA of ${flowLength} octets over the connection window of ${this.connRecvWindow}`);
    this.connRecvWindow -= flowLength;
    const s = this.streams.get(id);
    if (s === undefined) return this.giveBackConnection(flowLength);
    if (!remoteOpen(s.state)) {
      this.giveBackConnection(flowLength);
      return this.streamError(id, H2Error.STREAM_CLOSED);
    }
    if (flowLength > s.recvWindow) {
      this.giveBackConnection(flowLength);
      return this.streamError(id, H2Error.FLOW_CONTROL_ERROR);
    }
    s.recvWindow -= flowLength;
    s.received += data.length;
    if (flowLength > data.length) this.giveBack(s, flowLength - data.length);
    if (endStream) s.state = transition(s.state, StreamEvent.RecvEnd) ?? StreamState.Closed;
    s.held += data.length;
    this.handler.onStreamData(id, data, endStream);
    if (endStream) this.closeIfDone(s);
  }

  private giveBack(s: H2Stream, n: number): void {
    this.giveBackConnection(n);
    if (n <= 0 || !remoteOpen(s.state)) return;
    s.unacked += n;
    if (s.unacked >= CLIENT_STREAM_WINDOW / 4) {
      this.handler.write(windowUpdateFrame(s.id, s.unacked));
      s.recvWindow += s.unacked;
      s.unacked = 0;
    }
  }

  private giveBackConnection(n: number): void {
    if (n <= 0) return;
    this.connUnacked += n;
    if (this.connUnacked >= CLIENT_CONNECTION_WINDOW / 4) {
      this.handler.write(windowUpdateFrame(0, this.connUnacked));
      this.connRecvWindow += this.connUnacked;
      this.connUnacked = 0;
    }
  }

  private onWindowUpdate(id: number, increment: number): void {
    if (id === 0) {
      if (increment === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, "server: WINDOW_UPDATE of 0 on the connection");
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, "server: connection send window over 2^31-1");
      return this.handler.onWindow(0);
    }
    if (this.idle(id)) return this.connectionError(H2Error.PROTOCOL_ERROR, `server: WINDOW_UPDATE on idle stream ${id}`);
    const s = this.streams.get(id);
    if (s === undefined) return;
    if (increment === 0) return this.streamError(id, H2Error.PROTOCOL_ERROR);
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) return this.streamError(id, H2Error.FLOW_CONTROL_ERROR);
    if (localOpen(s.state)) this.handler.onWindow(id);
  }

  private onSettings(payload: Uint8Array): void {
    const r = applySettings(this.peer, payload);
    if (r.kind === "error") return this.connectionError(r.code, `server: ${r.reason}`);
    const delta = r.settings.initialWindowSize - this.peer.initialWindowSize;
    for (const s of this.streams.values()) {
      s.sendWindow += delta;
      if (s.sendWindow > MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, `server: SETTINGS_INITIAL_WINDOW_SIZE puts stream ${s.id}'s window over 2^31-1`);
    }
    for (const [id, v] of r.changes) if (id === SettingId.HEADER_TABLE_SIZE) this.encoder.setPeerMaxTableSize(v);
    this.peer = r.settings;
    this.peerSettingsSeen = true;
    this.handler.write(settingsAckFrame());
    this.handler.onSettings();
    if (delta > 0) for (const s of [...this.streams.values()]) if (localOpen(s.state) && this.streams.has(s.id)) this.handler.onWindow(s.id);
  }

  private onSettingsAck(): void {
    if (this.ourSettingsAcked) return;
    this.ourSettingsAcked = true;
    for (const s of this.streams.values()) s.recvWindow += CLIENT_STREAM_WINDOW - DEFAULT_WINDOW;
  }

  private onGoaway(lastStreamId: number, code: H2Error, debug: Uint8Array): void {
    this.goawayReceived = true;
    const refused = [...this.streams.keys()].filter((id) => id > lastStreamId);
    for (const id of refused) {
      const s = this.streams.get(id);
      if (s === undefined) continue;
      this.forget(s);
      this.handler.onRefused(id);
    }
    this.handler.onGoaway(lastStreamId, code, String.fromCharCode(...debug.subarray(0, 200)));
  }

  private endLocal(s: H2Stream): void {
    s.state = transition(s.state, StreamEvent.SendEnd) ?? StreamState.Closed;
    this.closeIfDone(s);
  }

  private closeIfDone(s: H2Stream): void {
    if (s.state === StreamState.Closed && this.streams.get(s.id) === s) this.forget(s);
  }

  private forget(s: H2Stream): void {
    s.state = StreamState.Closed;
    this.streams.delete(s.id);
    if (s.held > 0) this.giveBackConnection(s.held);
    s.held = 0;
  }

  /** A stream error: RST_STREAM, and the owner is told. */
  private streamError(id: number, code: H2Error): void {
    if (id === 0 || id % 2 === 0) return this.connectionError(code, `server: stream error on stream ${id}`);
    this.handler.write(rstStreamFrame(id, code));
    const s = this.streams.get(id);
    if (s === undefined) return;
    this.forget(s);
    this.handler.onStreamReset(id, code);
  }

  private connectionError(code: H2Error, reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.block = undefined;
    this.input.clear();
    this.streams.clear();
    const debug = reason.slice(0, 200);
    const bytes = new Uint8Array(debug.length);
    for (let i = 0; i < debug.length; i++) bytes[i] = debug.charCodeAt(i) & 0xff;
    this.handler.write(goawayFrame(0, code, bytes));
    this.handler.onConnectionError(code, reason);
  }
}

/** The largest frame we accept: the protocol default (we announce no other). */
const MAX_FRAME = 16384;
