/**
 * Client certificates at the edge with curl --cert: client_verify =
 * "required" refuses a client without a valid certificate before anything
 * reaches a server (also on a tcp service); "optional" lets it in, tells
 * the server in X-Client-Cert-* fields no client can forge, and a route
 * with client_cert answers 403 to a request without the certificate it
 * requires while other paths do without one.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { CertDir, type Pair, sClient } from "../../support/certs.ts";
import { httpBackend, type HttpBackend } from "../../support/http-backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const d = new CertDir();
let ca: Pair;
let server: Pair;
let alice: Pair; // signed by ca
let rogue: Pair; // self-signed
let backend: HttpBackend;

beforeAll(async () => {
  ca = await d.ca("clients-ca");
  [server, alice, rogue] = await Promise.all([
    d.cert("server", { dns: ["web.test"], ca }),
    d.cert("alice", { subject: "/CN=alice/O=Example", dns: ["alice.example"], ca, client: true }),
    d.cert("rogue", { subject: "/CN=alice/O=Example", dns: ["alice.example"], client: true }),
  ]);
  backend = await httpBackend("A", (req, res) => res.end(`path=${req.url}`));
  cleanups.push(() => backend.close());
});

async function run(cmd: string[]): Promise<{ out: string; err: string; code: number }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { out, err, code: await p.exited };
}

async function service(tls: string, extra = "", servers = `["127.0.0.1:${backend.port}"]`, protocol = "http"): Promise<number> {
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "edge"
protocol = "${protocol}"
listen = ["127.0.0.1:${port}"]
servers = ${servers}
tls = ${tls}
${extra}
`);
  cleanups.push(() => plb.stop());
  return port;
}

/** curl https://web.test:port/path with the client certificate `who` (undefined: none) and `headers`; status and body. */
async function curl(port: number, path: string, who: Pair | undefined, headers: string[] = []): Promise<{ status: string; body: string; code: number }> {
  const cert = who ? ["--cert", who.cert, "--key", who.key] : [];
  const h = headers.flatMap((x) => ["-H", x]);
  const r = await run(["curl", "-s", "--max-time", "20", "--cacert", ca.cert, "--resolve", `web.test:${port}:127.0.0.1`, ...cert, ...h, "-w", "\n%{http_code}", `https://web.test:${port}${path}`]);
  const lines = r.out.split("\n");
  return { status: lines.pop() ?? "", body: lines.join("\n"), code: r.code };
}

test("required: no certificate or one from another CA gets no request through; a valid one does", async () => {
  const port = await service(`{ cert = "${server.cert}", key = "${server.key}", client_ca = "${ca.cert}" }`);
  const before = backend.seen.length;
  const none = await curl(port, "/", undefined);
  expect(none.status).toBe("000");
  expect(none.code).not.toBe(0);
  const bad = await curl(port, "/", rogue);
  expect(bad.status).toBe("000");
  // TLS 1.2 too: Bun completes the handshake with a certificate that does not verify; plb closes the connection before anything is relayed.
  const tls12 = await sClient(port, "web.test", ["-tls1_2", "-cert", rogue.cert, "-key", rogue.key], "GET /rogue HTTP/1.1\r\nHost: web.test\r\n\r\n", "closed", 5_000);
  expect(tls12.output).not.toContain("HTTP/1.1");
  expect(backend.seen.length).toBe(before);
  expect(await curl(port, "/ok", alice)).toEqual({ status: "200", body: "path=/ok", code: 0 });
  expect(backend.seen.at(-1)!.headers["x-client-cert-verified"]).toBe("SUCCESS");
});

test("required on a tcp service: a client without a valid certificate never reaches the server (TLS 1.3 lets it finish its handshake first)", async () => {
  let received = "";
  const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, b) => void ((received += b.toString()), s.write(b)) } });
  cleanups.push(() => echo.stop(true));
  const port = await service(`{ cert = "${server.cert}", key = "${server.key}", client_ca = "${ca.cert}" }`, "", `["127.0.0.1:${echo.port}"]`, "tcp");
  // The rogue client's handshake ends (TLS 1.3) before plb closes it; its bytes go nowhere.
  const refused = await sClient(port, "web.test", ["-cert", rogue.cert, "-key", rogue.key], "secret\n", "closed", 5_000);
  expect(refused.output).not.toMatch(/^secret/m);
  const ok = await sClient(port, "web.test", ["-cert", alice.cert, "-key", alice.key], "hello\n", "\nhello\n");
  expect(ok.output).toContain("\nhello\n");
  expect(received).toBe("hello\n");
});

test("optional: the server learns the certificate in fields a client cannot forge; /admin/ requires one (403), / does not", async () => {
  const port = await service(
    `{ cert = "${server.cert}", key = "${server.key}", client_ca = "${ca.cert}", client_verify = "optional" }`,
    `[[service.route]]\npath = "/admin/"\nclient_cert = { san = "alice.example" }\n[[service.route]]\npath = "/"\n`,
  );
  const forged = ["X-Client-Cert-Verified: SUCCESS", "X-Client-Cert-Subject: CN=admin", "X-Client-Cert: forged", "x-client-cert-fingerprint: 00"];
  expect(await curl(port, "/", undefined, forged)).toEqual({ status: "200", body: "path=/", code: 0 });
  let h = backend.seen.at(-1)!.headers;
  expect(h["x-client-cert-verified"]).toBe("NONE");
  expect([h["x-client-cert-subject"], h["x-client-cert"], h["x-client-cert-fingerprint"]]).toEqual([undefined, undefined, undefined]);

  const n = backend.seen.length;
  const denied = await curl(port, "/admin/users", undefined, forged);
  expect(denied.status).toBe("403");
  expect(denied.body).toContain("client certificate");
  expect((await curl(port, "/admin/users", rogue, forged)).status).toBe("403");
  expect(backend.seen.length).toBe(n);
  expect(await curl(port, "/", rogue)).toEqual({ status: "200", body: "path=/", code: 0 });
  expect(backend.seen.at(-1)!.headers["x-client-cert-verified"]).toBe("FAILED");

  expect(await curl(port, "/admin/users", alice, forged)).toEqual({ status: "200", body: "path=/admin/users", code: 0 });
  h = backend.seen.at(-1)!.headers;
  const pem = await Bun.file(alice.cert).text();
  expect(h["x-client-cert-verified"]).toBe("SUCCESS");
  expect(h["x-client-cert-subject"]).toBe("O=Example,CN=alice");
  expect(h["x-client-cert-issuer"]).toBe("CN=clients-ca");
  expect(h["x-client-cert-fingerprint"]).toBe(new Bun.CryptoHasher("sha256").update(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64")).digest("hex"));
  expect(decodeURIComponent(String(h["x-client-cert"])).trim()).toBe(pem.trim());
});

test("a plain-text client on a TLS port is never relayed (its bytes are not a handshake)", async () => {
  let received = "";
  const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, b) => void ((received += b.toString()), s.write(b)) } });
  cleanups.push(() => echo.stop(true));
  const port = await service(`{ cert = "${server.cert}", key = "${server.key}" }`, "", `["127.0.0.1:${echo.port}"]`, "tcp");
  const got = await new Promise<string>((resolve) => {
    let text = "";
    const s = connect(port, "127.0.0.1", () => s.write("hello plain\r\n"));
    s.on("data", (b) => (text += b.toString("latin1")));
    s.on("close", () => resolve(text));
    s.on("error", () => {});
    setTimeout(() => s.destroy(), 15_000);
  });
  expect(got).not.toContain("hello plain");
  expect(received).toBe("");
});
