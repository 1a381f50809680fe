import { expect, test } from "bun:test";
import { headBound, LineEncoder, textBound } from "../src/access-log/line.ts";

function encode(fn: (out: LineEncoder) => void, size = 256): string {
  const out = new LineEncoder(new Uint8Array(size));
  fn(out);
  return Buffer.from(out.buf.buffer, 0, out.pos).toString("latin1");
}

/** The escaping spelled out the slow way (the oracle): bytes of a latin1 string, \xHH for `"`, `\`, controls and > 0x7e. */
function oracle(s: string): string {
  let r = "";
  for (const b of Buffer.from(s, "latin1"))
    r += b < 0x20 || b > 0x7e || b === 0x22 || b === 0x5c ? `\\x${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b);
  return r;
}

test("integers: negative, zero, one digit, many digits, rounded; zero-padded", () => {
  expect(encode((o) => [-1, 0, 7, 10, 99, 100, 1234567890123, 2.5, 0.4].forEach((n) => (o.int(n), o.byte(0x20))))).toBe("-1 0 7 10 99 100 1234567890123 3 0 ");
  expect(encode((o) => (o.padded(42, 3), o.padded(0, 2), o.padded(999, 3)))).toBe("04200999");
});

test("escaped writes a head's latin1 bytes as nginx does; a char above 0xff as its escaped UTF-8 bytes", () => {
  expect(encode((o) => o.escaped('a"b\\c\x01\x7f\xe9~ '))).toBe("a\\x22b\\x5Cc\\x01\\x7F\\xE9~ ");
  expect(encode((o) => o.escaped("a\\b\x01é"))).toBe("a\\x5Cb\\x01\\xE9");
  expect(encode((o) => o.escaped("€😀"))).toBe("\\xE2\\x82\\xAC\\xF0\\x9F\\x98\\x80");
  expect(encode((o) => o.escapedOrDash(""))).toBe("-");
});

test("text writes UTF-8 (names from the configuration)", () => {
  const out = new LineEncoder(new Uint8Array(64));
  out.text("café-€😀");
  expect(Buffer.from(out.buf.buffer, 0, out.pos).toString("utf8")).toBe("café-€😀");
});

test("random latin1 strings: escaped agrees with the oracle and stays within headBound", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    const s = Array.from({ length: Math.floor(rnd() * 40) }, () => String.fromCharCode(Math.floor(rnd() * 256))).join("");
    const got = encode((o) => o.escaped(s), headBound(s) + 1);
    expect(got).toBe(oracle(s));
    expect(got.length).toBeLessThanOrEqual(headBound(s));
    expect(textBound(s)).toBeGreaterThanOrEqual(headBound(s));
  }
});
