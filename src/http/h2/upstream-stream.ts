/**
 * One h2 stream to a server, as the exchange sees its server connection: a
 * small virtual socket (the calls of `Sock` that Upstream, the outbox and
 * the exchange make: write, pause, resume, end, terminate; events to
 * `data`). The exchange keeps speaking HTTP/1:
 *
 * - write: its request head (plb's own output, parsed with head.ts) →
 *   HEADERS (upstream-translate.ts); the body by its framing
 *   (Content-Length as is, chunked through dechunk.ts's Dechunker) → DATA;
 *   chunked trailers → trailing HEADERS. The stream's send windows are the
 *   backpressure: bytes beyond them (and a small slack) are not taken, so
 *   `write` returns short and `drain` fires when a window opens.
 * - events: response HEADERS → an HTTP/1.1 head (chunked unless bodiless or
 *   with a Content-Length), DATA → chunks, trailers → chunked trailers.
 *   `pause` holds what arrives and stops giving the server window back.
 * - A malformed response resets the stream and closes with an error (the
 *   exchange answers 502, or cuts a started response); a gRPC response cut
 *   mid-stream (server reset or lost) ends with grpc-status 14 UNAVAILABLE
 *   trailers instead, so an h2 client sees UNAVAILABLE, never a hang.
 * - A stream the server refused unprocessed (GOAWAY above it, REFUSED_STREAM)
 *   goes once more on another connection when the request is retryable
 *   (idempotent, no body: the head is all there is to send again).
 */
import { PlbError } from "../../errors.ts";
import { appendBytes } from "../../net/bytes.ts";
import type { Sock, SocketEvents } from "../../net/types.ts";
import { retryable } from "../_private.ts";
import { parseRequestHead } from "../head.ts";
import { DEFAULT_LIMITS, type RequestHead } from "../types.ts";
import { chunkFrame, Dechunker } from "./dechunk.ts";
import { H2Error, type HeaderList } from "./types.ts";
import { chunkedTrailers, Framing, grpcUnavailable, h1ResponseHead, h2RequestFields, isGrpc, LAST_CHUNK } from "./upstream-translate.ts";

/** What a stream needs of its connection (server-connection.ts). */
export interface StreamHost {
  /** Open the stream on the wire: its id, or 0 when the connection cannot take it now. */
  open(stream: H2UpstreamStream, fields: HeaderList, endStream: boolean): number;
  sendData(id: number, data: Uint8Array, endStream: boolean): number;
  sendTrailers(id: number, fields: HeaderList): void;
  consumed(id: number, n: number): void;
  reset(id: number, code: H2Error): void;
  /** The stream is over (ended both ways, reset or abandoned): its place is free. */
  release(stream: H2UpstreamStream): void;
  /** Find the stream another connection to the same server (a refused retryable stream); false when there is none to ask. */
  retry(stream: H2UpstreamStream): boolean;
}

/** Request body octets held beyond the send windows before `write` returns short. */
const SLACK = 64 * 1024;
/** Largest request head accepted (plb wrote it; its limits are the service's, at most 1 MiB). */
const HEAD_LIMITS = { ...DEFAULT_LIMITS, maxRequestLine: 1 << 20, maxHeaderBytes: 2 << 20, maxHeaders: 20_000 };
const EMPTY = new Uint8Array(0);

const enum Req {
  Head,
  Length,
  Chunked,
  Done,
}

export class H2UpstreamStream {
  /** The socket's events receiver (Upstream, via handOver). */
  data: SocketEvents | undefined;
  id = 0;
  /** `open` was called on the current host (its reservation is used up). */
  opened = false;
  private req = Req.Head;
  private headBuf: Uint8Array | undefined;
  private scanFrom = 0;
  private head: RequestHead | undefined;
  private fields: HeaderList | undefined;
  private remaining = 0;
  private dechunker: Dechunker | undefined;
  /** Request DATA not sent yet (over the windows), and whether the body ended after it (with trailers, if any). */
  private out: Uint8Array[] = [];
  private outBytes = 0;
  private outEnd = false;
  private outTrailers: HeaderList | undefined;
  private wantDrain = false;
  /** Both directions' ends. */
  private sentEnd = false;
  private recvEnd = false;
  /** The response: its head came (final), its framing, DATA octets left for a Content-Length. */
  private finalHead = false;
  private framing = Framing.None;
  private resLeft = -1;
  /** Something of the response went to the exchange. */
  private delivered = false;
  /** Paused by the exchange: what arrives is held (`held` octets of DATA not yet given back). */
  private paused = false;
  private inbox: { bytes: Uint8Array; n: number }[] = [];
  private retried = false;
  private over = false;
  private scheduled = false;

  constructor(
    private host: StreamHost,
    private readonly scheme: "http" | "https",
  ) {}

  /** The exchange's socket view. */
  get sock(): Sock {
    return this as unknown as Sock;
  }

  // ---------------------------------------------------------------- the socket surface

  write(buf: Uint8Array): number {
    if (this.over) return -1;
    let at = 0;
    if (this.req === Req.Head) {
      const whole = this.headBuf === undefined ? buf : appendBytes(this.headBuf, buf);
      const held = this.headBuf?.length ?? 0;
      const r = parseRequestHead(whole, HEAD_LIMITS, this.scanFrom);
      if (r.kind === "more") {
        this.headBuf = whole;
        this.scanFrom = r.scanFrom;
        return buf.length;
      }
      this.headBuf = undefined;
      if (r.kind === "error") {
        this.failLater(`request head does not parse: ${r.reason}`);
        return buf.length;
      }
      const head = (this.head = r.head);
      at = r.consumed - held;
      const body = head.body;
      const ends = body.kind === "none" || (body.kind === "length" && body.length === 0);
      this.fields = h2RequestFields(head, this.scheme);
      this.opened = true;
      this.id = this.host.open(this, this.fields, ends);
      if (this.id === 0) {
        this.failLater("the server's connection took no new stream");
        return buf.length;
      }
      if (ends) {
        this.req = Req.Done;
        this.sentEnd = true;
        return buf.length; // bytes after a bodiless request: the exchange sends none
      }
      if (body.kind === "length") {
        this.req = Req.Length;
        this.remaining = body.length;
      } else {
        this.req = Req.Chunked;
        this.dechunker = new Dechunker({ response: false });
      }
    }
    while (at < buf.length && this.req !== Req.Done) {
      if (this.outBytes > 0) this.sendOut();
      const room = SLACK - this.outBytes;
      if (room <= 0) break;
      if (this.req === Req.Length) {
        const n = Math.min(this.remaining, buf.length - at, room);
        this.queueOut(buf.subarray(at, at + n));
        at += n;
        this.remaining -= n;
        if (this.remaining === 0) {
          this.req = Req.Done;
          this.outEnd = true;
        }
      } else {
        const r = this.dechunker!.feed(buf, at, Math.min(buf.length, at + room));
        if (r.kind === "error") {
          this.failLater(`request body: ${r.reason}`);
          return buf.length;
        }
        for (const d of r.data) this.queueOut(d);
        at += r.consumed;
        if (r.kind === "done") {
          this.req = Req.Done;
          this.outEnd = true;
          if (r.trailers !== undefined && r.trailers.length > 0) this.outTrailers = r.trailers;
        }
      }
    }
    this.flushOut();
    if (this.req === Req.Done) return buf.length;
    if (at < buf.length) this.wantDrain = true;
    return at;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.inbox.length > 0 && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.deliverInbox();
      });
    }
  }

  /** The exchange is done with it (Upstream.close): a stream still open either way is cancelled. */
  end(): void {
    this.finish(!(this.sentEnd && this.recvEnd));
  }

  /** Abandoned (timeout, client gone): RST_STREAM CANCEL. */
  terminate(): void {
    this.finish(true);
  }

  // ---------------------------------------------------------------- from the connection

  /** A header block of this stream. */
  onHeaders(fields: HeaderList, endStream: boolean): void {
    if (this.over) return;
    if (!this.finalHead) {
      const r = h1ResponseHead(fields, endStream, this.head?.method ?? "GET");
      if (r.kind === "error") return this.malformed(r.reason);
      if (!r.interim) {
        this.finalHead = true;
        this.framing = r.framing;
        this.resLeft = r.framing === Framing.Length ? r.length : -1;
      }
      if (endStream) this.recvEnd = true;
      this.deliver(r.bytes, 0);
    } else {
      if (!endStream) return this.malformed("HEADERS after the response head without END_STREAM");
      this.recvEnd = true;
      if (this.framing === Framing.Chunked) {
        const t = chunkedTrailers(fields);
        if (t.kind === "error") return this.malformed(t.reason);
        this.deliver(t.bytes, 0);
      } else if (this.resLeft > 0) return this.malformed(`the response ended ${this.resLeft} octets short of its content-length`);
    }
    this.maybeRelease();
  }

  onData(data: Uint8Array, endStream: boolean): void {
    if (this.over) return;
    if (!this.finalHead) return this.malformed("DATA before the response head");
    if (endStream) this.recvEnd = true;
    const n = data.length;
    if (this.framing === Framing.None) {
      if (n > 0) return this.malformed("DATA in a response without a body");
      return this.maybeRelease();
    }
    if (this.framing === Framing.Length) {
      if (n > this.resLeft) return this.malformed("DATA beyond the response's content-length");
      this.resLeft -= n;
      if (endStream && this.resLeft !== 0) return this.malformed(`the response ended ${this.resLeft} octets short of its content-length`);
      if (n > 0) this.deliver(data, n);
    } else {
      if (n > 0) this.deliver(chunkFrame(data), n);
      if (endStream) this.deliver(LAST_CHUNK, 0);
    }
    this.maybeRelease();
  }

  /** The server reset the stream (or the session did on a stream error). */
  onReset(code: H2Error): void {
    if (this.over) return;
    if (code === H2Error.REFUSED_STREAM && !this.delivered) {
      if (this.tryRetry()) return;
      return this.lost("the server refused the stream (REFUSED_STREAM)", true);
    }
    // NO_ERROR after a complete response: the server only stops reading the request (RFC 9113 §8.1).
    if (code === H2Error.NO_ERROR && this.recvEnd) return this.maybeRelease(true);
    this.lost(`the server reset the stream (${errorName(code)})`);
  }

  /** GOAWAY named a lower last stream: the server never processed this one. */
  onRefused(): void {
    if (this.over) return;
    if (!this.delivered && this.tryRetry()) return;
    this.lost("the server refused the stream (GOAWAY)", !this.delivered);
  }

  /** The connection is gone (closed, reset, a connection error). */
  onConnectionLost(why: string): void {
    if (this.over) return;
    this.lost(why);
  }

  /** A send window opened. */
  onWindow(): void {
    if (this.over || this.outBytes === 0 && !this.outEnd) return;
    this.flushOut();
  }

  /** Moved to another connection (a retry): open there with the same head. */
  rebind(host: StreamHost): void {
    this.host = host;
    this.opened = false;
    if (this.over) return host.release(this);
    this.opened = true;
    this.id = host.open(this, this.fields!, true);
    if (this.id === 0) this.lost("no connection took the retried stream");
  }

  /** No connection for the retry. */
  retryFailed(why: string): void {
    if (!this.over) this.lost(why);
  }

  // ---------------------------------------------------------------- inside

  private queueOut(d: Uint8Array): void {
    if (d.length === 0) return;
    this.out.push(d);
    this.outBytes += d.length;
  }

  /** Send what the windows allow of the request body; END_STREAM (or trailers) once it is all out; drain when `write` was short. */
  private flushOut(): void {
    if (!this.sendOut()) return;
    const h = this.host;
    if (this.outEnd && !this.sentEnd) {
      if (this.outTrailers !== undefined) h.sendTrailers(this.id, this.outTrailers);
      else h.sendData(this.id, EMPTY, true);
      this.sentEnd = true;
    }
    if (this.wantDrain) {
      this.wantDrain = false;
      this.data?.onDrain();
    }
    this.maybeRelease();
  }

  /** DATA within the windows; true when nothing is left waiting. */
  private sendOut(): boolean {
    const h = this.host;
    while (this.out.length > 0) {
      const d = this.out[0];
      const last = this.outEnd && this.outTrailers === undefined && this.out.length === 1;
      const n = h.sendData(this.id, d, last);
      this.outBytes -= n;
      if (n < d.length) {
        this.out[0] = d.subarray(n);
        return false;
      }
      this.out.shift();
      if (last) this.sentEnd = true;
    }
    return true;
  }

  /** Bytes for the exchange (`n`: DATA octets in them, given back to the server once passed on). */
  private deliver(bytes: Uint8Array, n: number): void {
    if (this.paused || this.inbox.length > 0) {
      this.inbox.push({ bytes, n });
      return;
    }
    this.delivered = true;
    this.data?.onData(bytes);
    if (n > 0 && this.id !== 0) this.host.consumed(this.id, n);
  }

  private deliverInbox(): void {
    const box = this.inbox;
    while (box.length > 0 && !this.paused) {
      const { bytes, n } = box.shift()!;
      this.delivered = true;
      this.data?.onData(bytes);
      if (n > 0 && this.id !== 0) this.host.consumed(this.id, n);
    }
    this.maybeRelease();
  }

  private tryRetry(): boolean {
    if (this.retried || this.head === undefined || !retryable(this.head)) return false;
    this.retried = true;
    this.id = 0;
    return this.host.retry(this);
  }

  /** Both directions are done (or `force`): the connection's place is free. */
  private maybeRelease(force = false): void {
    if (this.over || (!force && !(this.sentEnd && this.recvEnd))) return;
    if (this.inbox.length > 0) return; // delivered first
    this.over = true;
    this.host.release(this);
  }

  private finish(cancel: boolean): void {
    if (this.over) return;
    this.over = true;
    this.data = undefined;
    if (cancel && this.id !== 0) this.host.reset(this.id, H2Error.CANCEL);
    this.host.release(this);
  }

  private malformed(reason: string): void {
    if (this.id !== 0) this.host.reset(this.id, H2Error.PROTOCOL_ERROR);
    this.lost(`malformed response: ${reason}`);
  }

  /**
   * The stream ends without its response: a gRPC response already under
   * way ends with UNAVAILABLE trailers; anything else closes with an error
   * (a 502, or a cut response).
   */
  private lost(why: string, refused = false): void {
    if (this.over) return;
    if (this.finalHead && this.framing === Framing.Chunked && !this.recvEnd && this.head !== undefined && isGrpc(this.head)) {
      this.recvEnd = true;
      this.sentEnd = true;
      this.deliver(grpcUnavailable(why), 0);
      this.over = true;
      this.host.release(this);
      return;
    }
    this.over = true;
    this.host.release(this);
    const to = this.data;
    this.data = undefined;
    to?.onClose(refused ? new PlbError("STREAM_REFUSED", why) : new Error(why));
  }

  /** Close with an error after the current call (write must not call back into its caller). */
  private failLater(why: string): void {
    if (this.over) return;
    this.over = true;
    if (this.id !== 0) this.host.reset(this.id, H2Error.CANCEL);
    this.host.release(this);
    queueMicrotask(() => {
      const to = this.data;
      this.data = undefined;
      to?.onClose(new Error(why));
    });
  }
}

const NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"];
/** An h2 error code's name (RFC 9113 §7). */
export const errorName = (code: number): string => NAMES[code] ?? `error 0x${code.toString(16)}`;
