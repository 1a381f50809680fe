/**
 * Receive flow control (RFC 9113 §6.9), pure: what the client may still
 * send on the connection and on each stream, and the WINDOW_UPDATEs that
 * open the windows again as the carrier consumes DATA, batched (one once
 * half a window was given back, not one per DATA frame).
 *
 * Until the client acknowledges our SETTINGS it may assume the default
 * stream window (65535): streams opened before the ack start with it and
 * move by the difference when the ack comes (§6.9.2).
 */
import { windowUpdateFrame } from "./frames.ts";
import { DEFAULT_WINDOW } from "./settings.ts";
import { remoteOpen, type H2Stream } from "./streams.ts";

export class ReceiveWindows {
  /** What the client may still send on the connection. */
  connection = DEFAULT_WINDOW;
  /** Given back, not yet sent in a WINDOW_UPDATE. */
  private connUnacked = 0;
  private acked = false;

  /** `out.write` takes the WINDOW_UPDATE frames (an object, not a closure: nothing more per connection). */
  constructor(private readonly ourInitial: number, private readonly connectionSize: number, private readonly out: { write(b: Uint8Array): void }) {}

  /** After our SETTINGS: raise the connection window to its size (one WINDOW_UPDATE when above the default). */
  open(): void {
    const extra = this.connectionSize - DEFAULT_WINDOW;
    if (extra <= 0) return;
    this.out.write(windowUpdateFrame(0, extra));
    this.connection += extra;
  }

  /** A new stream's receive window. */
  get streamInitial(): number {
    return this.acked ? this.ourInitial : DEFAULT_WINDOW;
  }

  /** Our SETTINGS were acknowledged: open streams' windows move by the difference. */
  settingsAcked(open: Iterable<H2Stream>): void {
    if (this.acked) return;
    this.acked = true;
    for (const s of open) s.recvWindow += this.ourInitial - DEFAULT_WINDOW;
  }

  /** Counts `n` octets of DATA against the connection; false when they are over its window. */
  charge(n: number): boolean {
    if (n > this.connection) return false;
    this.connection -= n;
    return true;
  }

  /** `n` octets of `s` are done with: both windows open again (the stream's only while the client may still send on it). */
  giveBack(s: H2Stream, n: number): void {
    this.giveBackConnection(n);
    if (!remoteOpen(s.state) || n <= 0) return;
    s.unacked += n;
    if (s.unacked >= this.streamInitial / 2) {
      this.out.write(windowUpdateFrame(s.id, s.unacked));
      s.recvWindow += s.unacked;
      s.unacked = 0;
    }
  }

  /** `n` octets done with that no stream will take (padding, DATA on closed streams, a closed stream's unconsumed DATA). */
  giveBackConnection(n: number): void {
    if (n <= 0) return;
    this.connUnacked += n;
    if (this.connUnacked >= Math.max(this.connectionSize, DEFAULT_WINDOW) / 2) {
      this.out.write(windowUpdateFrame(0, this.connUnacked));
      this.connection += this.connUnacked;
      this.connUnacked = 0;
    }
  }
}
