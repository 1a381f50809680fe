/**
 * Write queues: Bun keeps no buffer of its own, so every socket that plb
 * writes to carries a queue of what the kernel did not take yet. Shared by
 * the tcp pipe and the http exchange; the caller decides whom to pause when
 * a write is queued (the socket it read the bytes from).
 */
import { now } from "./clock.ts";
import type { Sock } from "./types.ts";

/**
 * The empty queue every writer starts with: a real array is made only when
 * a write is short (most connections never have one), keeping idle
 * connections small. Never pushed to: `send` replaces it.
 */
export const NO_QUEUE: Uint8Array[] = Object.freeze([]) as unknown as Uint8Array[];

/** A socket with its queue and the coarse time of its last accepted write. */
export interface QueuedWriter {
  socket: Sock;
  queue: Uint8Array[];
  last: number;
}

/** What a write did: all taken, the rest queued (pause the source), or the socket is gone. */
export const SENT = 1;
export const QUEUED = 0;
export const LOST = -1;
export type SendResult = typeof SENT | typeof QUEUED | typeof LOST;

/** Write `buf` after anything already queued. */
export function send(w: QueuedWriter, buf: Uint8Array): SendResult {
  if (w.queue.length > 0) {
    w.queue.push(buf);
    return QUEUED;
  }
  const n = w.socket.write(buf);
  if (n === buf.length) {
    w.last = now();
    return SENT;
  }
  if (n < 0) return LOST;
  if (n > 0) w.last = now();
  w.queue = [n === 0 ? buf : buf.subarray(n)];
  return QUEUED;
}

/** On `drain`: write what is queued. SENT when the queue is empty again. */
export function flush(w: QueuedWriter): SendResult {
  const q = w.queue;
  while (q.length > 0) {
    const buf = q[0];
    const n = w.socket.write(buf);
    if (n < 0) return LOST;
    if (n > 0) w.last = now();
    if (n < buf.length) {
      q[0] = buf.subarray(n);
      return QUEUED;
    }
    q.shift();
  }
  w.queue = NO_QUEUE;
  return SENT;
}
