/**
 * `H2Session`: the server side of one HTTP/2 connection (RFC 9113), pure:
 * bytes in through `feed(bytes, now)`, events out through `H2Handler`,
 * frames out through `handler.write` for what the carrier submits
 * (`respond`, `sendData`, `sendTrailers`, `reset`, `consumed`, `goaway`).
 * No socket, no timer: time comes in as an argument (ms).
 *
 * Errors are the ones RFC 9113 names: a stream error writes RST_STREAM
 * (and tells the carrier with `onStreamReset` when it knew the stream), a
 * connection error writes GOAWAY and calls `onConnectionError`; after it
 * the session ignores input and submits. Floods end the connection with
 * ENHANCE_YOUR_CALM (floods.ts has every limit).
 *
 * Decisions:
 * - A wrong client preface (whatever its bytes) is a connection error:
 *   GOAWAY PROTOCOL_ERROR; our SETTINGS, written by `start`, precede it.
 * - Streams over SETTINGS_MAX_CONCURRENT_STREAMS: RST_STREAM REFUSED_STREAM
 *   (h2spec accepts it or PROTOCOL_ERROR; REFUSED_STREAM tells the client it
 *   may retry).
 * - A request whose header list is over SETTINGS_MAX_HEADER_LIST_SIZE: the
 *   session answers it itself with `:status 431` and END_STREAM (then
 *   RST_STREAM NO_ERROR when the request has a body), and the carrier never
 *   sees it; over the trailers' limit: stream error PROTOCOL_ERROR (the
 *   request is already on its way: no answer is possible).
 * - A frame on a stream we reset recently is ignored (the client sent it
 *   before it saw our RST_STREAM); DATA on any other closed stream is a
 *   stream error STREAM_CLOSED, HEADERS a connection error STREAM_CLOSED;
 *   DATA on a closed stream still counts against the connection window
 *   (and is given back at once).
 * - Even stream ids are ours (push) and never opened: every frame there
 *   but PRIORITY is on an idle stream (PROTOCOL_ERROR), and a stream error
 *   there is made a connection error (§5.4.1 allows it).
 * - The SETTINGS ack timeout is the carrier's: `settingsAckPendingSince`.
 * - SETTINGS/PING floods: the carrier calls `flushed()` when its output
 *   queue is empty; more than MAX_UNFLUSHED_ACKS acks in between is a flood.
 */
import { FloodGuard } from "./floods.ts";
import {
  dataFrames, type Frame, FrameType, goawayFrame, headersFrames, MAX_WINDOW, pingAckFrame, PREFACE, readFrame, rstStreamFrame, settingsAckFrame, settingsFrame, typeName,
} from "./frames.ts";
import { HeaderBlock, InputQueue } from "./reassembly.ts";
import { ReceiveWindows } from "./receive-windows.ts";
import { checkRequestFields, checkTrailerFields } from "./request-fields.ts";
import { applySettings, DEFAULT_WINDOW, INITIAL_PEER_SETTINGS, ourSettings, type PeerSettings, SettingId } from "./settings.ts";
import { ClosedHow, ClosedStreams, H2Stream, localOpen, remoteOpen, StreamEvent, StreamState, transition } from "./streams.ts";
import { type DecodeResult, H2Error, type H2Handler, type H2Limits, type HeaderDecoder, type HeaderEncoder, type HeaderList } from "./types.ts";

const enum Phase {
  Preface,
  /** The preface was read; the first frame must be SETTINGS (§3.4). */
  FirstSettings,
  Frames,
  Closed,
}

export class H2Session {
  private phase = Phase.Preface;
  private prefaceAt = 0;
  /** Bytes of an incomplete frame, kept for the next `feed`. */
  private readonly input = new InputQueue();
  /** The client's settings (applySettings makes a new object per SETTINGS frame; none of its own until then). */
  private peer: Readonly<PeerSettings> = INITIAL_PEER_SETTINGS;
  private readonly streams = new Map<number, H2Stream>();
  private readonly closedStreams = new ClosedStreams();
  /** The highest stream id the client opened (every lower idle id is closed, §5.1.1). */
  private highestId = 0;
  /** The highest stream id passed to `onRequest`: GOAWAY's last stream id. */
  private lastProcessed = 0;
  private goawaySent = false;
  private connSendWindow = DEFAULT_WINDOW;
  private readonly recv: ReceiveWindows;
  private ourSettingsAcked = false;
  private block: HeaderBlock | undefined;
  private readonly floods = new FloodGuard();
  private now = 0;
  /** When our SETTINGS were written and not yet acknowledged (ms), for the carrier's SETTINGS_TIMEOUT; undefined once acknowledged. */
  settingsAckPendingSince: number | undefined;
  /** When the header block being received began (its HEADERS, ms), for the carrier's request-head timeout. */
  private blockSince = 0;

  /** When the unfinished header block began (HEADERS without END_HEADERS, CONTINUATION still due), or undefined. */
  get headerBlockSince(): number | undefined {
    return this.block === undefined ? undefined : this.blockSince;
  }

  constructor(private readonly handler: H2Handler, private readonly limits: H2Limits, private readonly decoder: HeaderDecoder, private readonly encoder: HeaderEncoder) {
    this.recv = new ReceiveWindows(limits.initialWindowSize, limits.connectionWindowSize, handler);
  }

  /** Streams the carrier knows and that are not closed. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** After a connection error (no more input or output). */
  get closed(): boolean {
    return this.phase === Phase.Closed;
  }

  /** What `sendData` could send on `streamId` now (both windows; 0 for a stream not open for sending). */
  sendWindow(streamId: number): number {
    const s = this.streams.get(streamId);
    if (s === undefined || !localOpen(s.state)) return 0;
    return Math.max(0, Math.min(this.connSendWindow, s.sendWindow));
  }

  /** Writes our SETTINGS (and the connection's WINDOW_UPDATE when it is above 65535). */
  start(now: number): void {
    this.now = now;
    this.handler.write(settingsFrame(ourSettings(this.limits)));
    this.recv.open();
    this.settingsAckPendingSince = now;
  }

  /** The carrier's output queue is empty again (resets the SETTINGS/PING flood counter). */
  flushed(): void {
    this.floods.unflushedAcks = 0;
  }

  feed(bytes: Uint8Array, now: number): void {
    if (this.phase === Phase.Closed) return;
    this.now = now;
    const buf = this.input.take(bytes);
    if (buf === undefined) return;
    let i = 0;
    if (this.phase === Phase.Preface) {
      while (i < buf.length && this.prefaceAt < PREFACE.length) {
        if (buf[i] !== PREFACE[this.prefaceAt]) return this.connectionError(H2Error.PROTOCOL_ERROR, `not an HTTP/2 client preface (octet ${this.prefaceAt})`);
        i++;
        this.prefaceAt++;
      }
      if (this.prefaceAt < PREFACE.length) return;
      this.phase = Phase.FirstSettings;
    }
    while (i < buf.length) {
      const r = readFrame(buf, i, buf.length, this.limits.maxFrameSize);
      if (r.kind === "more") break;
      if (r.kind === "error") {
        if (this.block !== undefined && r.header?.type !== FrameType.CONTINUATION)
          return this.connectionError(H2Error.PROTOCOL_ERROR, `${typeName(r.header?.type ?? -1)} frame inside the header block of stream ${this.block.streamId}`);
        if (!r.stream || this.phase === Phase.FirstSettings) return this.connectionError(r.code, r.reason);
        i += r.consumed;
        this.resetStream(r.header?.streamId ?? 0, r.code, true);
      } else {
        i += r.consumed;
        this.onFrame(r.frame);
      }
      if ((this.phase as Phase) === Phase.Closed) return;
    }
    if (i < buf.length) this.input.keep(buf.subarray(i));
  }

  private onFrame(f: Frame): void {
    if (this.phase === Phase.FirstSettings) {
      if (f.type !== FrameType.SETTINGS || f.ack) return this.connectionError(H2Error.PROTOCOL_ERROR, `${f.type === -1 ? "unknown" : typeName(f.type)} frame before the client's SETTINGS`);
      this.phase = Phase.Frames;
    }
    if (this.block !== undefined && !(f.type === FrameType.CONTINUATION && f.streamId === this.block.streamId))
      return this.connectionError(H2Error.PROTOCOL_ERROR, `${f.type === -1 ? "unknown" : typeName(f.type)} frame inside the header block of stream ${this.block.streamId}`);
    switch (f.type) {
      case FrameType.DATA:
        return this.onData(f.streamId, f.data, f.flowLength, f.endStream);
      case FrameType.HEADERS:
        if (f.streamId % 2 === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, `HEADERS on even stream ${f.streamId}`);
        this.block = new HeaderBlock(f.streamId, f.endStream, f.priority, f.block);
        this.blockSince = this.now;
        return this.blockGrew(f.endHeaders);
      case FrameType.CONTINUATION:
        if (this.block === undefined) return this.connectionError(H2Error.PROTOCOL_ERROR, `CONTINUATION on stream ${f.streamId} without HEADERS`);
        this.block.add(f.block);
        return this.blockGrew(f.endHeaders);
      case FrameType.PRIORITY:
        if (f.priority.dependency === f.streamId) this.resetStream(f.streamId, H2Error.PROTOCOL_ERROR, true);
        return;
      case FrameType.RST_STREAM:
        return this.onReset(f.streamId, f.code);
      case FrameType.SETTINGS:
        return f.ack ? this.onSettingsAck() : this.onSettings(f.payload);
      case FrameType.PUSH_PROMISE:
        return this.connectionError(H2Error.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FrameType.PING:
        if (f.ack) return;
        this.handler.write(pingAckFrame(f.opaque));
        return this.calm(this.floods.ackWritten());
      case FrameType.GOAWAY:
        return this.handler.onGoaway(f.lastStreamId, f.code);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(f.streamId, f.increment);
      default:
        return; // unknown frame types are ignored (§4.1, §5.5)
    }
  }

  // ---- header blocks ----

  private blockGrew(endHeaders: boolean): void {
    const b = this.block!;
    const flood = this.floods.headerBlock(b.frames, b.bytes, this.limits.maxHeaderListSize);
    if (flood !== undefined) return this.calm(flood);
    if (!endHeaders) return;
    this.block = undefined;
    const whole = b.joined();
    // Always decoded, even for a stream that is refused or ignored: the HPACK table must stay in sync.
    const decoded = this.decoder.decode(whole, this.limits.maxHeaderListSize);
    if (decoded.kind === "error") return this.connectionError(H2Error.COMPRESSION_ERROR, `header block of stream ${b.streamId}: ${decoded.reason} (octet ${decoded.pos})`);
    const s = this.streams.get(b.streamId);
    if (s !== undefined) return this.onTrailers(s, decoded, b.endStream);
    if (b.streamId <= this.highestId) {
      const how = this.closedStreams.recent(b.streamId, this.now);
      if (how === ClosedHow.ResetBySelf) return;
      if (how !== undefined) return this.connectionError(H2Error.STREAM_CLOSED, `HEADERS on closed stream ${b.streamId}`);
      return this.connectionError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${b.streamId}, not above ${this.highestId}`);
    }
    this.onRequestBlock(b, decoded);
  }

  private onRequestBlock(b: HeaderBlock, decoded: DecodeResult): void {
    const id = b.streamId;
    this.highestId = id;
    if (this.goawaySent) return this.closedStreams.record(id, ClosedHow.ResetBySelf, this.now); // §6.8: new streams after GOAWAY are ignored
    if (b.priority?.dependency === id) return this.resetStream(id, H2Error.PROTOCOL_ERROR, true);
    if (this.streams.size >= this.limits.maxConcurrentStreams) return this.resetStream(id, H2Error.REFUSED_STREAM, this.ourSettingsAcked);
    if (decoded.kind === "tooLarge") return this.answer431(id, b.endStream);
    const fields = (decoded as { fields: HeaderList }).fields;
    const check = checkRequestFields(fields);
    if (!check.ok) return this.resetStream(id, H2Error.PROTOCOL_ERROR, true);
    if (b.endStream && check.contentLength > 0) return this.resetStream(id, H2Error.PROTOCOL_ERROR, true);
    const state = transition(StreamState.Idle, b.endStream ? StreamEvent.RecvHeadersEnd : StreamEvent.RecvHeaders)!;
    const s = new H2Stream(id, state, this.peer.initialWindowSize, this.recv.streamInitial);
    s.contentLength = check.contentLength;
    this.streams.set(id, s);
    this.lastProcessed = id;
    this.handler.onRequest(id, fields, b.endStream);
  }

  private onTrailers(s: H2Stream, decoded: DecodeResult, endStream: boolean): void {
    if (!remoteOpen(s.state)) return this.resetStream(s.id, H2Error.STREAM_CLOSED, true);
    if (!endStream || decoded.kind !== "done" || !checkTrailerFields(decoded.fields).ok) return this.resetStream(s.id, H2Error.PROTOCOL_ERROR, true);
    if (s.contentLength >= 0 && s.received !== s.contentLength) return this.resetStream(s.id, H2Error.PROTOCOL_ERROR, true);
    this.endRemote(s);
    this.handler.onTrailers(s.id, decoded.fields);
    this.closeIfDone(s);
  }

  private answer431(id: number, endStream: boolean): void {
    this.handler.write(headersFrames(id, this.encoder.encode([":status", "431"]), true, this.peer.maxFrameSize));
    if (!endStream) this.handler.write(rstStreamFrame(id, H2Error.NO_ERROR));
    this.closedStreams.record(id, endStream ? ClosedHow.Ended : ClosedHow.ResetBySelf, this.now);
    this.calm(this.floods.prematureReset(this.now));
  }

  // ---- DATA and flow control ----

  private onData(id: number, data: Uint8Array, flowLength: number, endStream: boolean): void {
    if (this.idle(id)) return this.connectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
    if (!this.recv.charge(flowLength)) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, `DATA of ${flowLength} octets over the connection window of ${this.recv.connection}`);
    const s = this.streams.get(id);
    if (s === undefined || !remoteOpen(s.state)) {
      this.recv.giveBackConnection(flowLength);
      if (s === undefined && this.closedStreams.recent(id, this.now) === ClosedHow.ResetBySelf) return;
      return this.resetStream(id, H2Error.STREAM_CLOSED, true);
    }
    if (flowLength > s.recvWindow) {
      this.recv.giveBackConnection(flowLength);
      return this.resetStream(id, H2Error.FLOW_CONTROL_ERROR, true);
    }
    s.recvWindow -= flowLength;
    s.received += data.length;
    if (s.contentLength >= 0 && (s.received > s.contentLength || (endStream && s.received !== s.contentLength))) {
      this.recv.giveBackConnection(flowLength);
      return this.resetStream(id, H2Error.PROTOCOL_ERROR, true);
    }
    if (flowLength > data.length) this.recv.giveBack(s, flowLength - data.length); // padding: never passed on
    if (data.length === 0 && !endStream) {
      const flood = this.floods.emptyDataFrame(this.now);
      if (flood !== undefined) return this.calm(flood);
    }
    if (endStream) this.endRemote(s);
    s.held += data.length;
    this.handler.onStreamData(id, data, endStream);
    if (endStream) this.closeIfDone(s);
  }

  /** The carrier passed `n` octets of `streamId`'s DATA on: the receive windows open again (batched WINDOW_UPDATEs). */
  consumed(streamId: number, n: number): void {
    if (this.phase === Phase.Closed) return;
    const s = this.streams.get(streamId);
    if (s === undefined || n <= 0) return; // a closed stream's held octets went back to the connection when it closed
    const k = Math.min(n, s.held);
    s.held -= k;
    this.recv.giveBack(s, k);
  }

  private onWindowUpdate(id: number, increment: number): void {
    const flood = this.floods.windowUpdate(this.now);
    if (flood !== undefined) return this.calm(flood);
    if (id === 0) {
      if (increment === 0) return this.connectionError(H2Error.PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection");
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, "connection send window over 2^31-1");
      return this.handler.onWindow(0);
    }
    if (this.idle(id)) return this.connectionError(H2Error.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
    const s = this.streams.get(id);
    if (s === undefined) return; // closed: frames in flight are fine
    if (increment === 0) return this.resetStream(id, H2Error.PROTOCOL_ERROR, true);
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) return this.resetStream(id, H2Error.FLOW_CONTROL_ERROR, true);
    if (localOpen(s.state)) this.handler.onWindow(id);
  }

  // ---- SETTINGS ----

  private onSettings(payload: Uint8Array): void {
    const r = applySettings(this.peer, payload);
    if (r.kind === "error") return this.connectionError(r.code, r.reason);
    const delta = r.settings.initialWindowSize - this.peer.initialWindowSize;
    for (const s of this.streams.values()) {
      s.sendWindow += delta;
      if (s.sendWindow > MAX_WINDOW) return this.connectionError(H2Error.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE puts stream ${s.id}'s window over 2^31-1`);
    }
    for (const [id, v] of r.changes) if (id === SettingId.HEADER_TABLE_SIZE) this.encoder.setPeerMaxTableSize(v);
    this.peer = r.settings;
    this.handler.write(settingsAckFrame());
    const flood = this.floods.ackWritten();
    if (flood !== undefined) return this.calm(flood);
    if (delta > 0) for (const s of [...this.streams.values()]) if (localOpen(s.state) && this.streams.has(s.id)) this.handler.onWindow(s.id);
  }

  private onSettingsAck(): void {
    if (this.ourSettingsAcked) return;
    this.ourSettingsAcked = true;
    this.settingsAckPendingSince = undefined;
    this.decoder.setMaxTableSize(this.limits.headerTableSize);
    this.recv.settingsAcked(this.streams.values());
  }

  // ---- stream ends ----

  /** Idle: above every stream the client opened, or even (streams we would push on: never opened). */
  private idle(id: number): boolean {
    return id > this.highestId || id % 2 === 0;
  }

  private onReset(id: number, code: H2Error): void {
    if (this.idle(id)) return this.connectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
    const s = this.streams.get(id);
    if (s === undefined) return; // closed already
    const premature = s.state !== StreamState.HalfClosedLocal;
    this.forget(s, ClosedHow.ResetByPeer);
    if (!premature) this.floods.streamCompleted();
    this.handler.onStreamReset(id, code);
    if (premature) this.calm(this.floods.prematureReset(this.now));
  }

  /** A stream error (or the carrier's reset): RST_STREAM, and `onStreamReset` when the carrier knew the stream and did not ask for it. */
  private resetStream(id: number, code: H2Error, clientFault: boolean, told = true): void {
    // an even stream is ours and idle forever (no push): a stream error there is made a connection error (§5.4 allows it)
    if (id % 2 === 0) return this.connectionError(code, `stream error on idle stream ${id}`);
    this.handler.write(rstStreamFrame(id, code));
    const s = this.streams.get(id);
    if (s !== undefined) this.forget(s, ClosedHow.ResetBySelf);
    else this.closedStreams.record(id, ClosedHow.ResetBySelf, this.now);
    if (s !== undefined && told) this.handler.onStreamReset(id, code);
    if (clientFault) this.calm(this.floods.prematureReset(this.now));
  }

  private endRemote(s: H2Stream): void {
    s.state = transition(s.state, StreamEvent.RecvEnd) ?? StreamState.Closed;
  }

  private endLocal(s: H2Stream): void {
    s.state = transition(s.state, StreamEvent.SendEnd) ?? StreamState.Closed;
    this.closeIfDone(s);
  }

  private closeIfDone(s: H2Stream): void {
    if (s.state !== StreamState.Closed || this.streams.get(s.id) !== s) return;
    this.forget(s, ClosedHow.Ended);
    this.floods.streamCompleted();
  }

  /** Drops a stream: its undelivered octets go back to the connection window. */
  private forget(s: H2Stream, how: ClosedHow): void {
    s.state = StreamState.Closed;
    this.streams.delete(s.id);
    this.closedStreams.record(s.id, how, this.now);
    if (s.held > 0) this.recv.giveBackConnection(s.held);
    s.held = 0;
  }

  // ---- what the carrier submits ----

  /** The response head (or a 1xx) of `streamId`: fields already h2, `:status` first. */
  respond(streamId: number, fields: HeaderList, endStream: boolean): void {
    const s = this.streams.get(streamId);
    if (this.phase === Phase.Closed || s === undefined || !localOpen(s.state)) return;
    this.handler.write(headersFrames(streamId, this.encoder.encode(fields), endStream, this.peer.maxFrameSize));
    if (endStream) this.endLocal(s);
  }

  /** Sends what both send windows allow of `data` (split at the peer's max frame size); returns the octets taken. END_STREAM only once all is taken. */
  sendData(streamId: number, data: Uint8Array, endStream: boolean): number {
    const s = this.streams.get(streamId);
    if (this.phase === Phase.Closed || s === undefined || !localOpen(s.state)) return 0;
    const n = Math.max(0, Math.min(data.length, this.connSendWindow, s.sendWindow));
    const last = endStream && n === data.length;
    if (n === 0 && !last) return 0;
    this.connSendWindow -= n;
    s.sendWindow -= n;
    this.floods.dataFramesSent(Math.max(1, Math.ceil(n / this.peer.maxFrameSize)));
    this.handler.write(dataFrames(streamId, data.subarray(0, n), last, this.peer.maxFrameSize));
    if (last) this.endLocal(s);
    return n;
  }

  /** Trailers end the response. */
  sendTrailers(streamId: number, fields: HeaderList): void {
    this.respond(streamId, fields, true);
  }

  /** RST_STREAM `code` on a stream the carrier gives up (no `onStreamReset` back). */
  reset(streamId: number, code: H2Error): void {
    if (this.phase === Phase.Closed || !this.streams.has(streamId)) return;
    this.resetStream(streamId, code, false, false);
  }

  /** Graceful GOAWAY: the last stream id is the highest passed to `onRequest`; later new streams are ignored (§6.8). */
  goaway(code: H2Error, debug?: string): void {
    if (this.phase === Phase.Closed) return;
    this.goawaySent = true;
    this.handler.write(goawayFrame(this.lastProcessed, code, debug === undefined ? undefined : latin1(debug)));
  }

  private calm(reason: string | undefined): void {
    if (reason !== undefined) this.connectionError(H2Error.ENHANCE_YOUR_CALM, reason);
  }

  private connectionError(code: H2Error, reason: string): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.goawaySent = true;
    this.block = undefined;
    this.input.clear();
    this.streams.clear();
    this.handler.write(goawayFrame(this.lastProcessed, code, latin1(reason.slice(0, 200))));
    this.handler.onConnectionError(code, reason);
  }
}

function latin1(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}
