/**
 * plb gets its certificates by itself: a real plb with `tls = { acme =
 * [two names] }` against Debian's pebble (nonce rejection at its default
 * 5 %). HTTP-01 is answered by plb's own plain http service on the port
 * pebble is told, before its routes (the backend behind it never sees a
 * pending token), or, without a plain http service, TLS-ALPN-01 on plb's
 * own TLS listener (the port pebble is told); each name's certificate verifies against pebble's root
 * with curl and openssl; a restart serves the stored certificate with no
 * new order; a name that cannot be validated is served a placeholder; a
 * renewal replaces the certificate for new connections while an open one
 * keeps working; /metrics, /status.json and the status page show the names.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type PeerCertificate, type TLSSocket } from "node:tls";
import { launchChromium } from "../../support/chromium.ts";
import { pem, selfSigned } from "../../../src/acme/certs.ts";
import { generateKey, keyToPem } from "../../../src/acme/keys.ts";
import { AcmeStorage } from "../../../src/acme/storage.ts";
import { httpBackend, type HttpBackend, rawHttp } from "../../support/http-backends.ts";
import { type Pebble, startPebble } from "../../support/pebble.ts";
import { BUN, CLI, type PlbProcess, startPlbFile, tempDir, writeConfig } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { reloadWith } from "../../support/reload.ts";
import { curlName, getOverSClient } from "../../support/tls-peers.ts";
import { until } from "../../support/until.ts";

let pebble: Pebble;
let rootFile: string;
let backend: HttpBackend;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  pebble = await startPebble();
  const dir = tempDir("plb-acme-wire-");
  rootFile = join(dir, "root.pem");
  writeFileSync(rootFile, await pebble.root());
  writeFileSync(join(dir, "pebble-ca.pem"), pebble.ca);
  backend = await httpBackend("app");
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await backend?.close();
  pebble?.stop();
});

interface Setup {
  readonly storage: string;
  readonly names: readonly string[];
  readonly tlsPort: number;
  readonly statsPort: number;
  readonly file: string;
}

/** A configuration: the plain http service on pebble's HTTP-01 port, an https service with tls.acme, [stats]. */
async function setup(names: readonly string[], storage = tempDir("plb-acme-storage-"), o: { plain?: boolean; tlsPort?: number; globals?: string } = {}): Promise<Setup> {
  const [freeTls, statsPort] = await freePorts(2);
  const tlsPort = o.tlsPort ?? freeTls;
  const plain = o.plain === false ? "" : `[[service]]
name = "plain"
protocol = "http"
listen = ["127.0.0.1:${pebble.httpPort}"]
servers = ["127.0.0.1:${backend.port}"]
`;
  const caFile = join(tempDir(), "pebble-ca.pem");
  writeFileSync(caFile, pebble.ca);
  const file = writeConfig(`${o.globals ?? ""}
[acme]
directory = "${pebble.directory}"
directory_ca = "${caFile}"
storage = "${storage}"
email = "ops@example.com"

[stats]
listen = "127.0.0.1:${statsPort}"

${plain}
[[service]]
name = "secure"
protocol = "http"
listen = ["127.0.0.1:${tlsPort}"]
servers = ["127.0.0.1:${backend.port}"]
timeout_http_request = "90s"   # the renewal test keeps a connection idle across the renewal
tls = { acme = [${names.map((n) => JSON.stringify(n)).join(", ")}] }
`);
  return { storage, names, tlsPort, statsPort, file };
}

async function run(s: Setup): Promise<PlbProcess> {
  const plb = await startPlbFile(s.file);
  cleanups.push(() => plb.stop());
  return plb;
}

/** The certificate plb serves for `name` on `port` (not verified). */
function peer(port: number, name: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername: name, rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate();
      s.destroy();
      resolve(c);
    });
    s.once("error", reject);
  });
}

const json = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).json() as Promise<{ acme?: Record<string, unknown>[] }>;
const metrics = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const challengePaths = () => backend.seen.filter((r) => r.url.startsWith("/.well-known/acme-challenge/")).map((r) => r.url);

test("two names over HTTP-01 answered by plb's plain http service; each verifies against pebble's root (curl, openssl); the backend never sees a pending token; metrics and status.json show them; a restart serves the stored certificate with no new order", async () => {
  const s = await setup(["a.test", "www.a.test"]);
  const plb = await run(s);
  const line = await plb.waitForLog(/certificate issued by/, 40_000);
  expect(line).toContain("a.test by http-01");
  expect(line).toContain("www.a.test by http-01");
  // pebble fetched the tokens from plb: none reached the backend.
  expect(challengePaths()).toEqual([]);

  for (const name of s.names) {
    const curl = await curlName(name, s.tlsPort, rootFile);
    expect(curl.stderr).toBe("");
    expect(curl.stdout).toBe("app");
    const ssl = await getOverSClient(s.tlsPort, name, rootFile);
    expect(ssl).toContain("app");
    expect(ssl).toContain("verify return:1");
    expect(ssl).not.toContain("verify error");
  }
  // An unknown token is not plb's: it goes to the routes (here the backend).
  expect(await rawHttp(pebble.httpPort, "GET /.well-known/acme-challenge/unknownToken123 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")).toContain("app");
  expect(challengePaths()).toEqual(["/.well-known/acme-challenge/unknownToken123"]);

  const m = await metrics(s.statsPort);
  expect(m).toContain('plb_acme_orders_total{result="issued"} 1');
  expect(m).toContain('plb_acme_orders_total{result="failed"} 0');
  const expiry = Number(/plb_tls_certificate_expiry_seconds\{name="www\.a\.test"\} (\S+)/.exec(m)?.[1]);
  expect(expiry).toBeGreaterThan(Date.now() / 1000 + 86_400);
  const status = await json(s.statsPort, "/status.json");
  expect(status.acme?.map((n) => [n.name, n.state, n.source, n.last_error])).toEqual([
    ["a.test", "valid", "issued", null],
    ["www.a.test", "valid", "issued", null],
  ]);
  expect(String(status.acme?.[0].issuer)).toContain("Pebble Intermediate CA");
  const served = (await peer(s.tlsPort, "a.test")).fingerprint256;
  expect(await plb.stop()).toBe(0);

  // Restart on the same storage: served at once, no order.
  const again = await run(s);
  await again.waitForLog(/serving the stored certificate/);
  expect((await peer(s.tlsPort, "a.test")).fingerprint256).toBe(served);
  expect((await curlName("www.a.test", s.tlsPort, rootFile)).stdout).toBe("app");
  expect(await metrics(s.statsPort)).toContain('plb_acme_orders_total{result="issued"} 0');
  expect(again.log()).not.toContain("certificate issued");
  expect(again.log()).not.toContain("placeholder");
  expect(await again.stop()).toBe(0);
}, 90_000);

test("a name that cannot be validated is served a self-signed placeholder (logged), and the failure shows in status.json and the metrics", async () => {
  // p.test resolves to 127.0.0.3 for pebble, where nothing answers: validation fails.
  await pebble.setA("p.test", ["127.0.0.3"]);
  cleanups.push(() => pebble.clearA("p.test"));
  const s = await setup(["p.test"]);
  const plb = await run(s);
  await plb.waitForLog(/p\.test: no certificate yet, serving a self-signed placeholder/);
  await plb.waitForLog(/p\.test: order failed \(1 in a row\)/, 40_000);
  const c = await peer(s.tlsPort, "p.test");
  expect(c.subject.CN).toBe("p.test");
  expect(c.issuer.CN).toBe("p.test"); // self-signed
  expect((await curlName("p.test", s.tlsPort, rootFile)).code).not.toBe(0);
  const status = await json(s.statsPort, "/status.json");
  expect(status.acme?.map((n) => [n.name, n.state, n.source])).toEqual([["p.test", "placeholder", "placeholder"]]);
  expect(String(status.acme?.[0].last_error)).toContain("p.test");
  expect(status.acme?.[0].next_attempt).not.toBeNull();
  expect(await metrics(s.statsPort)).toContain('plb_acme_orders_total{result="failed"} 1');
  // The status page (headless chromium) has the name in its certificates table, with the error.
  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${s.statsPort}/`);
  await page.waitForSelector('#certificates tr[data-name="p.test"]', { timeout: 15_000 });
  const row = await page.$eval('#certificates tr[data-name="p.test"]', (tr) => tr.textContent ?? "");
  expect(row).toContain("placeholder");
  expect(row).toContain(String(status.acme?.[0].last_error).slice(0, 40));
  expect(errors).toEqual([]);
  await browser.close();
  expect(await plb.stop()).toBe(0);
}, 90_000);

test("renewal: a stored certificate reaching two thirds of its life is replaced for new connections; a connection opened before keeps its certificate and keeps working", async () => {
  const storage = tempDir("plb-acme-renew-");
  const names = ["r.test"];
  // Two thirds of a 45 s life: 20 s from now, time for plb to start and the test to connect first.
  const key = generateKey("ecdsa");
  const now = Date.now();
  const old = pem("CERTIFICATE", selfSigned({ names, key, notBefore: new Date(now - 10_000), notAfter: new Date(now + 35_000) }));
  new AcmeStorage(storage).writeCertificate(names, old, keyToPem(key), pebble.directory);
  const s = await setup(names, storage);
  const plb = await run(s);
  await plb.waitForLog(/r\.test: serving the stored certificate/);

  const live: TLSSocket = connect({ host: "127.0.0.1", port: s.tlsPort, servername: "r.test", rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    live.once("secureConnect", () => resolve());
    live.once("error", reject);
  });
  const before = live.getPeerCertificate();
  expect(before.issuer.CN).toBe("r.test"); // the stored self-signed one
  let got = "";
  live.on("data", (b) => (got += String(b)));
  live.write("GET /first HTTP/1.1\r\nHost: r.test\r\n\r\n");
  await until(() => got.endsWith("app"), "the first answer on the open connection");

  await plb.waitForLog(/r\.test: certificate issued by/, 60_000);
  const after = await peer(s.tlsPort, "r.test");
  expect(after.fingerprint256).not.toBe(before.fingerprint256);
  expect(after.issuer.CN).toContain("Pebble Intermediate CA");
  expect((await curlName("r.test", s.tlsPort, rootFile)).stdout).toBe("app");

  // The connection from before the renewal still works, with its certificate.
  got = "";
  live.write("GET /second HTTP/1.1\r\nHost: r.test\r\n\r\n");
  await until(() => got.endsWith("app"), "the second answer on the open connection");
  expect(live.getPeerCertificate().fingerprint256).toBe(before.fingerprint256);
  live.destroy();
  expect(backend.seen.map((r) => r.url)).toContain("/second");
  expect(await plb.stop()).toBe(0);
}, 120_000);

test("TLS-ALPN-01 on plb's own TLS listener when there is no plain http service: both names issued, verified per name; the validation handshakes reach no backend", async () => {
  const s = await setup(["t.test", "www.t.test"], undefined, { plain: false, tlsPort: pebble.tlsPort });
  const seenBefore = backend.seen.length;
  const plb = await run(s);
  const line = await plb.waitForLog(/t\.test.*: certificate issued by/, 40_000);
  expect(line).toContain("t.test by tls-alpn-01");
  expect(line).toContain("www.t.test by tls-alpn-01");
  expect(plb.log()).toMatch(/closed: a TLS-ALPN-01 validation handshake \(acme-tls\/1\)/);
  expect(backend.seen.length).toBe(seenBefore);
  for (const name of s.names) {
    const curl = await curlName(name, s.tlsPort, rootFile);
    expect(curl.stderr).toBe("");
    expect(curl.stdout).toBe("app");
    const ssl = await getOverSClient(s.tlsPort, name, rootFile);
    expect(ssl).toContain("verify return:1");
    expect(ssl).not.toContain("verify error");
  }
  expect(await plb.stop()).toBe(0);
}, 90_000);

test("workers = 2: only the master orders (one issuance, one account), every worker serves the certificate and answers HTTP-01", async () => {
  const s = await setup(["k.test", "www.k.test"], undefined, { globals: "workers = 2" });
  const plb = await run(s);
  await plb.waitForLog(/workers running/);
  const line = await plb.waitForLog(/k\.test.*: certificate issued by/, 40_000);
  expect(line).toContain("[master]");
  expect(line).toContain("k.test by http-01");
  expect(challengePaths().filter((p) => !p.endsWith("unknownToken123"))).toEqual([]);
  // SO_REUSEPORT spreads connections over both workers: all of them verify.
  for (let i = 0; i < 8; i++) {
    const name = s.names[i % 2];
    const curl = await curlName(name, s.tlsPort, rootFile);
    expect(curl.stderr).toBe("");
    expect(curl.stdout).toBe("app");
  }
  expect(plb.log().match(/certificate issued by/g)?.length).toBe(1);
  expect(plb.log().match(/account .* registered/g)?.length).toBe(1);
  const status = await json(s.statsPort, "/status.json");
  expect(status.acme?.map((n) => [n.name, n.state])).toEqual([
    ["k.test", "valid"],
    ["www.k.test", "valid"],
  ]);
  expect(await plb.stop()).toBe(0);
}, 90_000);

test.skipIf(process.getuid?.() !== 0)("chroot and privilege drop: the storage inside chroot_dir is written by the user plb runs as, after the chroot", async () => {
  const root = tempDir("plb-acme-chroot-");
  chmodSync(root, 0o755);
  const storage = join(root, "var/lib/plb/acme");
  mkdirSync(storage, { recursive: true, mode: 0o755 });
  chmodSync(storage, 0o700);
  chownSync(storage, 65534, 65534);
  const s = await setup(["c.test"], storage, { globals: `user = "nobody"\ngroup = "nogroup"\nchroot_dir = "${root}"` });
  const plb = await run(s);
  await plb.waitForLog(/running as nobody/);
  await plb.waitForLog(/c\.test: certificate issued by/, 40_000);
  const curl = await curlName("c.test", s.tlsPort, rootFile);
  expect(curl.stderr).toBe("");
  expect(curl.stdout).toBe("app");
  const key = statSync(join(storage, "certificates/c.test/key.pem"));
  expect([key.uid, key.mode & 0o777]).toEqual([65534, 0o600]);
  expect(statSync(join(storage, "certificates/c.test/chain.pem")).uid).toBe(65534);
  expect(await plb.stop()).toBe(0);
}, 90_000);

test("--check: storage outside chroot_dir is refused, naming acme.storage", async () => {
  const root = tempDir("plb-acme-chroot-");
  const s = await setup(["o.test"], tempDir("plb-acme-outside-"), { globals: `user = "nobody"\nchroot_dir = "${root}"` });
  const p = Bun.spawn([BUN, CLI, "--config", s.file, "--check"], { stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  expect(code).not.toBe(0);
  expect(err).toContain(`acme.storage: `);
  expect(err).toContain(`is outside chroot_dir ${root}`);
});

test("a reload keeps the manager: a new service's names are ordered, the unchanged names keep their certificate with no new order", async () => {
  const s = await setup(["e.test"]);
  const plb = await run(s);
  await plb.waitForLog(/e\.test: certificate issued by/, 40_000);
  const first = (await peer(s.tlsPort, "e.test")).fingerprint256;
  const [port2] = await freePorts(1);
  const more = `${readFileSync(s.file, "utf8")}
[[service]]
name = "secure2"
protocol = "http"
listen = ["127.0.0.1:${port2}"]
servers = ["127.0.0.1:${backend.port}"]
tls = { acme = ["f.test"] }
`;
  expect(await reloadWith(plb, s.file, more)).toContain("reload: ");
  await plb.waitForLog(/f\.test: certificate issued by/, 40_000);
  expect((await curlName("f.test", port2, rootFile)).stdout).toBe("app");
  expect((await peer(s.tlsPort, "e.test")).fingerprint256).toBe(first);
  expect(plb.log().match(/e\.test: certificate issued by/g)?.length).toBe(1);
  expect(await plb.stop()).toBe(0);
}, 90_000);
