/** HTTP-01 answers (src/http/acme-challenge.ts): only GET/HEAD of a pending token, origin or absolute form; anything else is the routes'. */
import { afterEach, expect, test } from "bun:test";
import { http01Tokens } from "../src/acme/publish.ts";
import { acmeChallengeAnswer } from "../src/http/acme-challenge.ts";
import { parseRequestHead } from "../src/http/head.ts";
import type { RequestHead } from "../src/http/types.ts";

afterEach(() => {
  for (const [t] of http01Tokens.entries()) http01Tokens.delete(t);
});

function head(text: string): RequestHead {
  const r = parseRequestHead(new TextEncoder().encode(text));
  if (r.kind !== "done") throw new Error(`not a head: ${JSON.stringify(r)}`);
  return r.head;
}
const answer = (text: string) => {
  const a = acmeChallengeAnswer(head(text));
  return a && { ...a, text: new TextDecoder().decode(a.bytes) };
};

test("a pending token is answered 200 with its key authorization; an unknown token, another path, a POST go on", () => {
  http01Tokens.set("tok_-1", "tok_-1.thumb");
  const a = answer("GET /.well-known/acme-challenge/tok_-1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
  expect(a?.status).toBe(200);
  expect(a?.close).toBe(false);
  expect(a?.text).toStartWith("HTTP/1.1 200 OK\r\n");
  expect(a?.text).toContain("Content-Type: application/octet-stream\r\n");
  expect(a?.text).toEndWith("\r\n\r\ntok_-1.thumb");
  expect(answer("GET /.well-known/acme-challenge/tok_-1?x=1 HTTP/1.1\r\nHost: a.test\r\n\r\n")?.status).toBe(200);
  expect(answer("GET http://a.test/.well-known/acme-challenge/tok_-1 HTTP/1.1\r\nHost: a.test\r\n\r\n")?.status).toBe(200);
  expect(answer("HEAD /.well-known/acme-challenge/tok_-1 HTTP/1.1\r\nHost: a.test\r\n\r\n")?.text).toEndWith("\r\n\r\n");
  expect(answer("GET /.well-known/acme-challenge/tok_-1 HTTP/1.0\r\n\r\n")?.close).toBe(true);
  expect(answer("GET /.well-known/acme-challenge/other HTTP/1.1\r\nHost: a.test\r\n\r\n")).toBeUndefined();
  expect(answer("GET /.well-known/acme-challenge/tok_-1/x HTTP/1.1\r\nHost: a.test\r\n\r\n")).toBeUndefined();
  expect(answer("GET /x/.well-known/acme-challenge/tok_-1 HTTP/1.1\r\nHost: a.test\r\n\r\n")).toBeUndefined();
  expect(answer("POST /.well-known/acme-challenge/tok_-1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n")).toBeUndefined();
});

test("no pending token: nothing is answered (and nothing is looked at)", () => {
  expect(http01Tokens.size).toBe(0);
  expect(answer("GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: a.test\r\n\r\n")).toBeUndefined();
  http01Tokens.set("tok", "tok.k");
  http01Tokens.delete("tok");
  expect(answer("GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: a.test\r\n\r\n")).toBeUndefined();
});
