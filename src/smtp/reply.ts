/**
 * Strict, incremental SMTP reply parser (RFC 5321 §4.2): a pure function
 * over the bytes received so far, in the style of src/http/ (results "more",
 * "error" with the offset of the offending byte, "done" with the bytes
 * consumed), and `ReplyReader`, which accumulates chunks and hands out the
 * replies one after another (a pipelining server answers several commands
 * in one segment).
 *
 *   reply = *( code "-" [text] CRLF ) code [ SP [text] ] CRLF
 *
 * Decisions (each one tested in tests/smtp-reply.test.ts):
 * - Codes are three digits from 200 to 599. 1xx is rejected: RFC 5321
 *   §4.2.1 defines no command that could get one, and a 1xx where a greeting
 *   should be means the peer is not an SMTP server. The second and third
 *   digits are not restricted further (the grammar's %x30-35 for the second
 *   one is not worth failing a server for).
 * - Every line of a multi-line reply carries the first line's code; another
 *   code is an error (the reply would be ambiguous).
 * - After the code: "-" (more lines follow), SP (last line) or CRLF (last
 *   line without text, "250\r\n"). "250 \r\n" and "250-\r\n" give "".
 * - Lines end with CRLF only. A bare LF or bare CR is rejected as soon as it
 *   arrives: real servers (Postfix, Exim, Sendmail, Exchange) send CRLF, and
 *   a peer that does not is better failed over than guessed at.
 * - Text: HT, SP, printable ASCII, and bytes 0x80-0xFF (RFC 6531 servers
 *   send UTF-8; older ones send 8-bit text); decoded as UTF-8, invalid
 *   sequences replaced. NUL, other controls and DEL are rejected.
 * - `maxLine` counts a line's bytes including its CRLF (RFC 5321
 *   §4.5.3.1.5 sets 512 the same way; the default 1000 is lenient). A line
 *   is rejected at its (maxLine + 1)th byte, before any CRLF arrives.
 *   `maxReply` bounds the whole reply (an endless "250-" stream would grow
 *   the buffer forever).
 * - `enhanced` is set when the first line's text starts with an RFC 3463
 *   status code (class "." subject "." detail, then SP or the end) whose
 *   class is the reply code's first digit ("421 4.3.2 ..."). The code stays
 *   in `lines`: they are the text exactly as received.
 *
 * Cost: bytes are checked once, in position order (so input fed whole and
 * input fed one byte at a time give the same result, the same error offsets
 * included); "more" says where to resume. Strings are made once, at "done".
 */

export interface ReplyMore {
  kind: "more";
  /** Pass back as `scanFrom` with the grown buffer: bytes before it are not checked again. */
  scanFrom: number;
}

export interface ReplyError {
  kind: "error";
  /** Offset of the offending byte in the buffer passed in. */
  pos: number;
  reason: string;
}

/** One complete reply. */
export interface Reply {
  /** 200-599. */
  code: number;
  /** Text of each line after the code and its separator, without CRLF (at least one entry). */
  lines: string[];
  /** RFC 3463 enhanced status code that starts the first line's text ("2.0.0"), if any. */
  enhanced?: string;
}

export interface ReplyDone extends Reply {
  kind: "done";
  /** Bytes of the reply from the buffer's first byte, its last CRLF included. */
  consumed: number;
}

export type ReplyResult = ReplyMore | ReplyError | ReplyDone;

export const DEFAULT_MAX_LINE = 1000;
export const DEFAULT_MAX_REPLY = 65536;

const CR = 13, LF = 10, SP = 32, HT = 9, DASH = 0x2d, D0 = 0x30, D9 = 0x39;

/** Bytes allowed in reply text: HT, SP..~, 0x80..0xFF. */
const TEXT = new Uint8Array(256);
for (let c = 0; c < 256; c++) TEXT[c] = Number(c === HT || (c >= SP && c < 0x7f) || c >= 0x80);

const UTF8 = new TextDecoder("utf-8");
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/;

const fail = (pos: number, reason: string): ReplyError => ({ kind: "error", pos, reason });

/**
 * Parse the reply at the start of `buf`. `scanFrom` is the value of the
 * previous "more" for a shorter prefix of the same bytes (0 the first time).
 */
export function parseReply(buf: Uint8Array, scanFrom = 0, maxLine = DEFAULT_MAX_LINE, maxReply = DEFAULT_MAX_REPLY): ReplyResult {
  const len = buf.length;
  let i = scanFrom;
  // Start of the current line: after the last LF before i (every LF before scanFrom ended a checked line).
  let ls = i === 0 ? 0 : buf.lastIndexOf(LF, i - 1) + 1;
  let cr = i > ls && buf[i - 1] === CR;
  for (; i < len; i++) {
    const c = buf[i];
    const col = i - ls;
    if (i >= maxReply) return fail(i, `reply longer than ${maxReply} bytes`);
    if (col >= maxLine) return fail(i, `reply line longer than ${maxLine} bytes`);
    if (cr) {
      if (c !== LF) return fail(i, "bare CR in reply (lines must end with CRLF)");
      cr = false;
      if (buf[ls + 3] !== DASH) return done(buf, i + 1);
      ls = i + 1;
      continue;
    }
    if (c === LF) return fail(i, "bare LF in reply (lines must end with CRLF)");
    if (col < 3) {
      if (c < D0 || c > D9) {
        if (ls === 0 && col === 0) return fail(i, "not an SMTP reply (no reply code)");
        return fail(i, c === CR ? "reply line shorter than its code" : "invalid reply code");
      }
      if (ls === 0) {
        if (col === 0 && (c < 0x32 || c > 0x35))
          return fail(i, c === 0x31 ? "1xx reply codes are not used in SMTP" : "reply code out of range 200-599");
      } else if (c !== buf[col]) return fail(i, "different reply codes in one multi-line reply");
    } else if (col === 3) {
      if (c === CR) cr = true;
      else if (c !== SP && c !== DASH) return fail(i, "expected SP, \"-\" or CRLF after the reply code");
    } else if (c === CR) cr = true;
    else if (TEXT[c] === 0) return fail(i, c === 0 ? "NUL in reply" : "control character in reply text");
  }
  return { kind: "more", scanFrom: len };
}

/** The result for a reply checked to be well-formed in buf[0, end). */
function done(buf: Uint8Array, end: number): ReplyDone {
  const code = (buf[0] - D0) * 100 + (buf[1] - D0) * 10 + (buf[2] - D0);
  const lines: string[] = [];
  for (let s = 0; s < end; ) {
    const lf = buf.indexOf(LF, s);
    const from = buf[s + 3] === CR ? s + 3 : s + 4;
    lines.push(from >= lf - 1 ? "" : UTF8.decode(buf.subarray(from, lf - 1)));
    s = lf + 1;
  }
  const r: ReplyDone = { kind: "done", consumed: end, code, lines };
  const m = ENHANCED.exec(lines[0]);
  if (m !== null && m[1].charCodeAt(0) === buf[0]) r.enhanced = `${m[1]}.${m[2]}.${m[3]}`;
  return r;
}

/** A complete reply from `ReplyReader`, with its bytes exactly as received (to relay verbatim). */
export interface ReaderReply extends ReplyDone {
  raw: Uint8Array;
}

export type ReaderResult = { kind: "more" } | ReplyError | ReaderReply;

const MORE: { kind: "more" } = Object.freeze({ kind: "more" }) as { kind: "more" };

/**
 * Accumulates the bytes a server sends and hands out its replies in order:
 * `push` each chunk received, then call `next` until it answers "more".
 * Bytes are kept in one growing buffer and checked once (the parser resumes
 * at its `scanFrom`), so a reply arriving one byte at a time costs O(n).
 * After an error every `next` answers the same error; its `pos` counts from
 * the first byte ever pushed.
 */
export class ReplyReader {
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;
  private scanFrom = 0;
  /** Stream offset of buf[start]. */
  private offset = 0;
  private failed: ReplyError | undefined;

  constructor(
    private readonly maxLine = DEFAULT_MAX_LINE,
    private readonly maxReply = DEFAULT_MAX_REPLY,
  ) {}

  /** Bytes received and not yet handed out as a reply. */
  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.end + n > this.buf.length) {
      const live = this.end - this.start;
      if (live + n <= this.buf.length >> 1) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const grown = new Uint8Array(Math.max(256, 2 * (live + n)));
        grown.set(this.buf.subarray(this.start, this.end));
        this.buf = grown;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += n;
  }

  /** The next complete reply, "more" until one is complete, or the error that stops the stream. */
  next(): ReaderResult {
    if (this.failed !== undefined) return this.failed;
    if (this.start === this.end) return MORE;
    const view = this.buf.subarray(this.start, this.end);
    const r = parseReply(view, this.scanFrom, this.maxLine, this.maxReply);
    if (r.kind === "more") {
      this.scanFrom = r.scanFrom;
      return MORE;
    }
    if (r.kind === "error") return (this.failed = { kind: "error", pos: this.offset + r.pos, reason: r.reason });
    this.start += r.consumed;
    this.offset += r.consumed;
    this.scanFrom = 0;
    return { ...r, raw: view.slice(0, r.consumed) };
  }

  /** Remove and return the bytes not yet handed out (e.g. to relay the stream raw after the greeting). */
  take(): Uint8Array {
    const out = this.buf.slice(this.start, this.end);
    this.offset += out.length;
    this.start = this.end = this.scanFrom = 0;
    return out;
  }
}
