/**
 * What plb decides about a client's SMTP command while it speaks for the
 * service (STARTTLS at plb, starttls.ts): pure functions over strings and
 * bytes, no I/O.
 *
 * - `takeLine`: the next command line of the bytes received (CRLF, or a bare
 *   LF as Postfix also accepts), bounded in length.
 * - `decide`: what to do with one command (RFC 3207): answer it, forward it
 *   to the server and wait for the one reply, start TLS, or stop looking and
 *   relay from there on.
 * - `rewriteEhlo`: the server's EHLO reply as the client must see it: the
 *   server's own STARTTLS line removed, plb's added while the client side is
 *   still plain, a well-formed multi-line reply ("250-" then "250 ").
 */

/** Longest command line plb reads (RFC 5321 §4.5.3.1.4 says 512 with CRLF; Postfix reads 2048). */
export const MAX_COMMAND_LINE = 2048;

export type LineResult =
  | { readonly kind: "line"; readonly line: string; readonly end: number }
  | { readonly kind: "more" }
  | { readonly kind: "too-long" };

const LF = 10;
const CR = 13;

/**
 * The first line of `buf` (latin1, without its CRLF or LF) and the offset
 * after it; "more" when no line end came yet; "too-long" when `max` bytes
 * arrived without one.
 */
export function takeLine(buf: Uint8Array, max = MAX_COMMAND_LINE): LineResult {
  const lf = buf.indexOf(LF);
  if (lf < 0) return buf.length >= max ? { kind: "too-long" } : { kind: "more" };
  if (lf + 1 > max) return { kind: "too-long" };
  const stop = lf > 0 && buf[lf - 1] === CR ? lf - 1 : lf;
  let line = "";
  for (let i = 0; i < stop; i++) line += String.fromCharCode(buf[i]);
  return { kind: "line", line, end: lf + 1 };
}

/**
 * "mail FROM:<a@b>" → { verb: "MAIL", args: "FROM:<a@b>" }. Words are
 * separated by SP or HT only; any other byte (a CR inside the line, NUL,
 * 8-bit) belongs to a word.
 */
export function splitCommand(line: string): { verb: string; args: string } {
  const m = COMMAND.exec(line)!;
  return { verb: m[1].toUpperCase(), args: m[2] };
}

/** Matches every string (dotAll): leading blanks, the verb, blanks, the arguments, trailing blanks. */
const COMMAND = /^[ \t]*([^ \t]*)[ \t]*(.*?)[ \t]*$/s;

/** Where the session stands for `decide`. */
export interface CommandState {
  /** The client side is TLS already. */
  readonly tls: boolean;
  /** require_tls = true: nothing but the commands RFC 3207 §4 allows before STARTTLS. */
  readonly requireTls: boolean;
}

export type Decision =
  /** Answer the client with this reply (CRLF added) and go on with the next command. */
  | { readonly kind: "reply"; readonly reply: string }
  /** Send the line to the server and relay its one reply (`ehlo`: rewritten by `rewriteEhlo`). */
  | { readonly kind: "forward"; readonly ehlo: boolean }
  /** Answer 220 and start TLS; whatever the client sent after the line is discarded. */
  | { readonly kind: "starttls" }
  /** Send this line and everything after it to the server, and relay bytes both ways from now on. */
  | { readonly kind: "relay" };

export const READY_FOR_TLS = "220 2.0.0 Ready to start TLS";
export const MUST_STARTTLS = "530 5.7.0 Must issue a STARTTLS command first";
export const STARTTLS_SYNTAX = "501 5.5.4 Syntax: STARTTLS";
export const TLS_ALREADY = "503 5.5.1 Error: TLS already active";
export const LINE_TOO_LONG = "500 5.5.6 Error: command line too long";

/**
 * Commands answered by the server with exactly one reply and that change
 * nothing plb must follow: plb forwards them one at a time and keeps
 * reading commands. Anything else (MAIL, RCPT, DATA, BDAT, AUTH, QUIT,
 * unknown verbs) ends plb's part: from there bytes are relayed as they are.
 */
const ONE_REPLY = new Set(["EHLO", "HELO", "NOOP", "RSET", "HELP", "VRFY", "EXPN"]);

/** RFC 3207 §4: before STARTTLS, a server that requires TLS answers 530 to all but these (HELO and RSET too, as Postfix). */
const BEFORE_TLS = new Set(["EHLO", "HELO", "NOOP", "RSET", "QUIT", "STARTTLS"]);

/** What plb does with the command `line` (without its CRLF). */
export function decide(line: string, s: CommandState): Decision {
  const { verb, args } = splitCommand(line);
  if (verb === "STARTTLS") {
    if (s.tls) return { kind: "reply", reply: TLS_ALREADY };
    if (args !== "") return { kind: "reply", reply: STARTTLS_SYNTAX };
    return { kind: "starttls" };
  }
  if (s.requireTls && !s.tls && !BEFORE_TLS.has(verb)) return { kind: "reply", reply: MUST_STARTTLS };
  if (ONE_REPLY.has(verb)) return { kind: "forward", ehlo: verb === "EHLO" };
  return { kind: "relay" };
}

const STARTTLS_LINE = /^STARTTLS[ \t]*$/i;

/**
 * The server's complete EHLO reply `raw` (bytes as received, CRLF line
 * ends) as the client gets it: a non-250 reply unchanged; otherwise the
 * lines naming STARTTLS removed and, with `offer`, one STARTTLS line added
 * last. Bytes other than the line prefixes are kept as they are.
 */
export function rewriteEhlo(raw: Uint8Array, offer: boolean): Uint8Array {
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1");
  if (!text.startsWith("250")) return raw;
  const lines = text.split("\r\n");
  if (lines[lines.length - 1] === "") lines.pop();
  // The text of each line after "250-" / "250 " / "250".
  const texts = lines.map((l) => l.slice(4));
  const kept = [texts[0], ...texts.slice(1).filter((t) => !STARTTLS_LINE.test(t))];
  if (offer) kept.push("STARTTLS");
  const out = kept.map((t, i) => `250${i === kept.length - 1 ? " " : "-"}${t}\r\n`).join("");
  return Buffer.from(out, "latin1");
}
