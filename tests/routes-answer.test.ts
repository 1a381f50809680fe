/** src/routes/answer.ts: the bytes of respond and redirect answers. */
import { describe, expect, test } from "bun:test";
import { fieldLines } from "../src/http/serialize.ts";
import { redirectLocation, renderRedirect, renderRespond } from "../src/routes/answer.ts";
import { headerEdit } from "../src/routes/rewrite.ts";
import type { RedirectAction, RespondAction } from "../src/routes/types.ts";
import { routesOf } from "./support/routes.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const action = <T>(toml: string) => routesOf(`[[service.route]]\n${toml}\n`)[0].action as T;

describe("respond", () => {
  test("status, content type, length in bytes (UTF-8), the body; Connection: close when asked", () => {
    const a = action<RespondAction>(`respond = { status = 200, body = "User-agent: *\\nDisallow: \u00e9\\n" }`);
    expect(a.content_type).toBe("text/plain; charset=utf-8");
    expect(text(renderRespond(a, { head: false, close: false }))).toBe(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 27\r\n\r\nUser-agent: *\nDisallow: \u00e9\n",
    );
    expect(text(renderRespond(a, { head: true, close: true }))).toBe("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 27\r\nConnection: close\r\n\r\n");
  });
  test("response_headers lines go before Connection, and replace plb's own Content-Type; 204 has neither body nor Content-Length", () => {
    const a = action<RespondAction>(`respond = { status = 503, body = "down", content_type = "text/html" }`);
    expect(text(renderRespond(a, { head: false, close: true, edit: { line: undefined, drop: undefined, lines: fieldLines([["Retry-After", "30"]]) } }))).toBe(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 4\r\nRetry-After: 30\r\nConnection: close\r\n\r\ndown",
    );
    const [r] = routesOf(`[[service.route]]\nrespond = { body = "{}" }\nresponse_headers = { set = { "content-type" = "application/json" } }\n`);
    const VALUES = { client_ip: "::1", scheme: "http", host: "h", request_id: "1" } as const;
    expect(text(renderRespond(r.action as RespondAction, { head: false, close: false, edit: headerEdit(r.response_headers, VALUES) }))).toBe(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-type: application/json\r\n\r\n{}",
    );
    expect(text(renderRespond(action(`respond = { status = 204 }`), { head: false, close: false }))).toBe("HTTP/1.1 204 No Content\r\n\r\n");
    expect(text(renderRespond(action(`respond = { status = 299 }`), { head: false, close: false }))).toStartWith("HTTP/1.1 299 Error\r\n");
  });
});

describe("redirect", () => {
  const req = (host: string | undefined, target = "/a/b?x=1", scheme: "http" | "https" = "http") => ({ scheme, host, target, targetForm: "origin" as const });
  test("scheme only: the host without its port, the path and query kept; 308 by default", () => {
    const a = action<RedirectAction>(`redirect = { scheme = "https" }`);
    expect(a.status).toBe(308);
    expect(redirectLocation(a, req("Example.com:8080"))).toBe("https://Example.com/a/b?x=1");
    expect(text(renderRedirect(a, req("example.com"), { head: false, close: false }))).toBe(
      "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://example.com/a/b?x=1\r\nContent-Length: 0\r\n\r\n",
    );
  });
  test("path only keeps the request's host and port; host, port and path given", () => {
    expect(redirectLocation(action(`redirect = { path = "/new" }`), req("h.example:8080"))).toBe("http://h.example:8080/new?x=1");
    expect(redirectLocation(action(`redirect = { host = "new.example", port = 8443, scheme = "https", status = 301 }`), req("old.example"))).toBe("https://new.example:8443/a/b?x=1");
    expect(redirectLocation(action(`redirect = { port = 443, scheme = "https" }`), req("h:80"))).toBe("https://h/a/b?x=1");
    expect(redirectLocation(action(`redirect = { port = 8080 }`), req("[::1]:80", "/"))).toBe("http://[::1]:8080/");
    expect(redirectLocation(action(`redirect = { host = "b.example" }`), req(undefined, "/"))).toBe("http://b.example/");
  });
  test("no host to redirect to: 400 (without its body to a HEAD)", () => {
    expect(text(renderRedirect(action(`redirect = { scheme = "https" }`), req(undefined), { head: false, close: false }))).toStartWith("HTTP/1.1 400 Bad Request\r\n");
    expect(text(renderRedirect(action(`redirect = { scheme = "https" }`), req(undefined), { head: true, close: false }))).toEndWith("Cache-Control: no-store\r\n\r\n");
  });
  test("301, 302, 303 and 307 have their reasons", () => {
    for (const [s, reason] of [[301, "Moved Permanently"], [302, "Found"], [303, "See Other"], [307, "Temporary Redirect"]] as const) {
      expect(text(renderRedirect(action(`redirect = { path = "/", status = ${s} }`), req("h"), { head: true, close: true }))).toBe(
        `HTTP/1.1 ${s} ${reason}\r\nLocation: http://h/?x=1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
    }
  });
});
