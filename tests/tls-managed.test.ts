/**
 * Managed (ACME) certificates on plb's own listener: a name under
 * `tls.acme` is served with the certificate put in the registry, replaced
 * for new handshakes when a new one is put, while an open connection keeps
 * its certificate and the other names keep theirs. Checked with openssl
 * s_client and node:tls (Bun's behaviour: re-adding a name replaces it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect, type TLSSocket } from "node:tls";
import type { ListenTlsConfig } from "../src/config/types.ts";
import { listen, type Listener } from "../src/net/listen.ts";
import type { Sock, SocketEvents } from "../src/net/types.ts";
import { prepareListenTls } from "../src/tls/listener.ts";
import { type ManagedCertificate, managedCertificates } from "../src/tls/managed.ts";
import { CertDir, type Pair, sClient } from "./support/certs.ts";

const d = new CertDir();
let file: Pair; // a.test and m.test from a file
let m1: Pair;
let m2: Pair;
let n1: Pair;
const listeners: Listener[] = [];

beforeAll(async () => {
  [file, m1, m2, n1] = await Promise.all([
    d.cert("file", { dns: ["a.test", "m.test"], subject: "/CN=file" }),
    d.cert("m1", { dns: ["m.test"], subject: "/CN=m-one" }),
    d.cert("m2", { dns: ["m.test"], subject: "/CN=m-two" }),
    d.cert("n1", { dns: ["n.test"], subject: "/CN=n-one" }),
  ]);
});
afterAll(() => {
  for (const l of listeners) l.stop();
  managedCertificates.clear();
});

const managed = (p: Pair, names: string[], source: ManagedCertificate["source"] = "issued"): ManagedCertificate => ({
  names,
  chainPem: readFileSync(p.cert, "utf8"),
  keyPem: readFileSync(p.key, "utf8"),
  notAfter: new Date(Date.now() + 86_400_000).toISOString(),
  issuer: "test",
  source,
});

const cfg = (o: Partial<ListenTlsConfig>): ListenTlsConfig => ({
  source: { kind: "acme" },
  strict_sni: false,
  min_version: "1.2",
  ciphers: undefined,
  client_ca: undefined,
  client_verify: undefined,
  ...o,
});

/** A listener that echoes what it reads. */
function tlsListener(c: ListenTlsConfig): Listener {
  const prepared = prepareListenTls(c, ["http/1.1"]);
  expect(prepared.problems).toEqual([]);
  const l = listen(
    { host: "127.0.0.1", port: 0, text: "127.0.0.1:0" },
    (s: Sock): SocketEvents => ({ onData: (chunk: Uint8Array) => void s.write(chunk), onDrain() {}, onEnd: () => s.end(), onClose() {} }),
    { tls: prepared.tls },
  );
  listeners.push(l);
  return l;
}

const subject = async (port: number, name: string | undefined) => (await sClient(port, name)).subject;

test("acme names follow the registry for new handshakes; an open connection keeps its certificate; other names and the files' keep theirs", async () => {
  managedCertificates.put(managed(m1, ["m.test"], "placeholder"));
  const l = tlsListener(cfg({ source: { kind: "pairs", pairs: [file], form: "cert" }, acme: ["m.test", "n.test"] }));
  // m.test: the managed one wins over the file that names it too; n.test has none yet: the default (the file).
  expect(await subject(l.port, "m.test")).toBe("CN = m-one");
  expect(await subject(l.port, "n.test")).toBe("CN = file");
  expect(await subject(l.port, "a.test")).toBe("CN = file");

  const live: TLSSocket = connect({ host: "127.0.0.1", port: l.port, servername: "m.test", rejectUnauthorized: false });
  await new Promise<void>((r, j) => {
    live.once("secureConnect", () => r());
    live.once("error", j);
  });
  expect(live.getPeerCertificate().subject.CN).toBe("m-one");

  managedCertificates.put(managed(m2, ["m.test"]));
  managedCertificates.put(managed(n1, ["n.test"]));
  expect(await subject(l.port, "m.test")).toBe("CN = m-two");
  expect(await subject(l.port, "n.test")).toBe("CN = n-one");
  expect(await subject(l.port, "a.test")).toBe("CN = file");
  expect(await subject(l.port, undefined)).toBe("CN = file");

  // The connection opened before the change still works, with its first certificate.
  const echoed = new Promise<string>((r) => live.once("data", (b) => r(String(b))));
  live.write("still here");
  expect(await echoed).toBe("still here");
  expect(live.getPeerCertificate().subject.CN).toBe("m-one");
  live.destroy();
});

test("only acme names: no default certificate (a client without SNI is refused); a name outside tls.acme is not served from the registry", async () => {
  const l = tlsListener(cfg({ acme: ["m.test"] }));
  expect(await subject(l.port, "m.test")).toBe("CN = m-two");
  expect(await subject(l.port, undefined)).toBeUndefined();
  // n.test has a managed certificate, but this listener does not serve n.test.
  expect(await subject(l.port, "n.test")).toBeUndefined();
});

test("a listener that was paused and resumed (a new Bun listener on the same socket) gets later certificates too", async () => {
  const l = tlsListener(cfg({ acme: ["m.test"] }));
  l.pause();
  l.resume();
  managedCertificates.put(managed(m1, ["m.test"]));
  expect(await subject(l.port, "m.test")).toBe("CN = m-one");
});

test("a TLS-ALPN-01 validation certificate is served for its name only while set; acme-tls/1 handshakes are closed before a protocol sees them", async () => {
  const opened: string[] = [];
  const prepared = prepareListenTls(cfg({ acme: ["m.test", "n.test"] }), ["http/1.1"]);
  const l = listen(
    { host: "127.0.0.1", port: 0, text: "127.0.0.1:0" },
    (s: Sock): SocketEvents => {
      opened.push(String((s as unknown as { alpnProtocol: unknown }).alpnProtocol));
      return { onData() {}, onDrain() {}, onEnd: () => s.end(), onClose() {} };
    },
    { tls: prepared.tls },
  );
  listeners.push(l);
  managedCertificates.put(managed(m1, ["m.test"]));
  managedCertificates.put(managed(n1, ["n.test"]));
  managedCertificates.setValidation("M.test", { certPem: readFileSync(m2.cert, "utf8"), keyPem: readFileSync(m2.key, "utf8") });
  const v = await sClient(l.port, "m.test", ["-alpn", "acme-tls/1"]);
  expect([v.subject, v.alpn]).toEqual(["CN = m-two", "acme-tls/1"]);
  expect(await subject(l.port, "n.test")).toBe("CN = n-one");
  managedCertificates.setValidation("m.test", undefined);
  expect(await subject(l.port, "m.test")).toBe("CN = m-one");
  // Only the plain handshakes reached the protocol.
  expect(opened.filter((a) => a === "acme-tls/1")).toEqual([]);
  expect(opened.length).toBe(2);
});
