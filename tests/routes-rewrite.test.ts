/**
 * src/routes/rewrite.ts, byte by byte: strip_prefix / add_prefix and
 * request_headers through forwardedRequestHead (what a server receives),
 * response_headers through serializeResponseHead.
 */
import { describe, expect, test } from "bun:test";
import type { HttpSettings } from "../src/config/types.ts";
import { ClientForwarding, forwardedRequestHead } from "../src/http/forward.ts";
import { parseRequestHead, parseResponseHead } from "../src/http/head.ts";
import { serializeResponseHead } from "../src/http/serialize.ts";
import { headerEdit, NO_EDIT, originForm, requestEdit, responseEdit, rewritePath, rewriteTarget, withEdit } from "../src/routes/rewrite.ts";
import type { TemplateValues } from "../src/routes/types.ts";
import { routesOf } from "./support/routes.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b);
const CFG = { forwarded_for: "append", forwarded: false } as HttpSettings;
const VALUES: TemplateValues = { client_ip: "127.0.0.2", scheme: "http", host: "api.example.com", request_id: "id-7" };

/** What the server receives for request `s` through the only route of `route` (TOML body). */
function forward(route: string, s: string): string {
  const [r] = routesOf(`[[service.route]]\n${route}\n`);
  const src = bytes(s);
  const p = parseRequestHead(src);
  if (p.kind !== "done") throw new Error(JSON.stringify(p));
  return text(forwardedRequestHead(src, p.head, new ClientForwarding("127.0.0.2"), "http", CFG, requestEdit(r, p.head, VALUES)));
}

describe("paths", () => {
  test("strip_prefix on segment boundaries, then add_prefix", () => {
    for (const [path, strip, add, want] of [
      ["/v1/users", "/v1", undefined, "/users"], ["/v1", "/v1", undefined, "/"], ["/v1/", "/v1", undefined, "/"], ["/v1x", "/v1", undefined, undefined],
      ["/v2/a", "/v1", undefined, undefined], ["/a", undefined, "/api", "/api/a"], ["/", undefined, "/api", "/api/"],
      ["/v1/a", "/v1", "/v2", "/v2/a"], ["/v1/a", "/v1/a", "/v1", "/v1/"],
    ] as const) expect({ path, strip, add, got: rewritePath(path, strip, add) }).toEqual({ path, strip, add, got: want });
  });
  test("the query and the absolute form's authority are kept", () => {
    expect(rewriteTarget("/v1/a?x=/v1/", "origin", "/v1", undefined)).toBe("/a?x=/v1/");
    expect(rewriteTarget("http://h.example/v1/a?q", "absolute", "/v1", "/w")).toBe("http://h.example/w/a?q");
    expect(rewriteTarget("http://h.example?q", "absolute", undefined, "/w")).toBe("http://h.example/w/?q");
    expect(rewriteTarget("http://h.example", "absolute", "/v1", undefined)).toBeUndefined();
    expect(rewriteTarget("*", "asterisk", undefined, "/w")).toBeUndefined();
  });
  test("the request line is rewritten, the version kept", () => {
    expect(forward(`path = "/v1/"\nstrip_prefix = "/v1"\nadd_prefix = "/internal"`, "GET /v1/users?id=3 HTTP/1.0\r\nHost: h\r\nAccept: */*\r\n\r\n")).toBe(
      "GET /internal/users?id=3 HTTP/1.0\r\nHost: h\r\nAccept: */*\r\nX-Forwarded-For: 127.0.0.2\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n",
    );
  });
  test("a request the prefix does not start is forwarded byte for byte", () => {
    expect(forward(`strip_prefix = "/v1"`, "GET /v10 HTTP/1.1\r\nHost: h\r\n\r\n")).toBe("GET /v10 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 127.0.0.2\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
  });
});

describe("request_headers", () => {
  test("a route setting Host sends an absolute-form target in origin form", () => {
    expect(forward(`request_headers = { set = { "Host" = "backend.internal:8080" } }`, "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n")).toBe(
      "GET /x?y HTTP/1.1\r\nHost: backend.internal:8080\r\nX-Forwarded-For: 127.0.0.2\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a.example\r\n\r\n",
    );
    expect(forward(`request_headers = { set = { "Host" = "b" } }\nstrip_prefix = "/x"`, "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n")).toStartWith("GET /?y HTTP/1.1\r\nHost: b\r\n");
    expect(originForm("http://a.example?q")).toBe("/?q");
    expect(originForm("https://a.example")).toBe("/");
  });
  test("remove, set (every field of the name replaced) and add (kept), with variables, before plb's own fields", () => {
    const got = forward(
      `request_headers = { remove = ["X-Internal"], set = { "X-Env" = "prod", "X-Client" = "{client_ip} via {scheme}://{host} #{request_id}" }, add = { "Via" = "plb" } }`,
      "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-Internal: secret\r\nx-env: dev\r\nX-ENV: test\r\nVia: 1.1 other\r\nx-internal: 2\r\n\r\n",
    );
    expect(got).toBe(
      "GET / HTTP/1.1\r\nHost: api.example.com\r\nVia: 1.1 other\r\nX-Env: prod\r\nX-Client: 127.0.0.2 via http://api.example.com #id-7\r\nVia: plb\r\n" +
        "X-Forwarded-For: 127.0.0.2\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: api.example.com\r\n\r\n",
    );
  });
  test("a rule set without variables makes its lines once", () => {
    const [r] = routesOf(`[[service.route]]\nrequest_headers = { set = { "X-Env" = "prod {{x}}" } }\n`);
    const a = headerEdit(r.request_headers, VALUES);
    const b = headerEdit(r.request_headers, { ...VALUES, client_ip: "::1" });
    expect(a.lines).toBe(b.lines!);
    expect(a).toBe(b); // the whole edit, made once
    expect(text(a.lines!)).toBe("X-Env: prod {x}\r\n");
    expect([...a.drop!]).toEqual(["x-env"]);
  });
  test("a route without rules or prefixes changes nothing", () => {
    const [r] = routesOf(`[[service.route]]\npath = "/"\n`);
    const p = parseRequestHead(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    if (p.kind !== "done") throw new Error();
    expect(requestEdit(r, p.head, VALUES)).toBe(NO_EDIT);
    const opts = { drop: () => false };
    expect(withEdit(opts, NO_EDIT)).toBe(opts);
  });
});

test("response_headers: on the response head plb relays", () => {
  const [r] = routesOf(`[[service.route]]\nresponse_headers = { set = { "Strict-Transport-Security" = "max-age=63072000" }, remove = ["Server"], add = { "X-Served-For" = "{host}" } }\n`);
  const src = bytes("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nstrict-transport-security: max-age=0\r\nETag: \"x\"\r\n\r\nok");
  const p = parseResponseHead(src);
  if (p.kind !== "done") throw new Error(JSON.stringify(p));
  const out = serializeResponseHead(src, p.head, withEdit({ tailStart: p.consumed, tailEnd: src.length }, responseEdit(r, VALUES)));
  expect(text(out)).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: "x"\r\nStrict-Transport-Security: max-age=63072000\r\nX-Served-For: api.example.com\r\n\r\nok');
});

test("a rendered value that could split a message throws instead of being written (values from head.ts never do)", () => {
  const [r] = routesOf(`[[service.route]]\nrequest_headers = { set = { "X-Host" = "{host}" } }\n`);
  expect(() => headerEdit(r.request_headers, { ...VALUES, host: "a\r\nX-Evil: 1" })).toThrow(TypeError);
});
