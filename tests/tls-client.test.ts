/**
 * tls/client.ts and the TLS path of net/connect.ts against Bun TLS servers
 * on loopback (certificates from the test CA): what plb relies on in Bun's
 * client TLS (fails loudly if a new Bun changes it), the causes a failed
 * handshake is given, the files checked at start, and session resumption.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TLSSocket } from "bun";
import { connect } from "../src/net/connect.ts";
import type { Sock } from "../src/net/types.ts";
import { describeTlsFailure, loadServerTls, ServerTls } from "../src/tls/client.ts";
import type { ServerTlsConfig } from "../src/config/types.ts";
import { testCa, type CertFiles } from "./support/test-ca.ts";

const ca = await testCa();
const read = (f: string) => readFileSync(f, "utf8");
const stops: (() => void)[] = [];
afterAll(() => {
  for (const s of stops) s();
});

interface TlsServer {
  readonly port: number;
  /** SNI names seen, one per handshake ("" for none). */
  readonly names: string[];
  /** Handshakes that resumed a session. */
  resumed: number;
  /** Peer certificate CNs seen (mTLS). */
  readonly clients: string[];
}

/** A TLS echo server that says "hi\n" once the handshake is over. */
function tlsServer(files: CertFiles, extra: Record<string, unknown> = {}): TlsServer {
  const state: TlsServer = { port: 0, names: [], resumed: 0, clients: [] };
  const srv = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: read(files.cert), key: read(files.key), ...extra },
    socket: {
      handshake(s: TLSSocket, ok) {
        state.names.push(s.getServername?.() || "");
        if (s.isSessionReused()) state.resumed++;
        const cn = (s.getPeerCertificate() as { subject?: { CN?: string } } | undefined)?.subject?.CN;
        if (cn) state.clients.push(cn);
        if (ok || !extra.requestCert) s.write("hi\n");
      },
      data(s, d) {
        s.write(d);
      },
      error() {},
    },
  });
  stops.push(() => srv.stop(true));
  (state as { port: number }).port = srv.port;
  return state;
}

const cfg = (over: Partial<ServerTlsConfig> = {}): ServerTlsConfig => ({ verify: true, ca: ca.ca, server_name: undefined, cert: undefined, key: undefined, ...over });

function load(c: ServerTlsConfig): ServerTls {
  const r = loadServerTls(c);
  if (r.tls === undefined) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return r.tls;
}

/** Connect through net/connect.ts; resolves with what happened and the first line the server sent. */
function attempt(port: number, tls: ServerTls, host = "127.0.0.1", timeoutMs = 5000): Promise<{ ok: true; line: string } | { ok: false; reason: string; detail: string }> {
  return new Promise((resolve) => {
    connect("127.0.0.1", port, timeoutMs, {
      connected(sock: Sock) {
        sock.data = {
          onData(buf: Uint8Array) {
            resolve({ ok: true, line: new TextDecoder().decode(buf) });
            sock.end();
          },
          onDrain() {},
          onEnd() {},
          onClose() {
            resolve({ ok: false, reason: "closed", detail: "closed after the handshake" });
          },
        };
      },
      failed(reason, detail) {
        resolve({ ok: false, reason, detail });
      },
    }, tls, host);
  });
}

describe("verification", () => {
  test("a certificate from the CA, checked against server_name: connected, SNI sent", async () => {
    const s = tlsServer(ca.server);
    expect(await attempt(s.port, load(cfg({ server_name: "app.internal" })))).toEqual({ ok: true, line: "hi\n" });
    expect(s.names).toEqual(["app.internal"]);
  });

  test("an IP address without server_name: no SNI, the certificate is checked against the IP", async () => {
    const s = tlsServer(ca.server);
    expect(await attempt(s.port, load(cfg()))).toEqual({ ok: true, line: "hi\n" });
    expect(s.names).toEqual([""]);
    const dnsOnly = tlsServer(ca.dnsOnly);
    const r = await attempt(dnsOnly.port, load(cfg()));
    expect(r).toMatchObject({ ok: false, reason: "tls" });
    expect((r as { detail: string }).detail).toBe("TLS: name mismatch: the server's address is not in the certificate (it names no IP address)");
  });

  test("a host name server: its name is the SNI and the name checked", async () => {
    const s = tlsServer(ca.dnsOnly);
    expect(await attempt(s.port, load(cfg()), "App.Internal")).toEqual({ ok: true, line: "hi\n" });
    expect(s.names).toEqual(["app.internal"]);
  });

  test("causes: unknown CA, name mismatch, expired; never a connection", async () => {
    const wrong = tlsServer(ca.wrongCa);
    const expired = tlsServer(ca.expired);
    const good = tlsServer(ca.server);
    expect(await attempt(wrong.port, load(cfg({ server_name: "app.internal" })))).toEqual({ ok: false, reason: "tls", detail: "TLS: unknown CA (unable to verify the first certificate)" });
    const mismatch = await attempt(good.port, load(cfg({ server_name: "other.internal" })));
    expect(mismatch).toMatchObject({ ok: false, reason: "tls" });
    expect((mismatch as { detail: string }).detail).toBe('TLS: name mismatch: "other.internal" is not in the certificate (it names DNS:app.internal, DNS:localhost, IP Address:127.0.0.1)');
    expect(await attempt(expired.port, load(cfg({ server_name: "app.internal" })))).toEqual({ ok: false, reason: "tls", detail: "TLS: certificate expired" });
  });

  test("verify = false: a certificate that does not verify is taken; a server without TLS is still a failure", async () => {
    const wrong = tlsServer(ca.wrongCa);
    const loose = load({ verify: false, ca: undefined, server_name: "other.internal", cert: undefined, key: undefined });
    expect(await attempt(wrong.port, loose)).toEqual({ ok: true, line: "hi\n" });
    const plain = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open(s) { s.write("220 plain text\r\n"); }, data() {} } });
    stops.push(() => plain.stop(true));
    const r = await attempt(plain.port, loose);
    expect(r).toEqual({ ok: false, reason: "tls", detail: "TLS: handshake failed: wrong version number (does the server speak TLS on this port?)" });
  });

  test("a server that never answers the handshake: a timeout within timeout_connect, the socket closed", async () => {
    let closed = 0;
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, close() { closed++; } } });
    stops.push(() => silent.stop(true));
    const t0 = performance.now();
    const r = await attempt(silent.port, load(cfg()), "127.0.0.1", 300);
    expect(r).toEqual({ ok: false, reason: "timeout", detail: "TLS handshake not done within timeout_connect (300ms)" });
    expect(performance.now() - t0).toBeLessThan(3000);
    const deadline = Date.now() + 5000;
    while (closed === 0 && Date.now() < deadline) await Bun.sleep(10);
    expect(closed).toBe(1);
  });
});

describe("client certificates", () => {
  test("a server that requires one gets plb's (server_tls.cert/key)", async () => {
    const s = tlsServer(ca.server, { requestCert: true, rejectUnauthorized: true, ca: read(ca.ca) });
    expect(await attempt(s.port, load(cfg({ cert: ca.client.cert, key: ca.client.key })))).toEqual({ ok: true, line: "hi\n" });
    expect(s.clients).toEqual(["plb-client"]);
  });
});

describe("sessions", () => {
  test("the next connect to a server resumes the session its first bytes came with (TLS 1.3 and 1.2)", async () => {
    for (const extra of [{}, { maxVersion: 771 }]) {
      const s = tlsServer(ca.server, extra);
      const tls = load(cfg());
      for (let i = 0; i < 3; i++) expect(await attempt(s.port, tls)).toEqual({ ok: true, line: "hi\n" });
      expect(s.resumed).toBe(2);
      expect(tls.sessionCount).toBe(1);
    }
  });
});

describe("files", () => {
  test("unreadable, not PEM, and a key that is not the certificate's: each named", async () => {
    const dir = ca.dir;
    writeFileSync(join(dir, "not-pem.txt"), "hello\n");
    const r = loadServerTls(cfg({ ca: join(dir, "missing.pem"), cert: ca.client.cert, key: ca.server.key }));
    expect(r.tls).toBeUndefined();
    expect(r.problems.map((p) => p.path)).toEqual(["server_tls.ca", "server_tls.key"]);
    expect(r.problems[0]!.message).toMatch(/^cannot read .*missing.pem: /);
    expect(r.problems[1]!.message).toBe(`key does not match the certificate in ${ca.client.cert}`);
    const notPem = loadServerTls(cfg({ ca: join(dir, "not-pem.txt") }));
    expect(notPem.problems).toEqual([{ path: "server_tls.ca", message: `${join(dir, "not-pem.txt")} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)` }]);
  });
});

test("describeTlsFailure names the check that failed", () => {
  const e = (code: string, message: string) => Object.assign(new Error(message), { code });
  expect(describeTlsFailure(e("CERT_HAS_EXPIRED", "certificate has expired"), "a")).toBe("TLS: certificate expired");
  expect(describeTlsFailure(e("DEPTH_ZERO_SELF_SIGNED_CERT", "self signed certificate"), "a")).toBe("TLS: unknown CA (self-signed) (self signed certificate)");
  expect(describeTlsFailure(e("ECONNRESET", "Client network socket disconnected before secure TLS connection was established"), "a")).toBe("TLS: handshake failed: the server closed the connection");
  expect(describeTlsFailure(e("EPROTO", "error:10000410:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE"), "a")).toBe("TLS: handshake failed: sslv3 alert handshake failure");
});
