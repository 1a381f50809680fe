/**
 * Reassembly for the session (pure): socket reads into whole frames, and
 * HEADERS + CONTINUATION fragments into one header block.
 *
 * `InputQueue` keeps the bytes of an incomplete frame as a list and joins
 * them only once the frame can be whole: a client sending a frame an octet
 * at a time costs O(frame), not O(frame²) copies. It never holds more than
 * one frame (9 octets + at most our SETTINGS_MAX_FRAME_SIZE), since every
 * whole frame is read at once.
 */
import { FRAME_HEADER_LENGTH, type Priority } from "./frames.ts";

/** No bytes kept (shared: never pushed to, `take` returns before it would). */
const NONE: Uint8Array[] = [];

export class InputQueue {
  private parts = NONE;
  private length = 0;
  /** Octets the queue must hold before the frame in it can be whole. */
  private need = 0;

  /** The bytes to read now (the queued ones and `bytes`), or undefined when the frame is still incomplete (`bytes` queued). */
  take(bytes: Uint8Array): Uint8Array | undefined {
    if (this.parts.length === 0) return bytes;
    this.parts.push(bytes);
    this.length += bytes.length;
    if (this.length < this.need) return undefined;
    const all = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    this.clear();
    return all;
  }

  /** Keep `rest`, the start of a frame not yet whole. */
  keep(rest: Uint8Array): void {
    this.parts = [rest.slice()];
    this.length = rest.length;
    this.need = rest.length < FRAME_HEADER_LENGTH ? FRAME_HEADER_LENGTH : FRAME_HEADER_LENGTH + ((rest[0] << 16) | (rest[1] << 8) | rest[2]);
  }

  clear(): void {
    this.parts = NONE;
    this.length = this.need = 0;
  }
}

/** A header block being received: HEADERS without END_HEADERS, then CONTINUATIONs. */
export class HeaderBlock {
  private readonly parts: Uint8Array[];
  bytes: number;
  frames = 1;

  constructor(readonly streamId: number, readonly endStream: boolean, readonly priority: Priority | undefined, first: Uint8Array) {
    this.parts = [first];
    this.bytes = first.length;
  }

  add(fragment: Uint8Array): void {
    this.parts.push(fragment);
    this.bytes += fragment.length;
    this.frames++;
  }

  /** The whole block. */
  joined(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0];
    const whole = new Uint8Array(this.bytes);
    let at = 0;
    for (const p of this.parts) {
      whole.set(p, at);
      at += p.length;
    }
    return whole;
  }
}
