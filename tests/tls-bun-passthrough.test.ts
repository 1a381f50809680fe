/**
 * What Bun 1.4.5 allows for terminating TLS on a connection whose
 * ClientHello was already read (to choose by name). plb's tcp routes pass
 * TLS through and need a second hop to terminate some names (README: TLS
 * passthrough by name) because of the first fact below: if a new Bun makes
 * that test fail, one port can terminate some names itself and the
 * two-hop setup can go.
 * - A native socket (Bun.listen) that has read the ClientHello cannot be
 *   upgraded to a TLS server: the handshake fails (there is no way to hand
 *   bytes back, and no MSG_PEEK).
 * - Upgrading before any byte is read works (pauseOnConnect or in open):
 *   but then nothing of the ClientHello can be seen.
 * - node:tls over a node:net socket with the bytes unshifted back does
 *   terminate it (a stream-based path plb's native-socket sessions do not use).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { type CertFiles, curlName, makeCert } from "./support/tls-peers.ts";

let files: CertFiles;
let cert: string, key: string;
beforeAll(async () => {
  files = await makeCert(["t.example.test"]);
  cert = readFileSync(files.cert, "utf8");
  key = readFileSync(files.key, "utf8");
});

const ANSWER = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

/** A native listener upgrading each accepted socket to a TLS server, before or after reading the first bytes. */
function nativeUpgrade(afterRead: boolean) {
  const handlers = {
    data(s: { write(d: string): number; end(): void }) {
      s.write(ANSWER);
      s.end();
    },
    close() {},
    error() {},
  };
  const upgrade = (s: unknown) => (s as { upgradeTLS(o: unknown): unknown }).upgradeTLS({ tls: { cert, key }, isServer: true, socket: handlers });
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        if (!afterRead) upgrade(s);
      },
      data(s) {
        if (afterRead) upgrade(s);
      },
      close() {},
    },
  });
}

const listeners: { stop(force?: boolean): void }[] = [];
afterAll(() => {
  for (const l of listeners) l.stop(true);
});

test("a native socket upgraded before reading terminates TLS", async () => {
  const l = nativeUpgrade(false);
  listeners.push(l);
  expect((await curlName("t.example.test", l.port, files.cert)).stdout).toBe("ok");
});

test("a native socket that has read the ClientHello cannot be upgraded (Bun 1.4.5): the handshake fails", async () => {
  const l = nativeUpgrade(true);
  listeners.push(l);
  const r = await curlName("t.example.test", l.port, files.cert, l.port, 3); // a handshake takes milliseconds
  expect(r.stdout).toBe("");
  expect(r.code).not.toBe(0);
});

test("node:tls terminates a ClientHello read first and unshifted back", async () => {
  let seen = 0;
  const srv = net.createServer((sock) => {
    sock.once("data", (first) => {
      seen = first.length;
      sock.pause();
      sock.unshift(first);
      const t = new tls.TLSSocket(sock, { isServer: true, cert, key } as tls.TLSSocketOptions);
      t.on("error", () => undefined);
      t.once("data", () => t.end(ANSWER));
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  listeners.push({ stop: () => srv.close() });
  const port = (srv.address() as net.AddressInfo).port;
  expect((await curlName("t.example.test", port, files.cert)).stdout).toBe("ok");
  expect(seen).toBeGreaterThan(100);
});
