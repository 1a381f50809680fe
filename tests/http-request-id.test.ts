/** src/http/request-id.ts: the client's X-Request-Id, or a new one plb adds. */
import { expect, test } from "bun:test";
import { parseRequestHead } from "../src/http/head.ts";
import { newRequestId, requestIdLine, requestIdOf } from "../src/http/request-id.ts";

const head = (s: string) => {
  const r = parseRequestHead(new TextEncoder().encode(s));
  if (r.kind !== "done") throw new Error(JSON.stringify(r));
  return r.head;
};

test("the client's first non-empty X-Request-Id is kept", () => {
  expect(requestIdOf(head("GET / HTTP/1.1\r\nHost: h\r\nx-request-id: \r\nX-Request-Id:  abc-1 \r\nX-Request-Id: two\r\n\r\n"))).toBe("abc-1");
  expect(requestIdOf(head("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))).toBeUndefined();
});

test("new ids are distinct v4 UUIDs, written as one field line", () => {
  const ids = new Set(Array.from({ length: 1000 }, newRequestId));
  expect(ids.size).toBe(1000);
  for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(new TextDecoder().decode(requestIdLine("abc"))).toBe("X-Request-Id: abc\r\n");
});
