/**
 * A reload reads the certificate files again: new connections get the new
 * certificate while a connection opened before keeps working on the old
 * one; a file that cannot be used fails the reload, says why, and the
 * certificates in force stay.
 */
import { afterAll, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type TLSSocket } from "node:tls";
import { CertDir } from "../../support/certs.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlbFile, writeConfig } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A kept-alive HTTPS connection: one request at a time. */
class Client {
  private buf = "";
  private waiting: (() => void) | undefined;
  closed = false;
  private constructor(readonly sock: TLSSocket) {
    sock.on("data", (b) => {
      this.buf += b.toString("latin1");
      this.waiting?.();
    });
    sock.on("close", () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  static open(port: number, ca: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: "127.0.0.1", port, servername: "web.test", ca: readFileSync(ca, "utf8") }, () => resolve(new Client(sock)));
      sock.once("error", reject);
    });
  }

  get fingerprint(): string {
    return this.sock.getPeerCertificate().fingerprint256;
  }

  async get(path: string): Promise<string> {
    this.buf = "";
    this.sock.write(`GET ${path} HTTP/1.1\r\nHost: web.test\r\n\r\n`);
    const deadline = Date.now() + 20_000;
    while (!/\r\n\r\n[\s\S]*\S/.test(this.buf) && !this.closed && Date.now() < deadline) await new Promise<void>((r) => ((this.waiting = r), setTimeout(r, 200)));
    return this.buf;
  }
}

test("a reload swaps the certificate for new connections; a connection already open stays up; an unusable file keeps the old one and says why", async () => {
  const d = new CertDir();
  const ca = await d.ca("ca");
  const one = await d.cert("one", { dns: ["web.test"], ca });
  const two = await d.cert("two", { dns: ["web.test"], ca });
  // The files plb reads: "one" now, "two" after the first reload.
  const cert = d.path("live.pem");
  const key = d.path("live.key");
  copyFileSync(one.cert, cert);
  copyFileSync(one.key, key);
  const fp = async (file: string) => new (await import("node:crypto")).X509Certificate(await Bun.file(file).text()).fingerprint256;
  const backend = await httpBackend("A", (req, res) => res.end(`path=${req.url}`));
  cleanups.push(() => backend.close());
  const port = await freePort();
  const toml = `
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${backend.port}"]
tls = { cert = "${cert}", key = "${key}" }
`;
  const file = writeConfig(toml);
  const plb = await startPlbFile(file);
  cleanups.push(() => plb.stop());

  const old = await Client.open(port, ca.cert);
  cleanups.push(() => old.sock.destroy());
  expect(old.fingerprint).toBe(await fp(one.cert));
  expect(await old.get("/before")).toContain("path=/before");

  copyFileSync(two.cert, cert);
  copyFileSync(two.key, key);
  expect(await reloadWith(plb, file, toml)).toMatch(/\[reload\] reload: /);
  expect(plb.log()).toContain('[tls] service "web": new TLS settings or certificates for new connections (1 certificate(s), 1 name(s))');
  const fresh = await Client.open(port, ca.cert);
  cleanups.push(() => fresh.sock.destroy());
  expect(fresh.fingerprint).toBe(await fp(two.cert));
  expect(await fresh.get("/new")).toContain("path=/new");
  // The connection from before the reload is still up, on the old certificate.
  expect(old.closed).toBe(false);
  expect(await old.get("/after")).toContain("path=/after");
  expect(old.fingerprint).toBe(await fp(one.cert));

  // A key that does not match: the reload fails, naming the key; the certificate in force stays.
  copyFileSync(one.key, key);
  const failed = await reloadWith(plb, file, toml);
  expect(failed).toMatch(/reload failed/);
  expect(plb.log()).toContain(`service "web": tls.key: key does not match the certificate in ${cert}`);
  const still = await Client.open(port, ca.cert);
  cleanups.push(() => still.sock.destroy());
  expect(still.fingerprint).toBe(await fp(two.cert));
  expect(await still.get("/still")).toContain("path=/still");
  writeFileSync(key, await Bun.file(two.key).text());
});
