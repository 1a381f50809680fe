/**
 * Where a message body ends, as its bytes go by: a pure tracker over the
 * framing the head announced (Content-Length countdown, chunked scanner, or
 * until the connection closes). The proxy forwards body bytes verbatim; this
 * only says how many of the bytes given belong to the body.
 */
import { ChunkedScanner } from "./chunked.ts";
import type { ParseError, RequestBody, ResponseBody } from "./types.ts";

export type BodyStep = { kind: "more" | "done"; consumed: number } | ParseError;

export class BodyTracker {
  /** Content-Length bytes still expected. */
  private remaining: number;
  private readonly scanner: ChunkedScanner | undefined;
  /** Body bytes seen so far. */
  seen = 0;
  done: boolean;

  constructor(
    readonly body: RequestBody | ResponseBody,
    response: boolean,
    /** Request bodies larger than this are refused (413); Infinity for none. */
    private readonly maxBody = Infinity,
  ) {
    this.remaining = body.kind === "length" ? body.length : 0;
    this.scanner = body.kind === "chunked" ? new ChunkedScanner({ response }) : undefined;
    this.done = body.kind === "none" || (body.kind === "length" && body.length === 0);
  }

  /** The body ends when the connection closes (response without framing). */
  get untilClose(): boolean {
    return this.body.kind === "close";
  }

  /** How many bytes of `buf[start..end)` belong to the body. */
  take(buf: Uint8Array, start: number, end: number): BodyStep {
    if (this.done) return { kind: "done", consumed: 0 };
    const avail = end - start;
    let step: BodyStep;
    if (this.body.kind === "length") {
      const n = Math.min(avail, this.remaining);
      this.remaining -= n;
      step = { kind: this.remaining === 0 ? "done" : "more", consumed: n };
    } else if (this.scanner !== undefined) {
      step = this.scanner.scan(buf, start, end);
    } else {
      step = { kind: "more", consumed: avail }; // close-delimited
    }
    if (step.kind === "error") return step;
    this.seen += step.consumed;
    if (this.seen > this.maxBody) {
      return { kind: "error", pos: start, reason: `body larger than max_body (${this.maxBody} bytes)`, status: 413 };
    }
    if (step.kind === "done") this.done = true;
    return step;
  }
}
