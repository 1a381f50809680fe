/**
 * A raw TCP HTTP client for malformed-input tests: writes bytes exactly as
 * given and reads the responses as they come (strict-http.ts's response
 * reader), noting whether and when the server closed the connection.
 */
import type { Socket } from "bun";
import { type ClientResponse, parseClientResponse } from "./strict-http.ts";

const bytes = (d: string | Uint8Array) => (typeof d === "string" ? Uint8Array.from(d, (c) => c.charCodeAt(0)) : d);

export class RawClient {
  private sock: Socket<RawClient> | undefined;
  private buf = new Uint8Array(4096);
  private len = 0;
  private parsed = 0;
  private wake: (() => void) | undefined;
  readonly responses: ClientResponse[] = [];
  /** The server closed (or reset) the connection. */
  closed = false;
  /** Unparseable bytes from the server. */
  error: string | undefined;
  /** Indexes of responses that have no body whatever their fields say (answers to HEAD). */
  readonly noBody = new Set<number>();

  static async open(port: number, host = "127.0.0.1"): Promise<RawClient> {
    const c = new RawClient();
    c.sock = await Bun.connect<RawClient>({
      hostname: host,
      port,
      data: c,
      socket: {
        data(s, chunk) {
          s.data.received(chunk);
        },
        close(s) {
          s.data.ended();
        },
        end(s) {
          s.data.ended();
        },
        error(s) {
          s.data.ended();
        },
        connectError(s) {
          s.data.ended();
        },
      },
    });
    return c;
  }

  /** Everything received, as latin1 text. */
  get text(): string {
    let s = "";
    for (let i = 0; i < this.len; i++) s += String.fromCharCode(this.buf[i]);
    return s;
  }

  get bytesReceived(): number {
    return this.len;
  }

  private received(chunk: Uint8Array): void {
    if (this.len + chunk.length > this.buf.length) {
      const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + chunk.length));
      b.set(this.buf.subarray(0, this.len));
      this.buf = b;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
    this.parse();
    this.wake?.();
  }

  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.parse();
    this.wake?.();
  }

  private parse(): void {
    const view = this.buf.subarray(0, this.len);
    while (this.error === undefined && this.parsed < this.len) {
      const r = parseClientResponse(view, this.parsed, this.noBody.has(this.responses.length), this.closed);
      if (r.kind === "more") return;
      if (r.kind === "error") {
        this.error = r.reason;
        return;
      }
      this.responses.push(r.response);
      this.parsed += r.response.length;
    }
  }

  /** Bytes received after the last complete response. */
  get leftover(): number {
    return this.len - this.parsed;
  }

  write(d: string | Uint8Array): void {
    if (this.closed || !this.sock) return;
    const b = bytes(d);
    const n = this.sock.write(b);
    if (n < b.length) throw new Error(`short client write (${n} of ${b.length}): use smaller writes`);
  }

  /** Half-close: send FIN, keep reading. */
  end(): void {
    this.sock?.shutdown();
  }

  /** Close with a reset. */
  terminate(): void {
    this.sock?.terminate();
    this.closed = true;
  }

  close(): void {
    this.sock?.end();
  }

  /** Resolves true once `done()` holds (checked on every event), false after `ms`. */
  async until(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return true;
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return done();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.wake = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
      this.wake = undefined;
      if (done()) return true;
    }
  }
}
