/**
 * The exchange's HTTP/1 response, as it streams to an HTTP/2 stream (pure):
 * heads (1xx interim ones, then the final one) become header lists, the
 * body its data (chunked framing removed) and the chunked trailers a
 * trailing HEADERS. The exchange's response reader has already checked and
 * edited the server's head (hop-by-hop fields dropped, the route's
 * response_headers applied), so a head here is always whole; it is parsed
 * again with plb's strict parser, the one definition of HTTP/1 framing.
 */
import { appendBytes } from "../../net/bytes.ts";
import { parseResponseHead } from "../head.ts";
import type { HeadLimits } from "../types.ts";
import { Dechunker } from "./dechunk.ts";
import { h2ResponseFields } from "./response-fields.ts";
import type { HeaderList } from "./types.ts";

/** Where the pieces of the response go (the stream). */
export interface ResponseSink {
  /** A head: interim (1xx, `end` false) or final (`end`: no body follows). */
  head(fields: HeaderList, end: boolean): void;
  /** Body bytes; `end`: the response is complete with them. */
  body(data: Uint8Array, end: boolean): void;
  /** The trailers, which end the response. */
  trailersOut(fields: HeaderList): void;
}

const enum State {
  Head,
  Length,
  Chunked,
  Close,
  Done,
}

const EMPTY = new Uint8Array(0);

export class H2ResponseOut {
  private state = State.Head;
  private buf: Uint8Array | undefined;
  private scanFrom = 0;
  private remaining = 0;
  private dechunker: Dechunker | undefined;

  constructor(
    private readonly method: string,
    private readonly limits: HeadLimits,
  ) {}

  /** The response is complete. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** Response bytes in order; an error text when they are not a response (nothing more is sent then). */
  feed(chunk: Uint8Array, sink: ResponseSink): string | undefined {
    let data = chunk;
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case State.Head: {
          const held = this.buf;
          const buf = held === undefined ? (at === 0 ? data : data.subarray(at)) : appendBytes(held, data.subarray(at));
          const r = parseResponseHead(buf, this.limits, this.scanFrom, this.method);
          if (r.kind === "more") {
            this.buf = buf;
            this.scanFrom = r.scanFrom;
            return undefined;
          }
          this.buf = undefined;
          this.scanFrom = 0;
          if (r.kind === "error") return `${r.reason} (byte ${r.pos})`;
          const head = r.head;
          data = buf;
          at = r.consumed;
          if (head.tunnel) return `${head.status} has no HTTP/2 form`;
          const fields = h2ResponseFields(head, buf);
          if (head.status < 200) {
            sink.head(fields, false);
            continue;
          }
          const b = head.body;
          if (b.kind === "none" || (b.kind === "length" && b.length === 0)) {
            this.state = State.Done;
            sink.head(fields, true);
            return undefined;
          }
          sink.head(fields, false);
          if (b.kind === "length") {
            this.remaining = b.length;
            this.state = State.Length;
          } else if (b.kind === "chunked") {
            this.dechunker = new Dechunker();
            this.state = State.Chunked;
          } else this.state = State.Close;
          continue;
        }
        case State.Length: {
          const n = Math.min(this.remaining, data.length - at);
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.Done;
          sink.body(at === 0 && n === data.length ? data : data.subarray(at, at + n), this.remaining === 0);
          at += n;
          continue;
        }
        case State.Chunked: {
          const r = this.dechunker!.feed(data, at, data.length);
          if (r.kind === "error") return `${r.reason} (byte ${r.pos})`;
          at += r.consumed;
          const spans = r.data;
          const last = r.kind === "done";
          const trailers = last && r.trailers !== undefined && r.trailers.length > 0 ? r.trailers : undefined;
          if (last) this.state = State.Done;
          for (let i = 0; i < spans.length; i++) sink.body(spans[i], last && trailers === undefined && i === spans.length - 1);
          if (trailers !== undefined) sink.trailersOut(trailers);
          else if (last && spans.length === 0) sink.body(EMPTY, true);
          continue;
        }
        case State.Close:
          sink.body(at === 0 ? data : data.subarray(at), false);
          return undefined;
        case State.Done:
          return undefined; // bytes past the response: the exchange does not reuse that server connection
      }
    }
    return undefined;
  }
}
