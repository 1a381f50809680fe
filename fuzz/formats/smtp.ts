/**
 * SMTP replies (RFC 5321 §4.2) for src/smtp/reply.ts: generated multi-line
 * and pipelined replies (UTF-8 and 8-bit text, RFC 3463 codes), checked
 * whole against byte-at-a-time and random pieces, against `referenceReply`
 * (the grammar over lines, written without the parser's code), and through
 * `ReplyReader` fed in pieces (the replies it hands out are the stream cut
 * where parseReply cuts it).
 */
import { parseReply, ReplyReader, type ReplyResult } from "../../src/smtp/reply.ts";
import { type Behaviour, ensure, same, show, type Target, view } from "../driver.ts";
import { between, chance, concat, hashBytes, latin1, pick, type Rng, text } from "../rng.ts";
import { cutsFor } from "./http.ts";

const CODES = ["220", "250", "250", "354", "221", "421", "450", "451", "500", "550", "554", "599", "200", "334"];
const TEXTS = ["mx.example.com ESMTP Postfix", "OK", "", "2.0.0 Ok: queued as 4F1", "4.3.2 Service not available", "5.7.1 Relaying denied", "PIPELINING", "SIZE 10240000",
  "8BITMIME", "Grüße aus Köln", "caf\xe9", "tab\there", "Start mail input; end with <CRLF>.<CRLF>", "2.1.5", "5.5.5 x", "   "];

const utf8 = new TextEncoder();
const UTF8 = new TextDecoder("utf-8");

function reply(r: Rng): Uint8Array {
  const code = pick(r, CODES);
  const n = chance(r, 0.6) ? 1 : between(r, 2, 6);
  const parts: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const t = pick(r, TEXTS);
    const enc = /[^\x00-\xff]|ü|ö/.test(t) ? utf8.encode(t) : latin1(t);
    const last = k === n - 1;
    if (last && t === "" && chance(r, 0.5)) parts.push(latin1(`${code}\r\n`));
    else parts.push(concat(latin1(`${code}${last ? " " : "-"}`), enc, latin1("\r\n")));
  }
  return concat(...parts);
}

function replies(r: Rng): Uint8Array {
  const parts = [reply(r)];
  while (chance(r, 0.25)) parts.push(reply(r));
  return concat(...parts);
}

const TEXT_CHARS = "[\\t\\x20-\\x7e\\x80-\\xff]";
const LINE = new RegExp(`^([2-5]\\d\\d)(?:([ -])(${TEXT_CHARS}*))?$`);
const PARTIAL = new RegExp(`^(?:[2-5](?:\\d(?:\\d(?:[ -]${TEXT_CHARS}*)?\\r?)?)?)?$`);
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/;

type Ref = { kind: "more" } | { kind: "error" } | { kind: "done"; consumed: number; code: number; lines: string[]; enhanced?: string };

/** The reply grammar over lines, with the limits as reply.ts documents them (a line's bytes with CRLF ≤ maxLine, the reply's ≤ maxReply). */
export function referenceReply(b: Uint8Array, maxLine: number, maxReply: number): Ref {
  const s = text(b);
  let at = 0;
  let code: string | undefined;
  const lines: string[] = [];
  for (;;) {
    const e = s.indexOf("\r\n", at);
    const line = e < 0 ? s.slice(at) : s.slice(at, e);
    if (e < 0) {
      if (!PARTIAL.test(line) || (code !== undefined && !code.startsWith(line.slice(0, 3)))) return { kind: "error" };
      return line.length > maxLine || s.length > maxReply ? { kind: "error" } : { kind: "more" };
    }
    const m = LINE.exec(line);
    if (m === null || (code !== undefined && m[1] !== code) || e + 2 - at > maxLine || e + 2 > maxReply) return { kind: "error" };
    code ??= m[1];
    lines.push(m[3] === undefined ? "" : UTF8.decode(b.subarray(at + 4, e)));
    at = e + 2;
    if (m[2] !== "-") {
      const out: Ref = { kind: "done", consumed: at, code: Number(code), lines };
      const x = ENHANCED.exec(lines[0]);
      if (x !== null && x[1] === code[0]) out.enhanced = `${x[1]}.${x[2]}.${x[3]}`;
      return out;
    }
  }
}

function fed(input: Uint8Array, maxLine: number, maxReply: number): ReplyResult {
  let scanFrom = 0;
  let r: ReplyResult = { kind: "more", scanFrom: 0 };
  for (const cut of cutsFor(input)) {
    r = parseReply(input.subarray(0, cut), scanFrom, maxLine, maxReply);
    if (r.kind !== "more") return r;
    ensure(r.scanFrom >= scanFrom && r.scanFrom <= cut, "scanFrom went backwards or past the input");
    scanFrom = r.scanFrom;
  }
  return r;
}

function checkReply(input: Uint8Array): Behaviour {
  const small = hashBytes(input) % 5 === 0;
  const maxLine = small ? 32 : 1000, maxReply = small ? 128 : 65536;
  const whole = parseReply(input, 0, maxLine, maxReply);
  ensure(same(parseReply(view(input).view, 0, maxLine, maxReply), whole), "a view at an offset parses differently");
  if (input.length > 0) {
    const split = fed(input, maxLine, maxReply);
    ensure(same(split, whole), () => `split feeding gives ${show(split)}, whole ${show(whole)}`);
  }
  if (whole.kind === "error") ensure(whole.pos >= 0 && whole.pos < input.length && whole.reason !== "", () => `error offset ${whole.pos} of ${input.length}`);
  if (whole.kind === "more") ensure(whole.scanFrom === input.length, "scanFrom");
  if (whole.kind === "done") {
    ensure(whole.consumed <= input.length && whole.code >= 200 && whole.code <= 599 && whole.lines.length >= 1, "done result out of range");
    ensure(whole.lines.length === text(input.subarray(0, whole.consumed)).split("\r\n").length - 1, "one line per CRLF");
  }
  const ref = referenceReply(input, maxLine, maxReply);
  if (ref.kind !== "done" || whole.kind !== "done") ensure(ref.kind === whole.kind, () => `plb says ${whole.kind}${whole.kind === "error" ? ` (${whole.reason})` : ""}, the reference ${ref.kind}`);
  else ensure(same({ ...whole }, ref), () => `plb ${show(whole)}, the reference ${show(ref)}`);

  // The reader, fed in pieces: its replies are parseReply's, one after the other.
  const reader = new ReplyReader(maxLine, maxReply);
  const got: unknown[] = [];
  let last = 0;
  for (const cut of cutsFor(input)) {
    reader.push(input.subarray(last, cut));
    last = cut;
    for (let x = reader.next(); x.kind !== "more"; x = reader.next()) {
      got.push(x.kind === "error" ? x : { ...x, raw: text(x.raw) });
      if (x.kind === "error") break;
    }
    if (got.length > 0 && (got[got.length - 1] as { kind: string }).kind === "error") break;
  }
  const want: unknown[] = [];
  for (let at = 0; at < input.length; ) {
    const x = parseReply(input.subarray(at), 0, maxLine, maxReply);
    if (x.kind === "more") break;
    if (x.kind === "error") {
      want.push({ kind: "error", pos: at + x.pos, reason: x.reason });
      break;
    }
    want.push({ ...x, raw: text(input.subarray(at, at + x.consumed)) });
    at += x.consumed;
  }
  ensure(same(got, want), () => `reader ${show(got)}, parseReply ${show(want)}`);
  return whole.kind === "error" ? { kind: "error", reason: whole.reason } : { kind: whole.kind };
}

export const smtpReply: Target = {
  name: "smtp-reply",
  generate: replies,
  dict: ["\r\n", "250-", "250 ", "220 ", "199 ", "600 ", "2.0.0 ", "5.7.1", "\xc3\xbc", "\xff", "\x7f", "\0"],
  binary: false,
  maxLen: 1 << 17,
  check: checkReply,
  run: (input) => parseReply(input),
};

