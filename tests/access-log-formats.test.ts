import { expect, test } from "bun:test";
import * as F from "../src/access-log/formats.ts";
import { render } from "../src/access-log/formats.ts";
import type { RequestEvent, SessionEndEvent } from "../src/events.ts";

const AT = Date.UTC(2026, 11, 1, 9, 5, 7, 42);
const req: RequestEvent = {
  service: "web", client: "127.0.0.2", clientPort: 51234, backend: "web", requestId: "", server: "10.0.0.1:80", method: "GET", target: "/a?b=1", version: "HTTP/1.1",
  status: 200, start: AT, bytesIn: 80, bytesOut: 612, bodyBytesOut: 512, host: "example.org", referer: "http://x/", userAgent: 'curl/8 "q"',
  connectMs: 0.42, ttfbMs: 1.5, totalMs: 2.25, retries: 0, cause: "done",
};
const session: SessionEndEvent = {
  service: "db", protocol: "tcp", client: "127.0.0.3", clientPort: 40000, backend: "db", server: "10.0.0.2:5432", start: AT, durationMs: 1234, bytesIn: 10, bytesOut: 20, cause: "client_closed", tried: 2,
  handshake: undefined, handshakeDetail: "",
};

test("combined is nginx's combined line, time in UTC, with nginx's \\xHH escaping", () => {
  expect(render(F.combined, req)).toContain(" [01/Dec/2026:09:05:07 +0000] ");
  expect(render(F.combined, req)).toBe('127.0.0.2 - - [01/Dec/2026:09:05:07 +0000] "GET /a?b=1 HTTP/1.1" 200 512 "http://x/" "curl/8 \\x22q\\x22"\n');
  // nothing answered (the client left first): nginx's 499; no request line: "-"
  expect(render(F.combined, { ...req, status: 0, method: "", referer: "", userAgent: "" })).toBe('127.0.0.2 - - [01/Dec/2026:09:05:07 +0000] "-" 499 512 "-" "-"\n');
});

test("json lines carry the request's fields and times; sessions theirs", () => {
  expect(JSON.parse(render(F.requestJson, req))).toEqual({
    time: "2026-12-01T09:05:07.042Z", service: "web", client: "127.0.0.2", client_port: 51234, backend: "web", server: "10.0.0.1:80", method: "GET", path: "/a?b=1",
    protocol: "HTTP/1.1", host: "example.org", status: 200, bytes_in: 80, bytes_out: 612, connect_ms: 0.42, ttfb_ms: 1.5, total_ms: 2.25, retries: 0,
    cause: "done", referer: "http://x/", user_agent: 'curl/8 "q"',
  });
  expect(JSON.parse(render(F.sessionJson, session))).toMatchObject({ service: "db", protocol: "tcp", backend: "db", server: "10.0.0.2:5432", duration_ms: 1234, bytes_in: 10, bytes_out: 20, cause: "client_closed", tried: 2 });
  // With request_id = true, the request's X-Request-Id.
  expect(JSON.parse(render(F.requestJson, { ...req, requestId: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6" })).request_id).toBe("f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
});

test("haproxy: the backend field is the backend that took the request (the service's name when none did)", () => {
  expect(render(F.httplog, { ...req, service: "edge", backend: "api" })).toContain(" edge api/10.0.0.1:80 ");
  expect(render(F.httplog, { ...req, service: "edge", backend: undefined, server: undefined, status: 404 })).toContain(" edge edge/<NOSRV> ");
});

test("haproxy: httplog and tcplog layouts", () => {
  expect(render(F.httplog, req)).toBe('127.0.0.2:51234 [01/Dec/2026:09:05:07.042] web web/10.0.0.1:80 0/0/0/1/2 200 612 - - ---- 0/0/0/0/0 0/0 "GET /a?b=1 HTTP/1.1"\n');
  expect(render(F.httplog, { ...req, server: undefined, status: 503, cause: "no_server", connectMs: -1, ttfbMs: -1 })).toContain(" web web/<NOSRV> 0/0/-1/-1/2 503 612 - - SC-- ");
  expect(render(F.tcplog, session)).toBe("127.0.0.3:40000 [01/Dec/2026:09:05:07.042] db db/10.0.0.2:5432 0/0/1234 20 CD 0/0/0/0/1 0/0\n");
  // smtp: the greeting outcome last
  expect(render(F.tcplog, { ...session, protocol: "smtp", handshake: "timeout", handshakeDetail: "no greeting within 3000 ms" })).toEndWith(" 0/0/0/0/1 0/0 greeting=timeout\n");
  expect(JSON.parse(render(F.sessionJson, { ...session, protocol: "smtp", handshake: "bad-greeting", handshakeDetail: "greeting 554 no" }))).toMatchObject({ greeting: "bad-greeting", greeting_detail: "greeting 554 no" });
  expect(JSON.parse(render(F.sessionJson, session)).greeting).toBeUndefined();
});
