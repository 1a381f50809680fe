/**
 * The field lines plb adds to forwarded heads (src/http/serialize.ts
 * fieldLines): input "name=value" lines (UTF-8, one pair a line). A
 * TypeError exactly when a name is not a token or a value holds anything but
 * field content (VCHAR, obs-text, SP, HTAB; no character above U+00FF),
 * else the exact bytes "Name: value\r\n" for each pair, and a head they are
 * added to by serializeRequestHead is that head's bytes with them before the
 * final CRLF, which parses (or is rejected) without a throw.
 */
import { parseRequestHead } from "../../src/http/head.ts";
import { fieldLines, serializeRequestHead } from "../../src/http/serialize.ts";
import { type Behaviour, ensure, same, show, type Target } from "../driver.ts";
import { between, chance, latin1, pick, type Rng } from "../rng.ts";

const NAMES = ["X-Forwarded-For", "Forwarded", "Via", "X-Real-IP", "Connection", "x!#$%&'*+-.^_`|~9", "", "Bad Name", "a:b", "ñ", "X\tY", "Content-Length", "Host"];
const VALUES = ["for=192.0.2.1;proto=http", "", "10.0.0.1, 10.0.0.2", " lead", "trail\t", "caf\xe9", "\u0100", "a\rb", "a\0b", "\x7f", "\t", "1.1 plb", "close"];
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CONTENT = /^[\t\x20-\x7e\x80-\xff]*$/;
const UTF8 = new TextDecoder();
const ENC = new TextEncoder();
const BASE = latin1("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
const BASE_HEAD = (() => {
  const r = parseRequestHead(BASE);
  if (r.kind !== "done") throw new Error("base head");
  return r.head;
})();

function pairsOf(input: Uint8Array): [string, string][] {
  return UTF8.decode(input).split("\n").map((l) => {
    const eq = l.indexOf("=");
    return eq < 0 ? [l, ""] : [l.slice(0, eq), l.slice(eq + 1)];
  });
}

function checkLines(input: Uint8Array): Behaviour {
  const pairs = pairsOf(input);
  const valid = pairs.every(([n, v]) => TOKEN.test(n) && CONTENT.test(v));
  let lines: Uint8Array;
  try {
    lines = fieldLines(pairs);
  } catch (e) {
    ensure(e instanceof TypeError, () => `fieldLines threw ${String(e)}`);
    ensure(!valid, () => `fieldLines rejects ${show(pairs)}: ${String(e)}`);
    return { kind: "TypeError" };
  }
  ensure(valid, () => `fieldLines accepts ${show(pairs)}`);
  const want = latin1(pairs.map(([n, v]) => `${n}: ${v}\r\n`).join(""));
  ensure(same(new Uint8Array(lines), want), () => `fieldLines wrote ${show(Buffer.from(lines).toString("latin1"))}`);
  const out = serializeRequestHead(BASE, BASE_HEAD, { lines: [lines as ReturnType<typeof fieldLines>] });
  ensure(same(out, latin1(`GET / HTTP/1.1\r\nHost: a\r\n${Buffer.from(want).toString("latin1")}\r\n`)), "serialized head");
  const r = parseRequestHead(out);
  ensure(r.kind === "done" || r.kind === "error", "the head with the added lines is incomplete");
  return { kind: "written" };
}

function generate(r: Rng): Uint8Array {
  const n = between(r, 1, 4);
  const lines = Array.from({ length: n }, () => `${pick(r, NAMES)}=${pick(r, VALUES)}${chance(r, 0.2) ? pick(r, VALUES) : ""}`);
  return ENC.encode(lines.join("\n"));
}

export const httpFieldLines: Target = {
  name: "http-field-lines",
  generate,
  dict: ["=", "\n", ":", " ", "\t", "\r", "\0", "\xff", "ā", "-"],
  binary: false,
  maxLen: 4096,
  check: checkLines,
  run: (input) => {
    try {
      return fieldLines(pairsOf(input));
    } catch {
      return undefined;
    }
  },
};
