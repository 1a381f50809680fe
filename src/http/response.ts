/**
 * Reads one response from a server as its bytes arrive: interim (1xx)
 * heads, the final head, then the body by its framing. Returns what to send
 * to the client: rewritten heads (hop-by-hop fields dropped, the client's
 * connection handling added) and body bytes verbatim.
 */
import { appendBytes } from "../net/bytes.ts";
import { BodyTracker } from "./body.ts";
import { parseResponseHead } from "./head.ts";
import { type HeadEdit, NO_EDIT, withEdit } from "../routes/rewrite.ts";
import { BASE_HOP_BY_HOP, CONNECTION_CLOSE, CONNECTION_KEEP_ALIVE, CONNECTION_UPGRADE, hopByHop, serializeResponseHead } from "./serialize.ts";
import type { HeadLimits, ResponseHead } from "./types.ts";

export interface ReadOut {
  /** Bytes for the client, in order. */
  parts: Uint8Array[];
  /** Why the response is invalid (the client gets 502 if nothing was sent yet). */
  error?: string;
  /** The server sent bytes past the end of the response. */
  extra?: boolean;
  /** 101 to an upgrade request: the connection is now a tunnel; `rest` is the server's first tunnel bytes. */
  tunnel?: { rest: Uint8Array | undefined };
}

const EMPTY: Uint8Array[] = [];
const CLOSE = [CONNECTION_CLOSE];
const KEEP_ALIVE = [CONNECTION_KEEP_ALIVE];
const UPGRADE = [CONNECTION_UPGRADE];


/**
 * A final response head that can go to a persisting client byte for byte:
 * no hop-by-hop field other than `Connection: keep-alive` (which says to
 * the client what plb does anyway), so dropping them would change nothing.
 */
function passesAsIs(head: ResponseHead): boolean {
  for (const o of head.connection) if (o !== "keep-alive") return false;
  for (const f of head.fields) if (f.lower !== "connection" && BASE_HOP_BY_HOP.has(f.lower)) return false;
  return true;
}

/** The client side of a response, as the reader asks it. */
export interface ResponseClient {
  /** The client's connection ends after this response. */
  readonly closesAfterResponse: boolean;
}

export class ResponseReader {
  head: ResponseHead | undefined;
  /** Bytes of a head not complete yet. */
  private buf: Uint8Array | undefined;
  private scanFrom = 0;
  private body: BodyTracker | undefined;
  /** Something was sent to the client (a 502 is no longer possible); set by the session as it sends. */
  started = false;
  done = false;
  /** Bytes of the heads passed to the client (interim and final): the rest is body. */
  headBytes = 0;

  constructor(
    private readonly method: string,
    private readonly limits: HeadLimits,
    /** Whose connection closes after this response (then `Connection: close` is added): asked when the head comes. */
    private readonly client: ResponseClient,
    private readonly clientIs10KeepAlive: boolean,
    /** The request asked to upgrade: a 101 is allowed. */
    private readonly upgrade: boolean,
    /** What the request's route changes in the final response head (response_headers). */
    private readonly edit: HeadEdit = NO_EDIT,
  ) {}

  /** The body runs until the server closes the connection. */
  get closeDelimited(): boolean {
    return this.body?.untilClose ?? false;
  }

  feed(data: Uint8Array): ReadOut {
    const parts: Uint8Array[] = [];
    let at = 0;
    while (at < data.length && !this.done) {
      if (this.body === undefined) {
        const r = this.readHead(at === 0 ? data : data.subarray(at), parts);
        if (typeof r === "string") return { parts, error: r };
        if (r === 0) return { parts };
        at += r;
        if (this.head?.tunnel) return { parts, tunnel: { rest: at < data.length ? data.subarray(at) : undefined } };
        continue;
      }
      const step = this.body.take(data, at, data.length);
      if (step.kind === "error") return { parts, error: step.reason };
      if (step.consumed > 0) parts.push(at === 0 && step.consumed === data.length ? data : data.subarray(at, at + step.consumed));
      at += step.consumed;
      if (step.kind === "done") this.done = true;
    }
    return at < data.length ? { parts, extra: true } : { parts: parts.length ? parts : EMPTY };
  }

  /** The server closed a close-delimited body: it is complete. */
  finishByClose(): void {
    this.done = true;
  }

  /** Consume a head from `chunk`; bytes used, 0 for "need more", or an error. */
  private readHead(chunk: Uint8Array, parts: Uint8Array[]): number | string {
    const held = this.buf?.length ?? 0;
    const buf = appendBytes(this.buf, chunk);
    const r = parseResponseHead(buf, this.limits, this.scanFrom, this.method);
    if (r.kind === "more") {
      this.buf = buf;
      this.scanFrom = r.scanFrom;
      return 0;
    }
    this.buf = undefined;
    this.scanFrom = 0;
    if (r.kind === "error") return `${r.reason} (byte ${r.pos})`;
    const head = r.head;
    if (head.tunnel) {
      if (!this.upgrade || head.status !== 101) return `unexpected ${head.status} (no protocol switch was asked for)`;
      const hop = new Set(hopByHop(head));
      hop.delete("upgrade");
      parts.push(serializeResponseHead(buf, head, { drop: (l) => hop.has(l), lines: UPGRADE }));
      this.headBytes += parts[parts.length - 1].length;
      this.head = head;
      this.done = true;
      return r.consumed - held;
    }
    if (head.status < 200) {
      const hop = hopByHop(head);
      parts.push(serializeResponseHead(buf, head, { drop: (l) => hop.has(l) }));
      this.headBytes += parts[parts.length - 1].length;
      return r.consumed - held;
    }
    this.head = head;
    const lines =
      this.client.closesAfterResponse || head.body.kind === "close"
        ? CLOSE
        : // The client's connection persists: say so where HTTP/1.0 would mean close
          // (a 1.0 client, or a 1.0 status line from the server).
          this.clientIs10KeepAlive || head.versionMinor === 0
          ? KEEP_ALIVE
          : undefined;
    const body = (this.body = new BodyTracker(head.body, true));
    // The body bytes that came with the head go in the head's buffer (one write, no view of the read).
    let tail = 0;
    if (!body.done && r.consumed < buf.length) {
      const step = body.take(buf, r.consumed, buf.length);
      if (step.kind === "error") return step.reason;
      tail = step.consumed;
    }
    if (body.done) this.done = true;
    if (lines === undefined && this.edit === NO_EDIT && held === 0 && r.consumed + tail === buf.length && passesAsIs(head)) {
      // Nothing to change in the head (most responses): the read goes to the client as it came.
      parts.push(buf);
      this.headBytes += r.consumed;
    } else {
      const hop = hopByHop(head);
      const opts = { drop: (l: string) => hop.has(l), lines, tailStart: r.consumed, tailEnd: r.consumed + tail };
      const out = serializeResponseHead(buf, head, withEdit(opts, this.edit));
      parts.push(out);
      this.headBytes += out.length - tail;
    }
    return r.consumed - held + tail;
  }
}
