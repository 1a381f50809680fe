/**
 * One https port, a certificate per name: curl --resolve and openssl
 * s_client -servername per name against plb, strict_sni refusing unknown
 * names, the default profile refusing CBC suites and TLS 1.1, min_version
 * = "1.3", and what --check says (expired, a name claimed twice, a pair
 * that does not match, a directory with nothing usable).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertDir, type Pair, sClient } from "../../support/certs.ts";
import { httpBackend, type HttpBackend } from "../../support/http-backends.ts";
import { freePort } from "../../support/ports.ts";
import { BUN, CLI, startPlb, writeConfig } from "../../support/plb.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const d = new CertDir();
let ca: Pair;
let shop: Pair; // example.test, www.example.test
let api: Pair; // api.example.net
let wild: Pair; // *.example.test
let backend: HttpBackend;

beforeAll(async () => {
  ca = await d.ca("ca");
  [shop, api, wild] = await Promise.all([
    d.cert("shop", { dns: ["example.test", "www.example.test"], ca }),
    d.cert("api", { dns: ["api.example.net"], ca, type: "rsa" }),
    d.cert("wild", { dns: ["*.example.test"], ca }),
  ]);
  backend = await httpBackend("A", (req, res) => res.end(`host=${req.headers.host}`));
  cleanups.push(() => backend.close());
});

async function run(cmd: string[]): Promise<{ out: string; err: string; code: number }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { out, err, code: await p.exited };
}

async function plbWith(tls: string): Promise<number> {
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${backend.port}"]
tls = ${tls}
`);
  cleanups.push(() => plb.stop());
  return port;
}

/** curl https://name:port/ with the name resolved to 127.0.0.1, trusting the test CA; the subject of the certificate it got. */
async function curl(port: number, name: string): Promise<{ body: string; subject: string | undefined; code: number }> {
  const r = await run(["curl", "-sv", "--max-time", "20", "--cacert", ca.cert, "--resolve", `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`]);
  return { body: r.out, subject: /subject: (.*)/.exec(r.err)?.[1]?.trim(), code: r.code };
}

test("certs: each name gets its certificate (curl --resolve verifies it; s_client sees it); no SNI and unknown names get the first", async () => {
  const port = await plbWith(`{ certs = [{ cert = "${shop.cert}", key = "${shop.key}" }, { cert = "${api.cert}", key = "${api.key}" }, { cert = "${wild.cert}", key = "${wild.key}" }] }`);
  for (const [name, cn] of [["example.test", "example.test"], ["www.example.test", "example.test"], ["api.example.net", "api.example.net"], ["shop.example.test", "*.example.test"]]) {
    const r = await curl(port, name);
    expect([name, r.code, r.body, r.subject]).toEqual([name, 0, `host=${name}:${port}`, `CN=${cn}`]);
    expect((await sClient(port, name)).subject).toBe(`CN = ${cn}`);
  }
  // A name no certificate covers (a wildcard is one label deep) fails curl's check: it got the default.
  expect((await sClient(port, "a.b.example.test")).subject).toBe("CN = example.test");
  expect((await curl(port, "a.b.example.test")).code).toBe(60);
  expect((await sClient(port, undefined)).subject).toBe("CN = example.test");
});

test("strict_sni: a client with an unknown name, or none, is refused in the handshake; known names work", async () => {
  const port = await plbWith(`{ certs = [{ cert = "${shop.cert}", key = "${shop.key}" }, { cert = "${api.cert}", key = "${api.key}" }], strict_sni = true }`);
  expect((await curl(port, "api.example.net")).body).toBe(`host=api.example.net:${port}`);
  for (const name of ["other.test", undefined]) {
    const h = await sClient(port, name);
    expect(h.subject).toBeUndefined();
    expect(h.output).toMatch(/alert/);
  }
  expect((await curl(port, "other.example.net")).code).not.toBe(0);
});

test("default profile: TLS 1.2 CBC suites and TLS 1.1 are refused, AEAD suites and TLS 1.3 work; min_version = \"1.3\" refuses TLS 1.2", async () => {
  const port = await plbWith(`{ cert = "${api.cert}", key = "${api.key}" }`);
  for (const cbc of ["ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256", "AES128-SHA"]) {
    expect([cbc, (await sClient(port, "api.example.net", ["-tls1_2", "-cipher", cbc])).cipher]).toEqual([cbc, undefined]);
  }
  expect((await sClient(port, "api.example.net", ["-tls1_1"])).protocol).toBeUndefined();
  expect((await sClient(port, "api.example.net", ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"])).cipher).toBe("ECDHE-RSA-CHACHA20-POLY1305");
  expect((await sClient(port, "api.example.net", ["-tls1_2"])).cipher).toMatch(/^ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  expect((await sClient(port, "api.example.net", ["-tls1_3"])).protocol).toBe("TLSv1.3");
  const modern = await plbWith(`{ cert = "${api.cert}", key = "${api.key}", min_version = "1.3" }`);
  expect((await sClient(modern, "api.example.net", ["-tls1_2"])).protocol).toBeUndefined();
  expect((await sClient(modern, "api.example.net")).protocol).toBe("TLSv1.3");
});

test("the server's TLS 1.2 suite order wins over the client's, for the default certificate and for a certificate chosen by name (testssl rates no order HIGH)", async () => {
  const port = await plbWith(`{ certs = [{ cert = "${shop.cert}", key = "${shop.key}" }, { cert = "${api.cert}", key = "${api.key}" }] }`);
  const chachaFirst = (kind: string) => [`ECDHE-${kind}-CHACHA20-POLY1305`, `ECDHE-${kind}-AES256-GCM-SHA384`, `ECDHE-${kind}-AES128-GCM-SHA256`].join(":");
  expect((await sClient(port, "example.test", ["-tls1_2", "-cipher", chachaFirst("ECDSA")])).cipher).toBe("ECDHE-ECDSA-AES128-GCM-SHA256");
  expect((await sClient(port, "api.example.net", ["-tls1_2", "-cipher", chachaFirst("RSA")])).cipher).toBe("ECDHE-RSA-AES128-GCM-SHA256");
});

test("dir: the pairs in a directory, by content; --check says what it found wrong with the line of the key", async () => {
  const dir = join(d.dir, "live");
  mkdirSync(dir);
  const expired = await d.cert("expired", { dns: ["old.example.test"], days: -1 }, { cert: join(dir, "old.crt"), key: join(dir, "old.key") });
  await d.cert("shop2", { dns: ["example.test"], ca }, { cert: join(dir, "shop.crt"), key: join(dir, "shop.key") });
  await d.cert("api2", { dns: ["api.example.net"], ca }, { cert: join(dir, "api.crt"), key: join(dir, "api.key") });
  void expired;
  const port = await plbWith(`{ dir = "${dir}" }`);
  expect((await curl(port, "api.example.net")).body).toBe(`host=api.example.net:${port}`);
  expect((await curl(port, "example.test")).body).toBe(`host=example.test:${port}`);
  // Default: the first pair by file name (api.crt).
  expect((await sClient(port, undefined)).subject).toBe("CN = api.example.net");

  const check = async (tls: string) => {
    const file = writeConfig(`[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:1"]\nservers = ["127.0.0.1:1"]\ntls = ${tls}\n`);
    const r = await run([BUN, CLI, "--check", "--config", file]);
    return { ...r, file };
  };
  const warned = await check(`{ dir = "${dir}" }`);
  expect(warned.code).toBe(0);
  expect(warned.err).toContain(`service "web": tls.dir: the certificate in ${join(dir, "old.crt")} expired on `);
  const dup = await check(`{ certs = [{ cert = "${shop.cert}", key = "${shop.key}" }, { cert = "${join(dir, "shop.crt")}", key = "${join(dir, "shop.key")}" }] }`);
  expect(dup.code).toBe(0);
  expect(dup.err).toContain(`tls.certs[1]: "example.test" is also a name of ${shop.cert} (tls.certs[0]), which serves it (the first wins)`);
  const mismatch = await check(`{ certs = [{ cert = "${shop.cert}", key = "${shop.key}" }, { cert = "${api.cert}", key = "${shop.key}" }] }`);
  expect(mismatch.code).toBe(1);
  expect(mismatch.err).toContain(`${mismatch.file}:6: service "web": tls.certs[1].key: key does not match the certificate in ${api.cert}`);
  const empty = join(d.dir, "empty");
  mkdirSync(empty);
  writeFileSync(join(empty, "notes.txt"), "nothing here");
  const none = await check(`{ dir = "${empty}" }`);
  expect(none.code).toBe(1);
  expect(none.err).toContain(`${none.file}:6: service "web": tls.dir: ${empty} holds no usable certificate and key`);
});

test("a listener paused at maxconn and resumed (Bun listens anew on the kept socket) still has every name's certificate", async () => {
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${backend.port}"]
maxconn = 1
tls = { certs = [{ cert = "${shop.cert}", key = "${shop.key}" }, { cert = "${api.cert}", key = "${api.key}" }] }
`);
  cleanups.push(() => plb.stop());
  // One client holds the only slot: plb stops accepting (Bun's listener goes, the socket stays).
  const holder = await sClientHeld(port);
  await plb.waitForLog(/service "web" at its maxconn \(1\): not accepting for now/);
  // This one waits in the listen queue until the holder leaves and plb listens again.
  const waiting = sClient(port, "api.example.net");
  holder.release();
  expect((await waiting).subject).toBe("CN = api.example.net");
  expect((await sClient(port, "www.example.test")).subject).toBe("CN = example.test");
});

/** A TLS client that keeps its connection until `release`. */
async function sClientHeld(port: number): Promise<{ release(): void }> {
  const { connect } = await import("node:tls");
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername: "example.test", rejectUnauthorized: false }, () => resolve({ release: () => s.destroy() }));
    s.once("error", reject);
  });
}
