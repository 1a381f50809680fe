/**
 * The contracts between plb's HTTP/2 layers (RFC 9113, RFC 7541):
 *
 * - hpack/: the header compression (pure): a decoder and an encoder per
 *   connection direction.
 * - frames.ts, settings.ts, streams.ts, session.ts (pure, no I/O): the
 *   connection's protocol: frames in, events out through `H2Handler`, and
 *   frames out for what the carrier submits. It enforces framing, stream
 *   states, flow control, SETTINGS, limits and flood defenses, and answers
 *   every connection and stream error RFC 9113 names (GOAWAY / RST_STREAM).
 * - translate.ts (pure): h2 request fields → one HTTP/1.1 request head for
 *   a server; an HTTP/1.1 response head → h2 response fields.
 * - connection.ts, stream.ts (I/O): the socket, timeouts, and each stream
 *   as one exchange carrier.
 *
 * Header lists are flat arrays [name0, value0, name1, value1, …]: names as
 * sent (HTTP/2 requires lowercase; the session checks), values as latin1
 * strings (one char per octet: nothing is lost or reinterpreted).
 */

/** Error codes, RFC 9113 §7. */
export const enum H2Error {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  SETTINGS_TIMEOUT = 0x4,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  CONNECT_ERROR = 0xa,
  ENHANCE_YOUR_CALM = 0xb,
  INADEQUATE_SECURITY = 0xc,
  HTTP_1_1_REQUIRED = 0xd,
}

/** A header list: [name0, value0, name1, value1, …]. */
export type HeaderList = string[];

/** HPACK decoding of one complete header block (RFC 7541), stateful across blocks of one connection. */
export interface HeaderDecoder {
  /**
   * Decode a whole field block. `maxListSize`: the limit of the decoded list
   * (RFC 9113 §6.5.2 size: name + value + 32 per field); over it the
   * result is `tooLarge` (the block is still decoded to keep the dynamic
   * table in sync, but no list is kept). Any encoding error is a
   * COMPRESSION_ERROR (a connection error): `pos` is the offset in `block`.
   */
  decode(block: Uint8Array, maxListSize: number): DecodeResult;
  /** Our SETTINGS_HEADER_TABLE_SIZE, once the peer acknowledged it: the most a table size update may ask for. */
  setMaxTableSize(n: number): void;
}

export type DecodeResult =
  | { kind: "done"; fields: HeaderList }
  | { kind: "tooLarge"; size: number }
  | { kind: "error"; pos: number; reason: string };

/** HPACK encoding, stateful across blocks of one connection. */
export interface HeaderEncoder {
  /** Encode `fields` (lowercase names) into one field block; `sensitive` names are never indexed. */
  encode(fields: HeaderList): Uint8Array;
  /** The peer's SETTINGS_HEADER_TABLE_SIZE: the encoder emits a size update at the start of its next block when it shrinks its table. */
  setPeerMaxTableSize(n: number): void;
}

/** Limits of one connection; each has a setting of the service and a safe default (config/http2.ts). */
export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we announce (100). */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we announce and enforce (decoded size). */
  readonly maxHeaderListSize: number;
  /** SETTINGS_MAX_FRAME_SIZE we announce (16384 … 16777215). */
  readonly maxFrameSize: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE we announce: a stream's receive window. */
  readonly initialWindowSize: number;
  /** The connection's receive window (raised with a WINDOW_UPDATE on stream 0 after the preface). */
  readonly connectionWindowSize: number;
  /** SETTINGS_HEADER_TABLE_SIZE we announce (4096). */
  readonly headerTableSize: number;
}

/**
 * What the session tells its carrier (connection.ts). Called synchronously
 * from `H2Session.feed` and from the submit methods; a handler must not call
 * `feed` re-entrantly.
 */
export interface H2Handler {
  /** Bytes for the socket, in order (frames the session made). */
  write(bytes: Uint8Array): void;
  /**
   * A request's HEADERS (with its CONTINUATIONs) arrived and decoded; the
   * session has checked the HTTP/2 framing rules (pseudo-header order and
   * uniqueness, lowercase names, no connection-specific fields) only as far
   * as RFC 9113 §8 makes them stream or connection errors it must send
   * itself; translate.ts checks the rest. `endStream`: no body follows.
   */
  onRequest(streamId: number, fields: HeaderList, endStream: boolean): void;
  /**
   * DATA for an open stream (padding removed; `data` may be empty with
   * `endStream`). The session has counted it against both receive windows:
   * the carrier calls `consumed(streamId, n)` once the bytes are passed on,
   * which opens the windows again (this is the request body's backpressure).
   */
  onStreamData(streamId: number, data: Uint8Array, endStream: boolean): void;
  /** Trailers (a HEADERS with END_STREAM after the request head). */
  onTrailers(streamId: number, fields: HeaderList): void;
  /** The stream ended without completing: the client reset it, or the session did (a stream error it answered with RST_STREAM). */
  onStreamReset(streamId: number, code: H2Error): void;
  /** A send window opened (a stream's, or the connection's: `streamId` 0): pending response DATA may go on. */
  onWindow(streamId: number): void;
  /** The client sent GOAWAY: streams above `lastStreamId` were never processed by it (there are none: plb does not push). */
  onGoaway(lastStreamId: number, code: H2Error): void;
  /** A connection error: the session has written its GOAWAY; the carrier flushes and closes. `reason` is for the log. */
  onConnectionError(code: H2Error, reason: string): void;
}
