/**
 * `tls` on tcp and smtp services: implicit TLS, terminated by plb, plain to
 * the servers. smtp (port 465 style): Python's smtplib.SMTP_SSL against
 * aiosmtpd servers behind plb; greeting fail-over and XCLIENT work as on a
 * plain service; swaks --tlsc to Postfix. tcp (IMAPS-like): openssl s_client to an echo server.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CertDir, type Pair, sClient } from "../../support/certs.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";
import { startSmtpServer, type SmtpServer } from "../../support/smtp/aiosmtpd.ts";
import { sendWithSmtplib, swaks } from "../../support/smtp/clients.ts";
import { startPostfix } from "../../support/smtp/postfix.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const d = new CertDir();
let ca: Pair;
let mail: Pair;
let imap: Pair;

beforeAll(async () => {
  ca = await d.ca("ca");
  [mail, imap] = await Promise.all([d.cert("mail", { dns: ["mail.test"], ca }), d.cert("imap", { dns: ["imap.test"], ca })]);
});

async function server(opts: Parameters<typeof startSmtpServer>[0]): Promise<SmtpServer> {
  const s = await startSmtpServer(opts);
  cleanups.push(() => s.stop());
  return s;
}

test("smtp with tls: SMTP_SSL delivers byte-exact through plb; the server side is plain, gets the client by XCLIENT, and a 421 server is failed over", async () => {
  const busy = await server({ name: "busy", greeting: "421" });
  const good = await server({ name: "good", xclient: true });
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "submissions"
protocol = "smtp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${busy.port}", "127.0.0.1:${good.port}"]
balance = "first"
client_address = "xclient"
server_retry = 10
timeout_smtp_greeting = "2s"
tls = { cert = "${mail.cert}", key = "${mail.key}" }
`);
  cleanups.push(() => plb.stop());
  const body = "Subject: over TLS\r\n\r\n.leading dot\r\n8-bit: \xe9\r\nend\r\n";
  const r = await sendWithSmtplib({ port, ssl: true, cafile: ca.cert, data: body, source: "127.0.0.3" });
  expect(r.error).toBeNull();
  expect(r.ok).toBe(true);
  expect(r.greeting?.[0]).toBe(220);
  expect(r.greeting?.[1]).toContain("good");
  expect(r.cipher).toMatch(/^TLS_/);
  const [m] = await good.waitForMessages(1);
  expect(Buffer.from(m.data).equals(Buffer.from(body))).toBe(true);
  expect(m.tls).toBe(false);
  expect(m.xclient?.ADDR).toBe("127.0.0.3");
  expect(m.clientAddress).toBe("127.0.0.3");
  expect(await busy.messages()).toEqual([]);
  // A plain SMTP client on the TLS port gets no greeting.
  const plain = await sendWithSmtplib({ port, timeout: 3 });
  expect(plain.ok).toBe(false);
  expect(plain.greeting).toBeNull();
});

test("smtp with tls and client_address = \"proxy-v2\": the server gets the client in a PROXY header before the plain session", async () => {
  const behind = await server({ name: "behind-proxy", proxyProtocol: true });
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "submissions"
protocol = "smtp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${behind.port}"]
client_address = "proxy-v2"
tls = { cert = "${mail.cert}", key = "${mail.key}" }
`);
  cleanups.push(() => plb.stop());
  const r = await sendWithSmtplib({ port, ssl: true, cafile: ca.cert, source: "127.0.0.4" });
  expect(r.error).toBeNull();
  const [m] = await behind.waitForMessages(1);
  expect([m.proxy?.valid, m.proxy?.version, m.proxy?.srcAddr]).toEqual([true, 2, "127.0.0.4"]);
  expect(m.clientAddress).toBe("127.0.0.4");
  expect(m.tls).toBe(false);
});

test("tcp with tls (IMAPS-like): the client speaks TLS, the server sees plain bytes", async () => {
  let received = "";
  const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, b) => void ((received += b.toString()), s.write(b)) } });
  cleanups.push(() => echo.stop(true));
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "imaps"
protocol = "tcp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${echo.port}"]
tls = { cert = "${imap.cert}", key = "${imap.key}" }
`);
  cleanups.push(() => plb.stop());
  const h = await sClient(port, "imap.test", ["-CAfile", ca.cert, "-verify_return_error"], "a1 CAPABILITY\n", "\na1 CAPABILITY\n");
  expect(h.protocol).toBe("TLSv1.3");
  expect(h.output).toContain("Verify return code: 0 (ok)");
  expect(h.output).toContain("\na1 CAPABILITY\n");
  expect(received).toBe("a1 CAPABILITY\n");
  // No ALPN on tcp: the protocol gives none.
  expect(h.alpn).toBeUndefined();
});

test('swaks --tlsc (implicit TLS, port 465 style) through plb to Postfix with client_address = "xclient": delivered, Postfix logs the client\'s address and saw no TLS itself', async () => {
  const pf = await startPostfix({ name: "pftlsc", xclient: true });
  cleanups.push(() => pf.stop());
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "submissions"
protocol = "smtp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${pf.port}"]
client_address = "xclient"
tls = { cert = "${mail.cert}", key = "${mail.key}" }
`);
  cleanups.push(() => plb.stop());
  const r = await swaks([
    "--server", "127.0.0.1", "--port", String(port), "--local-interface", "127.0.0.2",
    "--to", "rcpt@server.test", "--from", "a@client.test", "--tlsc", "--tls-verify", "--tls-ca-path", ca.cert, "--tls-sni", "mail.test",
    "--body", "via swaks and implicit TLS at plb",
  ]);
  expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
  // everything, the greeting included, went inside TLS ("~" lines)
  expect(r.stdout).toMatch(/<~ +220 /);
  expect(r.stdout).toMatch(/\n ~> MAIL FROM:<a@client\.test>\n<~ +250 /);
  const [m] = await pf.waitForMessages(1);
  expect(m.clientAddress).toBe("127.0.0.2");
  expect(Buffer.from(m.data).toString()).toContain("via swaks and implicit TLS at plb");
  expect(await pf.log()).not.toMatch(/TLS connection established/);
});
