/** health.expect for http checks: status classes, codes and body substrings (src/http/expect.ts, pure). */
import { expect, test } from "bun:test";
import { describeStatuses, judge, statusPasses } from "../src/http/expect.ts";
import { indexOfBytes } from "../src/net/bytes.ts";

const E = (classes: number[], codes: number[], body?: string) => ({ classes, codes, body });
const bytes = (s: string) => new TextEncoder().encode(s);

test("status classes and codes", () => {
  expect(statusPasses(E([2], []), 200)).toBe(true);
  expect(statusPasses(E([2], []), 299)).toBe(true);
  expect(statusPasses(E([2], []), 300)).toBe(false);
  expect(statusPasses(E([2, 3], []), 302)).toBe(true);
  expect(statusPasses(E([], [204]), 200)).toBe(false);
  expect(statusPasses(E([], [204, 401]), 401)).toBe(true);
  expect(statusPasses(E([5], [200]), 200)).toBe(true);
  expect(statusPasses(E([5], [200]), 503)).toBe(true);
  expect(statusPasses(E([2], []), 500)).toBe(false);
});

test("described for messages", () => {
  expect(describeStatuses(E([2], []))).toBe("2xx");
  expect(describeStatuses(E([2, 3], []))).toBe("2xx or 3xx");
  expect(describeStatuses(E([2], [301, 302]))).toBe("2xx, 301 or 302");
});

test("a body substring: found, not yet (more may come), missing once complete", () => {
  const e = E([2], [], "ready");
  expect(judge(e, 200, bytes("all ready\n"), false)).toEqual({ ok: true });
  expect(judge(e, 200, bytes("all rea"), false)).toBeUndefined();
  expect(judge(e, 200, bytes("all rea"), true)).toEqual({ ok: false, reason: "body", why: 'no "ready" in the body' });
  expect(judge(e, 200, undefined, true)).toEqual({ ok: false, reason: "body", why: 'no "ready" in the body' });
  // the status is judged first
  expect(judge(e, 503, bytes("ready"), false)).toEqual({ ok: false, reason: "status", why: "expected 2xx" });
  // without a body to look for, the status alone decides
  expect(judge(E([2], []), 200, undefined, false)).toEqual({ ok: true });
  // UTF-8 is matched as bytes
  expect(judge(E([2], [], "prêt"), 200, bytes("état: prêt"), false)).toEqual({ ok: true });
});

test("indexOfBytes finds the first match, resumes from an offset, handles edges", () => {
  expect(indexOfBytes(bytes("abcabc"), bytes("bc"))).toBe(1);
  expect(indexOfBytes(bytes("abcabc"), bytes("bc"), 2)).toBe(4);
  expect(indexOfBytes(bytes("ab"), bytes("abc"))).toBe(-1);
  expect(indexOfBytes(bytes("aaab"), bytes("aab"))).toBe(1);
  expect(indexOfBytes(bytes("x"), bytes(""))).toBe(0);
  expect(indexOfBytes(bytes(""), bytes("a"))).toBe(-1);
});
