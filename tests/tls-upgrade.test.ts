/**
 * src/tls/upgrade.ts on real sockets: what plb relies on in Bun's
 * server-side `upgradeTLS` on an accepted plain socket (STARTTLS). Fails
 * loudly if a new Bun changes it.
 */
import { afterAll, expect, test } from "bun:test";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { readFileSync } from "node:fs";
import { handOver, relayHandlers } from "../src/net/handlers.ts";
import type { Sock, SocketEvents } from "../src/net/types.ts";
import { startServerTls, type TlsSocketEvents } from "../src/tls/upgrade.ts";
import { testCert } from "./support/smtp/tls.ts";
import { until } from "./support/until.ts";

const closers: (() => void)[] = [];
afterAll(() => closers.forEach((c) => c()));

class Recorder implements TlsSocketEvents {
  chunks: Uint8Array[] = [];
  handshakes: [boolean, string | undefined][] = [];
  closed = false;
  ended = false;
  constructor(private readonly onLine?: (s: string) => void) {}
  onData(buf: Uint8Array) {
    this.chunks.push(buf);
    this.onLine?.(Buffer.from(buf).toString("latin1"));
  }
  onDrain() {}
  onEnd() {
    this.ended = true;
  }
  onClose() {
    this.closed = true;
  }
  onHandshake(ok: boolean, err: Error | undefined) {
    this.handshakes.push([ok, err?.message]);
  }
  text() {
    return Buffer.concat(this.chunks).toString("latin1");
  }
}

/** A plain listener that answers "STARTTLS" with 220 and upgrades; the raw socket's later events go to `raw`. */
async function starttlsListener() {
  const { cert, key } = await testCert();
  const state = { raw: new Recorder(), secure: new Recorder(), sock: undefined as Sock | undefined };
  const listener = Bun.listen<SocketEvents>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      ...relayHandlers,
      open(s) {
        const plain = new Recorder((line) => {
          if (!line.startsWith("STARTTLS")) return;
          s.write("220 2.0.0 Ready to start TLS\r\n");
          // state.raw: what still arrives through the listener's handlers from now on.
          state.sock = startServerTls(s as Sock, { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") }, state.secure, state.raw);
        });
        handOver(s as Sock, plain);
        s.write("220 ready\r\n");
      },
    },
  });
  closers.push(() => listener.stop(true));
  return { port: listener.port, cafile: cert, state };
}

function once(sock: Socket, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${what}`)), 10_000);
    sock.once("data", (d) => {
      clearTimeout(t);
      resolve(d.toString("latin1"));
    });
  });
}

test("after upgradeTLS the TLS socket gets the handshake then the decrypted bytes; the accepted socket still gets the raw TLS records", async () => {
  const { port, cafile, state } = await starttlsListener();
  const plain = netConnect({ host: "127.0.0.1", port });
  expect(await once(plain, "greeting")).toBe("220 ready\r\n");
  plain.write("STARTTLS\r\n");
  expect(await once(plain, "220")).toBe("220 2.0.0 Ready to start TLS\r\n");
  const secure = tlsConnect({ socket: plain, servername: "localhost", ca: readFileSync(cafile) });
  await new Promise<void>((resolve, reject) => {
    secure.once("secureConnect", resolve);
    secure.once("error", reject);
  });
  secure.write("EHLO inside\r\n");
  await until(() => state.secure.text() === "EHLO inside\r\n", "the decrypted line", 10_000);
  // The handshake was reported once, successful (an authorization error only concerns client certificates, none asked for).
  expect(state.secure.handshakes.map(([ok]) => ok)).toEqual([true]);
  // The accepted socket saw TLS records (content types 20-23), not the plain text: plb must drop its events.
  expect(state.raw.chunks.length).toBeGreaterThan(0);
  expect(state.raw.chunks.every((c) => c[0] >= 20 && c[0] <= 23)).toBe(true);
  expect(state.raw.text()).not.toContain("EHLO inside");
  // Writes through the TLS socket reach the client encrypted and come out whole.
  const reply = once(secure, "reply");
  state.sock!.write("250 inside\r\n");
  expect(await reply).toBe("250 inside\r\n");
  // The client's FIN reaches the TLS socket as an end (allowHalfOpen, as the listener's), not on the raw one.
  secure.end();
  await until(() => state.secure.ended || state.secure.closed, "the end on the TLS socket", 10_000);
  expect(state.raw.ended).toBe(false);
  state.sock!.end();
  secure.destroy();
});

test("bytes that are not a ClientHello after the 220: the handshake fails, reported through onHandshake or a close", async () => {
  const { port, state } = await starttlsListener();
  const plain = netConnect({ host: "127.0.0.1", port });
  await once(plain, "greeting");
  plain.write("STARTTLS\r\n");
  await once(plain, "220");
  plain.write("RSET\r\nMAIL FROM:<evil@x.test>\r\n");
  await until(() => state.secure.closed || state.secure.handshakes.length > 0, "a failed handshake", 10_000);
  expect(state.secure.handshakes.every(([ok]) => !ok)).toBe(true);
  expect(state.secure.chunks).toEqual([]); // nothing came out as plain text
  plain.destroy();
});

test("one certificate per upgrade: SNICallback is not called and an array of options is refused; the client's SNI name can still be read", async () => {
  const { cert, key } = await testCert();
  const certPem = readFileSync(cert, "utf8");
  const keyPem = readFileSync(key, "utf8");
  let called = 0;
  let arrayError = "";
  const secure = new Recorder();
  let upgraded: Sock | undefined;
  const listener = Bun.listen<SocketEvents>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      ...relayHandlers,
      open(s) {
        handOver(s as Sock, new Recorder((line) => {
          if (!line.startsWith("STARTTLS")) return;
          s.write("220 2.0.0 Ready to start TLS\r\n");
          try {
            s.upgradeTLS({ tls: [{ cert: certPem, key: keyPem }] as never, socket: {} as never });
          } catch (err) {
            arrayError = (err as Error).message;
          }
          const sni = { SNICallback: () => void called++ } as object;
          upgraded = startServerTls(s as Sock, { cert: certPem, key: keyPem, ...sni }, secure);
        }));
        s.write("220 ready\r\n");
      },
    },
  });
  closers.push(() => listener.stop(true));
  const plain = netConnect({ host: "127.0.0.1", port: listener.port });
  await once(plain, "greeting");
  plain.write("STARTTLS\r\n");
  await once(plain, "220");
  const tls = tlsConnect({ socket: plain, servername: "other.example", rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    tls.once("secureConnect", resolve);
    tls.once("error", reject);
  });
  await until(() => secure.handshakes.length > 0, "the handshake", 10_000);
  expect(arrayError).not.toBe("");
  expect(called).toBe(0);
  // The certificate given is served whatever name the client asked for (testCert's is for localhost)…
  expect(tls.getPeerCertificate().subject.CN).toBe("localhost");
  // …and the name is there to read (to refuse or log a name plb has no certificate for).
  expect((upgraded as unknown as { getServername(): string }).getServername()).toBe("other.example");
  tls.destroy();
});