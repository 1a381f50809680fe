/**
 * Writes a log line's bytes straight into a buffer: no string per line, no
 * garbage per request (a log line per request made a few hundred bytes of
 * short-lived strings, and under a CPU quota the collector's threads count).
 *
 * `text` writes UTF-8 (names from the TOML file, addresses). `escaped`
 * writes what came from an http head byte for byte (the head is decoded as
 * latin1, one char per byte), escaped as nginx does; a char above 0xff is
 * escaped as its UTF-8 bytes. `headBound`/`textBound` give the most bytes
 * a string can take, for the caller's room check.
 */

/** Most bytes a string from an http head (latin1) takes, escaped as \xHH. */
export const headBound = (s: string) => s.length * 4;
/** Most bytes any string takes, escaped (UTF-8 bytes as \xHH: a BMP character is 12). */
export const textBound = (s: string) => s.length * 12;

const HEX = "0123456789ABCDEF";
const BACKSLASH = 0x5c;
const QUOTE = 0x22;

export class LineEncoder {
  constructor(
    public buf: Uint8Array,
    public pos = 0,
  ) {}

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  /** `s` as UTF-8, unescaped (names from the configuration, addresses, fixed words). */
  text(s: string): void {
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) buf[p++] = c;
      else p = this.utf8(s, i, p, false), i += isHighSurrogateAt(s, i) ? 1 : 0;
    }
    this.pos = p;
  }

  /** nginx's escaping of a logged variable: `"`, `\`, control bytes and bytes above 0x7e as \xHH. */
  escaped(s: string): void {
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c <= 0x7e && c !== QUOTE && c !== BACKSLASH) buf[p++] = c;
      else if (c < 0x100) p = hex(buf, p, c);
      else p = this.utf8(s, i, p, true), i += isHighSurrogateAt(s, i) ? 1 : 0;
    }
    this.pos = p;
  }

  /** "-" for an empty value (nginx's way), else escaped. */
  escapedOrDash(s: string): void {
    if (s === "") this.byte(0x2d);
    else this.escaped(s);
  }

  /** An integer (rounded), e.g. -1, 0, 1234. */
  int(n: number): void {
    let v = Math.round(n);
    if (v < 0) {
      this.byte(0x2d);
      v = -v;
    }
    if (v < 10) {
      this.byte(0x30 + v);
      return;
    }
    if (!(v < 1e15)) {
      this.text(String(v));
      return;
    }
    const buf = this.buf;
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = Math.floor(v / 10);
      buf[--p] = 0x30 + (v - q * 10);
      v = q;
    } while (v > 0);
  }

  /** `n` zero-padded to `width` digits (n ≥ 0, fewer digits than width+1). */
  padded(n: number, width: number): void {
    const buf = this.buf;
    let p = this.pos + width;
    this.pos = p;
    for (let i = 0; i < width; i++) {
      const q = Math.floor(n / 10);
      buf[--p] = 0x30 + (n - q * 10);
      n = q;
    }
  }

  /** The code point at `s[i]` (not ASCII) as UTF-8 bytes, escaped or not; returns the new position. */
  private utf8(s: string, i: number, p: number, escape: boolean): number {
    const cp = s.codePointAt(i)!;
    const bytes =
      cp < 0x800 ? [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
      : cp < 0x10000 ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
      : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
    for (const b of bytes) p = escape ? hex(this.buf, p, b) : ((this.buf[p] = b), p + 1);
    return p;
  }
}

function hex(buf: Uint8Array, p: number, c: number): number {
  buf[p] = BACKSLASH;
  buf[p + 1] = 0x78; // x
  buf[p + 2] = HEX.charCodeAt(c >> 4);
  buf[p + 3] = HEX.charCodeAt(c & 15);
  return p + 4;
}

function isHighSurrogateAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < s.length;
}
