/**
 * The session's flood defenses: every limit in one place, each a counter
 * kept by the session; going over one ends the connection with GOAWAY
 * ENHANCE_YOUR_CALM. Pure: time comes in as an argument (ms).
 *
 * - Rapid reset (CVE-2023-44487): streams the client opens and resets before
 *   their response completed, and streams the session itself had to reset
 *   for the client's faults, are "premature resets". Two bounds, as the
 *   fixes of 2023 did: a token bucket (nghttp2 1.57: a burst of 1000 and
 *   33 per second) and a ratio to completed streams (Envoy's
 *   premature-reset check: once RESET_RATIO_MIN streams were reset, more
 *   resets than completed streams ends the connection).
 * - CONTINUATION flood (the 2024 "CONTINUATION flood" reports): a header
 *   block may span at most MAX_CONTINUATIONS frames and
 *   BLOCK_FACTOR × SETTINGS_MAX_HEADER_LIST_SIZE octets (at least
 *   MIN_BLOCK_BYTES) before END_HEADERS.
 * - SETTINGS / PING floods (CVE-2019-9512, 9515): acknowledgements written
 *   while the carrier has not flushed its output; the carrier calls
 *   `H2Session.flushed()` whenever its queue is empty again.
 * - Empty DATA frames without END_STREAM (CVE-2019-9518): a bucket.
 * - WINDOW_UPDATE frames: a bucket, refilled by every DATA frame we send
 *   (a client acknowledging what it read is not a flood).
 */

export const RESET_BURST = 1000;
export const RESET_PER_SECOND = 33;
export const RESET_RATIO_MIN = 100;
export const MAX_CONTINUATIONS = 128;
export const BLOCK_FACTOR = 4;
export const MIN_BLOCK_BYTES = 65536;
export const MAX_UNFLUSHED_ACKS = 1000;
export const EMPTY_DATA_BURST = 100;
export const EMPTY_DATA_PER_SECOND = 10;
export const WINDOW_UPDATE_BURST = 1000;
export const WINDOW_UPDATE_PER_SECOND = 100;
/** Tokens a DATA frame we send gives the WINDOW_UPDATE bucket. */
export const WINDOW_UPDATES_PER_DATA = 2;

/** A token bucket: `take` is false once more was taken than the burst plus what the rate refilled. */
export class Bucket {
  private tokens: number;
  private last = NaN;
  constructor(readonly burst: number, readonly perSecond: number) {
    this.tokens = burst;
  }
  take(now: number): boolean {
    if (this.last === this.last && now > this.last) this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0;
  }
  give(n: number): void {
    this.tokens = Math.min(this.burst, this.tokens + n);
  }
}

/** The session's counters; each check answers a reason to end the connection, or undefined. */
export class FloodGuard {
  // Each bucket is made at the first frame of its kind: an idle connection holds none (a bucket starts full, so one not made yet is a full one).
  private resets: Bucket | undefined;
  private prematureResets = 0;
  private completed = 0;
  private emptyData: Bucket | undefined;
  private windowUpdates: Bucket | undefined;
  /** Acks written since the carrier last said its output was flushed. */
  unflushedAcks = 0;

  /** A stream ended before its response completed (client RST_STREAM, or our RST_STREAM for the client's fault). */
  prematureReset(now: number): string | undefined {
    this.prematureResets++;
    if (!(this.resets ??= new Bucket(RESET_BURST, RESET_PER_SECOND)).take(now)) return `more than ${RESET_BURST} stream resets at over ${RESET_PER_SECOND}/s (rapid reset)`;
    if (this.prematureResets >= RESET_RATIO_MIN && this.prematureResets > this.completed)
      return `${this.prematureResets} streams reset, only ${this.completed} completed (rapid reset)`;
    return undefined;
  }

  streamCompleted(): void {
    this.completed++;
  }

  /** The most header block octets before END_HEADERS for a max header list size. */
  static maxBlockBytes(maxHeaderListSize: number): number {
    return Math.max(MIN_BLOCK_BYTES, BLOCK_FACTOR * maxHeaderListSize);
  }

  headerBlock(frames: number, bytes: number, maxHeaderListSize: number): string | undefined {
    if (frames > MAX_CONTINUATIONS + 1) return `header block in more than ${MAX_CONTINUATIONS} CONTINUATION frames`;
    const max = FloodGuard.maxBlockBytes(maxHeaderListSize);
    if (bytes > max) return `header block over ${max} octets before END_HEADERS`;
    return undefined;
  }

  ackWritten(): string | undefined {
    return ++this.unflushedAcks > MAX_UNFLUSHED_ACKS ? `more than ${MAX_UNFLUSHED_ACKS} SETTINGS/PING acknowledgements unread by the client` : undefined;
  }

  emptyDataFrame(now: number): string | undefined {
    return (this.emptyData ??= new Bucket(EMPTY_DATA_BURST, EMPTY_DATA_PER_SECOND)).take(now) ? undefined : `more than ${EMPTY_DATA_BURST} empty DATA frames at over ${EMPTY_DATA_PER_SECOND}/s`;
  }

  windowUpdate(now: number): string | undefined {
    return (this.windowUpdates ??= new Bucket(WINDOW_UPDATE_BURST, WINDOW_UPDATE_PER_SECOND)).take(now) ? undefined : `more than ${WINDOW_UPDATE_BURST} WINDOW_UPDATE frames beyond the DATA sent`;
  }

  dataFramesSent(n: number): void {
    this.windowUpdates?.give(n * WINDOW_UPDATES_PER_DATA); // none yet: still full
  }
}
