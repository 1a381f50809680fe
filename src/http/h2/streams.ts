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

/**
 * A ring of the last CLOSED_MEMORY closed streams: bounded memory whatever
 * the client does. One Float64Array of (id, time, how) triples, grown on
 * demand up to CLOSED_MEMORY slots (a connection that served one stream
 * holds 4 slots, 96 octets, and no Map). `recent` scans it newest first:
 * at most CLOSED_MEMORY compares, and only for frames on streams that are
 * not open (the rare path).
 */
const EMPTY_F64 = new Float64Array(0);
const FIELDS = 3;

export class ClosedStreams {
  private slots = EMPTY_F64;
  private next = 0;
  private count = 0;

  record(id: number, how: ClosedHow, now: number): void {
    const n = this.slots.length / FIELDS;
    if (this.next === n && n < CLOSED_MEMORY) this.grow(n);
    const at = this.next * FIELDS;
    this.slots[at] = id;
    this.slots[at + 1] = now;
    this.slots[at + 2] = how;
    this.next = (this.next + 1) % CLOSED_MEMORY;
    if (this.count < CLOSED_MEMORY) this.count++;
  }

  private grow(n: number): void {
    const slots = new Float64Array(Math.min(CLOSED_MEMORY, Math.max(4, n * 2)) * FIELDS);
    slots.set(this.slots);
    this.slots = slots;
  }

  /** How `id` closed, if it closed recently; undefined when never seen or forgotten. */
  recent(id: number, now: number): ClosedHow | undefined {
    const n = this.slots.length / FIELDS;
    for (let k = 1; k <= this.count; k++) {
      const at = ((this.next - k + n) % n) * FIELDS;
      if (this.slots[at] !== id) continue;
      return now - this.slots[at + 1] > CLOSED_MEMORY_MS ? undefined : (this.slots[at + 2] as ClosedHow);
    }
    return undefined;
  }

  /** Closed streams remembered. */
  get size(): number {
    return this.count;
  }
}
