/**
 * How a client comes to speak HTTP/2 to plb: ALPN over TLS (offered by
 * default, not at all with `http2 = false`), prior knowledge on a plain
 * listener with `h2c = true` (HTTP/1 clients on the same port served as
 * before), and without h2c a prior-knowledge client refused as a bad HTTP/1
 * request (505) while plb goes on serving. Real peers: curl, nghttp, openssl
 * s_client, the raw-frame client.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CertDir } from "../../support/certs.ts";
import { curlH2, h2Client, nghttp, run } from "../../support/h2-peers.ts";
import { type HttpBackend, httpBackend, rawHttp } from "../../support/http-backends.ts";
import { type PlbProcess, startPlb } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";

let app: HttpBackend;
let plb: PlbProcess;
let ca: string;
let tlsH2: number;
let tlsH1: number;
let h2c: number;
let plain: number;

beforeAll(async () => {
  const certs = new CertDir();
  const root = await certs.ca("root");
  ca = root.cert;
  const pair = await certs.cert("localhost", { dns: ["localhost"], ca: root });
  app = await httpBackend("app", (req, res) => {
    res.setHeader("Content-Type", "text/plain");
    res.end(`app ${req.method} ${req.url} http/${req.httpVersion}`);
  });
  [tlsH2, tlsH1, h2c, plain] = await freePorts(4);
  const tls = `tls = { cert = "${pair.cert}", key = "${pair.key}" }`;
  const svc = (name: string, port: number, extra: string) => `
[[service]]
name = "${name}"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${app.port}"]
${extra}
`;
  plb = await startPlb(svc("tls-h2", tlsH2, tls) + svc("tls-h1", tlsH1, `${tls}\nhttp2 = false`) + svc("h2c", h2c, "h2c = true") + svc("plain", plain, ""));
});

afterAll(async () => {
  await plb?.stop();
  await app?.close();
});

/** What openssl s_client negotiated when it offered `alpn`: the protocol, or "none". */
async function negotiated(port: number, alpn: string): Promise<string> {
  const r = await run(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-alpn", alpn, "-CAfile", ca], 15_000, "");
  expect(r.stdout).toContain("Verify return code: 0 (ok)");
  if (/No ALPN negotiated/.test(r.stdout)) return "none";
  const m = /ALPN protocol: (\S+)/.exec(r.stdout);
  if (!m) throw new Error(`openssl s_client said neither:\n${r.stdout}\n${r.stderr}`);
  return m[1];
}

test("TLS: ALPN offers h2 by default; curl --http2 gets HTTP/2 and the server's answer; nghttp sees h2 negotiated", async () => {
  expect(await negotiated(tlsH2, "h2,http/1.1")).toBe("h2");
  expect(await negotiated(tlsH2, "http/1.1")).toBe("http/1.1");
  const r = await curlH2(`https://localhost:${tlsH2}/alpn`, { ca, resolve: [`localhost:${tlsH2}:127.0.0.1`] });
  expect(r.stderr).toBe("");
  expect(r.httpVersion).toBe("2");
  expect(r.status).toBe(200);
  expect(r.body).toBe("app GET /alpn http/1.1"); // translated to HTTP/1.1 for the server
  const n = await nghttp(`https://127.0.0.1:${tlsH2}/n`);
  expect(n.alpn).toBe("h2");
  expect(n.status).toBe(200);
  expect(n.received.SETTINGS).toBeGreaterThanOrEqual(2);
});

test("TLS with http2 = false: ALPN offers only http/1.1, curl --http2 falls back to HTTP/1.1, the raw h2 client gets no h2", async () => {
  expect(await negotiated(tlsH1, "h2,http/1.1")).toBe("http/1.1");
  const r = await curlH2(`https://localhost:${tlsH1}/one`, { ca, resolve: [`localhost:${tlsH1}:127.0.0.1`] });
  expect(r.stderr).toBe("");
  expect(r.httpVersion).toBe("1.1");
  expect(r.status).toBe(200);
  expect(r.body).toBe("app GET /one http/1.1");
  const h2 = await h2Client({ port: tlsH1, tls: true, sni: "localhost", alpn: ["h2"], timeout_ms: 5000, steps: [{ op: "request" }, { op: "wait", until: "end", ms: 3000 }] });
  // Only h2 offered: no protocol agreed (or the handshake refused); in any case no HTTP/2 response.
  expect(h2.summary.alpn).not.toBe("h2");
  expect(h2.summary.streams["1"]?.status ?? null).toBeNull();
});

test("h2c = true: prior-knowledge clients (curl, nghttp -m 3) speak HTTP/2 and HTTP/1.1 clients on the same port still work", async () => {
  const r = await curlH2(`http://127.0.0.1:${h2c}/pk`, { priorKnowledge: true, method: "POST", body: "hello" });
  expect(r.httpVersion).toBe("2");
  expect(r.status).toBe(200);
  expect(r.body).toBe("app POST /pk http/1.1");
  const n = await nghttp(`http://127.0.0.1:${h2c}/m`, { multiply: 3 });
  expect(n.alpn).toBeUndefined();
  expect(n.responses).toBe(3);
  expect(n.resets).toEqual([]);
  const h1 = await run(["curl", "-sS", "--max-time", "10", "--http1.1", "-w", " %{http_version}", `http://127.0.0.1:${h2c}/h1`], 15_000);
  expect(h1.stdout).toBe("app GET /h1 http/1.1 1.1");
  const raw = await rawHttp(h2c, "GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  expect(raw).toStartWith("HTTP/1.1 200 ");
  expect(raw).toEndWith("app GET /raw http/1.1");
});

test("without h2c a prior-knowledge client gets an HTTP/1 505 (HTTP/2.0 is not an HTTP/1 version) and is closed; plb keeps serving", async () => {
  const before = app.seen.length;
  const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const settings = "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
  const t0 = Date.now();
  const answer = await rawHttp(plain, preface + settings, undefined, 8000);
  expect(answer).toMatch(/^HTTP\/1\.1 505 /);
  expect(answer).toContain("\r\nConnection: close\r\n");
  expect(Date.now() - t0).toBeLessThan(7000); // closed by plb, not by the read's time limit
  const pk = await curlH2(`http://127.0.0.1:${plain}/pk`, { priorKnowledge: true, maxSeconds: 5 });
  expect(pk.status).not.toBe(200);
  expect(pk.httpVersion).not.toBe("2");
  const raw = await h2Client({ port: plain, timeout_ms: 5000, steps: [{ op: "request" }, { op: "wait", until: "closed", ms: 4000 }] });
  expect(raw.summary.closed).toBe(true);
  expect(raw.summary.frames).toEqual({}); // no HTTP/2 frame came back
  expect(app.seen.length).toBe(before); // nothing reached the server
  const h1 = await rawHttp(plain, "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  expect(h1).toStartWith("HTTP/1.1 200 ");
  expect(h1).toEndWith("app GET /after http/1.1");
  expect(plb.proc.exitCode).toBeNull();
});
