/**
 * Validates a chunked message body (RFC 9112 §7.1) as it streams through:
 * the proxy forwards the bytes verbatim, the scanner only checks them and
 * finds where the body ends. State lives in a few number fields, so buffers
 * may split anywhere (inside a size, a CRLF, an extension, a trailer) and
 * nothing is allocated per byte; chunk data is skipped without being read.
 *
 * Strict where the grammar is: 1-16 hex digits (value up to 2^53-1) and no
 * sign, prefix or whitespace before them; whitespace after the size only as
 * BWS before ";" (so "5 \r\n" is rejected) and around "=" in an extension;
 * extension names are tokens, values tokens or quoted strings, and a chunk
 * line's extensions are limited (1 KiB by default); CRLF after every size
 * line and chunk data, never a bare LF or CR; trailer fields follow the head's
 * field rules (no obs-fold, no whitespace before the colon, no controls),
 * may not be Content-Length, Transfer-Encoding or Host (a server merging
 * them into the head would reframe or reroute), and are limited in bytes and
 * count (431). Every other error is a 400; all are 502 for a response body.
 */
import { type ChunkResult, FVAL, type ParseError, step, TCHAR } from "./types.ts";

const CR = 13, LF = 10, SP = 32, HT = 9;

const enum S {
  SizeStart, // no digit yet
  Size, // digits
  ExtWs, // BWS after the size or a value: only more of it or ";"
  ExtNamePre, // after ";": BWS, then a name
  ExtName,
  ExtAfterName, // BWS after a name: "=" or ";"
  ExtValPre, // after "=": BWS, then a token or a quoted string
  ExtValToken,
  ExtQuoted,
  ExtQuotedPair,
  ExtQuoteEnd, // just after the closing quote
  SizeLf, // after the size line's CR
  Data,
  DataCr,
  DataLf,
  TrStart, // start of a trailer line (or of the final CRLF)
  TrName,
  TrValue,
  TrLineLf,
  TrEndLf,
  Done,
  Failed,
}

export interface ChunkedOptions {
  /** Bytes allowed after the size on one chunk line (extensions with their BWS); default 1024. */
  maxExtension?: number;
  /** Bytes allowed in the trailer section, final CRLF included; default 16384. */
  maxTrailerBytes?: number;
  /** Trailer fields allowed; default 100. */
  maxTrailers?: number;
  /** Scanning a response body: every error is a 502. */
  response?: boolean;
  /** Told where the chunk data and the trailer section are, as they are scanned (h2/dechunk.ts); none on the HTTP/1 path. */
  sink?: ChunkSink;
}

/**
 * Spans of the buffer given to `scan`, in order, each only after its bytes
 * were checked: chunk data (without size lines and CRLFs), and the trailer
 * section's bytes (field lines and the final CRLF), possibly split over
 * calls.
 */
export interface ChunkSink {
  data(buf: Uint8Array, start: number, end: number): void;
  trailer(buf: Uint8Array, start: number, end: number): void;
}

/** Trailer fields that would change framing or routing if a server merged them into the head (matched by length and hash, "_" read as "-"). */
const FORBIDDEN = ["content-length", "transfer-encoding", "host"].map((n) => n.length * 2 ** 32 + (hashOf(n) >>> 0));
function hashOf(n: string): number {
  let h = 0;
  for (let i = 0; i < n.length; i++) h = step(h, n.charCodeAt(i));
  return h;
}

const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const hexValue = (c: number) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);

export class ChunkedScanner {
  private state = S.SizeStart;
  private digits = 0;
  /** The chunk size while reading it, then the data bytes still to skip. */
  private size = 0;
  private ext = 0;
  private trailerBytes = 0;
  private trailers = 0;
  private nameHash = 0;
  private nameLen = 0;
  /** Body bytes scanned so far (over every call). */
  scanned = 0;
  private readonly maxExtension: number;
  private readonly maxTrailerBytes: number;
  private readonly maxTrailers: number;
  private readonly bad: number;
  private readonly large: number;
  private readonly sink: ChunkSink | undefined;

  constructor(opts: ChunkedOptions = {}) {
    this.sink = opts.sink;
    this.maxExtension = opts.maxExtension ?? 1024;
    this.maxTrailerBytes = opts.maxTrailerBytes ?? 16384;
    this.maxTrailers = opts.maxTrailers ?? 100;
    this.bad = opts.response ? 502 : 400;
    this.large = opts.response ? 502 : 431;
  }

  /** Has the whole body (last chunk and trailer section) been seen? */
  get done(): boolean {
    return this.state === S.Done;
  }

  /** Ready for the next body on the same connection. */
  reset(): void {
    this.state = S.SizeStart;
    this.digits = this.size = this.ext = this.trailerBytes = this.trailers = this.scanned = 0;
  }

  private fail(pos: number, reason: string, status = this.bad): ParseError {
    this.state = S.Failed;
    return { kind: "error", pos, reason, status };
  }

  /**
   * Scan buf[start, end): "more" (every byte belongs to the body), "done"
   * (the body ends at start + consumed) or "error" (pos is an offset in buf).
   */
  scan(buf: Uint8Array, start: number, end: number): ChunkResult {
    if (this.state >= S.Done)
      return { kind: "error", pos: start, reason: this.state === S.Done ? "chunked body already complete" : "chunked body already rejected", status: this.bad };
    let i = start;
    let st = this.state;
    // Where this call's trailer bytes start (for the sink), or -1.
    let tr = st >= S.TrStart && st <= S.TrEndLf ? start : -1;
    while (i < end) {
      if (st === S.Data) {
        const n = Math.min(this.size, end - i);
        if (this.sink !== undefined && n > 0) this.sink.data(buf, i, i + n);
        this.size -= n;
        i += n;
        if (this.size === 0) st = S.DataCr;
        continue;
      }
      const c = buf[i];
      if (st >= S.ExtWs && st <= S.ExtQuoteEnd && ++this.ext > this.maxExtension) return this.fail(i, "chunk extensions too long");
      if (st >= S.TrStart && st <= S.TrEndLf && ++this.trailerBytes > this.maxTrailerBytes)
        return this.fail(i, "trailer section too large", this.large);
      switch (st) {
        case S.SizeStart:
        case S.Size:
          if (isHex(c)) {
            this.size = this.size * 16 + hexValue(c);
            if (++this.digits > 16 || this.size > Number.MAX_SAFE_INTEGER) return this.fail(i, "chunk size too large");
            st = S.Size;
          } else if (st === S.SizeStart) {
            return this.fail(i, c === SP || c === HT ? "whitespace before chunk size" : c === CR ? "empty chunk size" : this.what(c, "invalid chunk size"));
          } else if (c === CR) st = S.SizeLf;
          else if (c === 0x3b) st = S.ExtNamePre, this.ext = 1;
          else if (c === SP || c === HT) st = S.ExtWs, this.ext = 1;
          else return this.fail(i, this.what(c, "invalid character in chunk size"));
          break;
        case S.ExtWs:
          if (c === 0x3b) st = S.ExtNamePre;
          else if (c !== SP && c !== HT) return this.fail(i, c === CR ? "whitespace at the end of a chunk line" : this.what(c, "invalid chunk extension"));
          break;
        case S.ExtNamePre:
        case S.ExtName:
          if (TCHAR[c] === 1) st = S.ExtName;
          else if (st === S.ExtNamePre && (c === SP || c === HT)) break;
          else if (st === S.ExtNamePre) return this.fail(i, this.what(c, "invalid chunk extension name"));
          else if (c === CR) st = S.SizeLf;
          else if (c === 0x3b) st = S.ExtNamePre;
          else if (c === 0x3d) st = S.ExtValPre;
          else if (c === SP || c === HT) st = S.ExtAfterName;
          else return this.fail(i, this.what(c, "invalid chunk extension name"));
          break;
        case S.ExtAfterName:
          if (c === 0x3d) st = S.ExtValPre;
          else if (c === 0x3b) st = S.ExtNamePre;
          else if (c !== SP && c !== HT) return this.fail(i, this.what(c, "invalid chunk extension"));
          break;
        case S.ExtValPre:
          if (TCHAR[c] === 1) st = S.ExtValToken;
          else if (c === 0x22) st = S.ExtQuoted;
          else if (c !== SP && c !== HT) return this.fail(i, this.what(c, "invalid chunk extension value"));
          break;
        case S.ExtValToken:
        case S.ExtQuoteEnd:
          if (c === CR) st = S.SizeLf;
          else if (c === 0x3b) st = S.ExtNamePre;
          else if (c === SP || c === HT) st = S.ExtWs;
          else if (st === S.ExtQuoteEnd || TCHAR[c] === 0) return this.fail(i, this.what(c, "invalid chunk extension value"));
          break;
        case S.ExtQuoted:
          if (c === 0x22) st = S.ExtQuoteEnd;
          else if (c === 0x5c) st = S.ExtQuotedPair;
          else if (FVAL[c] === 0) return this.fail(i, this.what(c, "invalid character in chunk extension"));
          break;
        case S.ExtQuotedPair:
          if (FVAL[c] === 0) return this.fail(i, this.what(c, "invalid character in chunk extension"));
          st = S.ExtQuoted;
          break;
        case S.SizeLf:
          if (c !== LF) return this.fail(i, "bare CR after chunk size");
          if (this.size === 0) st = S.TrStart, tr = i + 1;
          else st = S.Data;
          this.digits = this.ext = 0;
          break;
        case S.DataCr:
          if (c !== CR) return this.fail(i, "missing CRLF after chunk data");
          st = S.DataLf;
          break;
        case S.DataLf:
          if (c !== LF) return this.fail(i, "missing CRLF after chunk data (bare CR)");
          st = S.SizeStart;
          break;
        case S.TrStart:
          if (c === CR) st = S.TrEndLf;
          else if (TCHAR[c] === 1) {
            if (++this.trailers > this.maxTrailers) return this.fail(i, "too many trailer fields", this.large);
            this.nameHash = step(0, c === 0x5f ? 0x2d : c);
            this.nameLen = 1;
            st = S.TrName;
          } else return this.fail(i, c === SP || c === HT ? "obsolete line folding in trailer" : c === 0x3a ? "empty trailer field name" : this.what(c, "invalid trailer field name"));
          break;
        case S.TrName:
          if (TCHAR[c] === 1) {
            this.nameHash = step(this.nameHash, c === 0x5f ? 0x2d : c);
            this.nameLen++;
          } else if (c === 0x3a) {
            if (FORBIDDEN.includes(this.nameLen * 2 ** 32 + (this.nameHash >>> 0))) return this.fail(i, "framing or routing field in trailers");
            st = S.TrValue;
          } else
            return this.fail(i, c === SP || c === HT ? "whitespace between trailer field name and colon" : c === CR ? "trailer line without a colon" : this.what(c, "invalid trailer field name"));
          break;
        case S.TrValue:
          if (c === CR) st = S.TrLineLf;
          else if (FVAL[c] === 0) return this.fail(i, c === 0 ? "NUL in trailer field value" : this.what(c, "control character in trailer field value"));
          break;
        case S.TrLineLf:
          if (c !== LF) return this.fail(i, "bare CR in trailer field value");
          st = S.TrStart;
          break;
        case S.TrEndLf:
          if (c !== LF) return this.fail(i, "bare CR after trailer section");
          if (this.sink !== undefined) this.sink.trailer(buf, tr, i + 1);
          this.state = S.Done;
          this.scanned += i + 1 - start;
          return { kind: "done", consumed: i + 1 - start };
      }
      i++;
    }
    this.state = st;
    if (this.sink !== undefined && tr >= 0 && tr < end) this.sink.trailer(buf, tr, end);
    this.scanned += end - start;
    return { kind: "more", consumed: end - start };
  }

  private what(c: number, otherwise: string): string {
    return c === LF ? "bare LF in chunked body" : otherwise;
  }
}
