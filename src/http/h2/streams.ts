/**
 * Stream states (RFC 9113 §5.1) as a table, the per-stream record the
 * session keeps, and the memory of closed streams. Pure.
 *
 * plb is the server and never pushes, so the reserved states never happen:
 * a stream goes idle → open (or half-closed (remote) when the request's
 * HEADERS ends the stream) → half-closed → closed, or to closed at once by
 * a RST_STREAM either way.
 *
 * Closed streams are remembered (bounded: the last CLOSED_MEMORY of them,
 * for at most CLOSED_MEMORY_MS) with how they closed, so that a frame the
 * client sent before it saw our RST_STREAM is ignored (§5.1 "closed": the
 * peer may have frames in flight), while one on a stream that ended
 * normally, or long ago, is the error RFC 9113 names.
 */

export const enum StreamState {
  Idle,
  Open,
  HalfClosedLocal,
  HalfClosedRemote,
  Closed,
}

export const enum StreamEvent {
  /** The request's HEADERS without END_STREAM. */
  RecvHeaders,
  /** The request's HEADERS with END_STREAM. */
  RecvHeadersEnd,
  /** END_STREAM on DATA or trailers. */
  RecvEnd,
  /** We sent END_STREAM. */
  SendEnd,
  /** RST_STREAM, sent or received. */
  Reset,
}

const X = -1; // not allowed
/** NEXT[state][event]: the state after `event`, or X. */
const NEXT: readonly (readonly number[])[] = [
  /* Idle             */ [StreamState.Open, StreamState.HalfClosedRemote, X, X, StreamState.Closed],
  /* Open             */ [X, X, StreamState.HalfClosedRemote, StreamState.HalfClosedLocal, StreamState.Closed],
  /* HalfClosedLocal  */ [X, X, StreamState.Closed, X, StreamState.Closed],
  /* HalfClosedRemote */ [X, X, X, StreamState.Closed, StreamState.Closed],
  /* Closed           */ [X, X, X, X, X],
];

/** The state after `event` in `state`, or undefined when RFC 9113 does not allow it. */
export function transition(state: StreamState, event: StreamEvent): StreamState | undefined {
  const n = NEXT[state][event];
  return n === X ? undefined : (n as StreamState);
}

/** Can the client still send on it (DATA, trailers)? */
export const remoteOpen = (s: StreamState): boolean => s === StreamState.Open || s === StreamState.HalfClosedLocal;
/** Can we still send on it (HEADERS, DATA, trailers)? */
export const localOpen = (s: StreamState): boolean => s === StreamState.Open || s === StreamState.HalfClosedRemote;

/** One stream the session tracks, from its request HEADERS until it is closed. */
export class H2Stream {
  state: StreamState;
  /** What we may still send (may go negative after a SETTINGS_INITIAL_WINDOW_SIZE decrease). */
  sendWindow: number;
  /** What the client may still send. */
  recvWindow: number;
  /** Bytes passed to `onData` that the carrier has not reported `consumed` yet. */
  held = 0;
  /** Bytes consumed but not yet given back with a WINDOW_UPDATE (batched). */
  unacked = 0;
  /** The request's content-length, or -1. */
  contentLength = -1;
  /** DATA octets received (padding excluded). */
  received = 0;

  constructor(readonly id: number, state: StreamState, sendWindow: number, recvWindow: number) {
    this.state = state;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }
}

export const enum ClosedHow {
  /** Both sides ended the stream. */
  Ended,
  /** We sent RST_STREAM (frames in flight from the client are expected). */
  ResetBySelf,
  /** The client sent RST_STREAM. */
  ResetByPeer,
}

/** How many closed streams are remembered, and for how long. */
export const CLOSED_MEMORY = 256;
export const CLOSED_MEMORY_MS = 10_000;

/** A ring of the last CLOSED_MEMORY closed streams: bounded memory whatever the client does. */
const EMPTY_F64 = new Float64Array(0);
const EMPTY_U8 = new Uint8Array(0);

export class ClosedStreams {
  // Grown on demand up to CLOSED_MEMORY slots (a connection that served a few streams keeps a few bytes, not 4 KiB).
  private ids = EMPTY_F64;
  private at = EMPTY_F64;
  private how = EMPTY_U8;
  private readonly index = new Map<number, number>();
  private next = 0;

  record(id: number, how: ClosedHow, now: number): void {
    if (this.next === this.ids.length && this.ids.length < CLOSED_MEMORY) this.grow();
    const slot = this.next;
    const old = this.ids[slot];
    if (old !== 0 && this.index.get(old) === slot) this.index.delete(old);
    this.ids[slot] = id;
    this.at[slot] = now;
    this.how[slot] = how;
    this.index.set(id, slot);
    this.next = (slot + 1) % CLOSED_MEMORY;
  }

  private grow(): void {
    const n = Math.min(CLOSED_MEMORY, Math.max(4, this.ids.length * 2));
    const ids = new Float64Array(n), at = new Float64Array(n), how = new Uint8Array(n);
    ids.set(this.ids);
    at.set(this.at);
    how.set(this.how);
    this.ids = ids;
    this.at = at;
    this.how = how;
  }

  /** How `id` closed, if it closed recently; undefined when never seen or forgotten. */
  recent(id: number, now: number): ClosedHow | undefined {
    const slot = this.index.get(id);
    if (slot === undefined || now - this.at[slot] > CLOSED_MEMORY_MS) return undefined;
    return this.how[slot] as ClosedHow;
  }

  get size(): number {
    return this.index.size;
  }
}
