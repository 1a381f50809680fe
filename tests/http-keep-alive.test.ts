import { expect, test } from "bun:test";
import { parseResponseHead } from "../src/http/head.ts";
import { announcedIdleMs } from "../src/http/keep-alive.ts";
import { DEFAULT_LIMITS, type ResponseHead } from "../src/http/types.ts";

function head(fields: string): ResponseHead {
  const r = parseResponseHead(new TextEncoder().encode(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${fields}\r\n`), DEFAULT_LIMITS, 0, "GET");
  if (r.kind !== "done") throw new Error(`bad head: ${JSON.stringify(r)}`);
  return r.head;
}

test("Keep-Alive: timeout=N gives 3/4 of N seconds in ms", () => {
  expect(announcedIdleMs(head("Keep-Alive: timeout=5\r\n"))).toBe(3750);
  expect(announcedIdleMs(head("Keep-Alive: timeout=5, max=100\r\n"))).toBe(3750); // Apache
  expect(announcedIdleMs(head("keep-alive: max=99, timeout=1\r\n"))).toBe(750);
  expect(announcedIdleMs(head('Keep-Alive: timeout="2"\r\n'))).toBe(1500);
  expect(announcedIdleMs(head("Keep-Alive: TIMEOUT = 0\r\n"))).toBe(0);
});

test("no Keep-Alive field, or one without a timeout, announces nothing", () => {
  expect(announcedIdleMs(head(""))).toBeUndefined();
  expect(announcedIdleMs(head("Keep-Alive: max=5\r\n"))).toBeUndefined();
  expect(announcedIdleMs(head("Keep-Alive: xtimeout=5\r\n"))).toBeUndefined();
  expect(announcedIdleMs(head("X-Keep-Alive: timeout=5\r\n"))).toBeUndefined();
  expect(announcedIdleMs(head("Keep-Alive: timeout=abc\r\n"))).toBeUndefined();
});
