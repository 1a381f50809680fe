/**
 * plb's smtp mode against real peers: Python's smtplib as the client,
 * aiosmtpd and Postfix as servers (tests/support/smtp/).
 */
import { afterAll, expect, test } from "bun:test";
import { startSmtpServer, type SmtpServer } from "../../support/smtp/aiosmtpd.ts";
import { sendWithSmtplib } from "../../support/smtp/clients.ts";
import { startPostfix } from "../../support/smtp/postfix.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function plbFor(servers: number[], extra = ""): Promise<{ plb: PlbProcess; port: number }> {
  const port = await freePort();
  const plb = await startPlb(`
timeout_cleanup = "500ms"
[[service]]
name = "mail"
protocol = "smtp"
timeout_smtp_greeting = "1s"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
${extra}
`);
  cleanups.push(() => plb.stop());
  return { plb, port };
}

async function server(opts: Parameters<typeof startSmtpServer>[0]): Promise<SmtpServer> {
  const s = await startSmtpServer(opts);
  cleanups.push(() => s.stop());
  return s;
}

test("messages are balanced across aiosmtpd servers, each stored exactly once and byte-exact (dot-stuffing, 8-bit, 10 MB)", async () => {
  const a = await server({ name: "a" });
  const b = await server({ name: "b" });
  const { port } = await plbFor([a.port, b.port]);
  const body = "Subject: t\r\n\r\n.leading dot\r\n8-bit: \xe9\xe8\r\nend\r\n";
  for (let i = 0; i < 6; i++) expect((await sendWithSmtplib({ port, data: body })).ok).toBe(true);
  const big = `Subject: big\r\n\r\n${`${"0123456789abcdef".repeat(4)}\r\n`.repeat(10 * 16384)}`; // 10.5 MB in 66-byte lines
  expect((await sendWithSmtplib({ port, data: big, timeout: 30 })).ok).toBe(true);
  const all = [...(await a.messages()), ...(await b.messages())];
  expect(all).toHaveLength(7);
  expect((await a.messages()).length).toBeGreaterThanOrEqual(3);
  expect((await b.messages()).length).toBeGreaterThanOrEqual(3);
  const small = all.filter((m) => m.data.length < 1000);
  for (const m of small) expect(Buffer.from(m.data).toString("latin1")).toContain(".leading dot");
  expect(all.some((m) => m.data.length >= 10 * 1024 * 1024 && m.raw.length >= m.data.length)).toBe(true);
});

test("a 421, a silent and a closed server in the pool: every client still delivers; probes end with QUIT", async () => {
  const busy = await server({ name: "busy", greeting: "421" });
  const silent = await server({ name: "silent", greeting: "silent" });
  const good = await server({ name: "good" });
  const { plb, port } = await plbFor([busy.port, silent.port, good.port], "server_retry = 10");
  for (let i = 0; i < 4; i++) expect((await sendWithSmtplib({ port })).ok).toBe(true);
  expect(await good.messages()).toHaveLength(4);
  expect(plb.log()).toMatch(/greeting 421 4\.3\.2 busy/);
  // plb's start check on the good server greeted, said QUIT and was answered
  const sessions = await good.sessions();
  expect(sessions.some((s) => s.quit && s.commands.length === 1)).toBe(true);
});

test("a server killed between messages loses none; with every server down clients get 421 at once", async () => {
  const a = await server({ name: "a2" });
  const b = await server({ name: "b2" });
  const { plb, port } = await plbFor([a.port, b.port], "server_retry = 1");
  expect((await sendWithSmtplib({ port })).ok).toBe(true);
  await a.kill();
  for (let i = 0; i < 3; i++) expect((await sendWithSmtplib({ port })).ok).toBe(true);
  expect((await a.messages()).length + (await b.messages()).length).toBe(4);
  await b.kill();
  // whether plb has met the dead servers yet or meets them now (refused: no greeting to wait
  // for), the client's greeting is a 421; timed inside Python, without the interpreter's start
  const r = await sendWithSmtplib({ port });
  expect(r.ok).toBe(false);
  expect(r.greeting).toEqual([421, "4.3.2 Service not available, closing transmission channel"]);
  console.log(`time to 421 with all servers down: ${r.greetingMs} ms`);
  expect(r.greetingMs!).toBeLessThan(5000); // not held: plb's own timeouts are not waited for
  await plb.waitForLog(new RegExp(`127.0.0.1:${b.port} of "mail" is down`));
});

test('client_address = "proxy-v2": aiosmtpd records the client\'s real address (127.0.0.2), not plb\'s', async () => {
  const a = await server({ name: "pp", proxyProtocol: true });
  const { port } = await plbFor([a.port], 'client_address = "proxy-v2"');
  expect((await sendWithSmtplib({ port, source: "127.0.0.2" })).ok).toBe(true);
  const [m] = await a.messages();
  expect(m.clientAddress).toBe("127.0.0.2");
});

test('client_address = "proxy-v2" with Postfix (smtpd_upstream_proxy_protocol = haproxy): Postfix logs the client\'s real address', async () => {
  const pf = await startPostfix({ name: "pfp", proxyProtocol: true });
  cleanups.push(() => pf.stop());
  const { port } = await plbFor([pf.port], 'client_address = "proxy-v2"');
  expect((await sendWithSmtplib({ port, source: "127.0.0.2" })).ok).toBe(true);
  const [m] = await pf.waitForMessages(1);
  expect(m.clientAddress).toBe("127.0.0.2");
});

test('client_address = "xclient" with Postfix: Postfix logs the client\'s real address', async () => {
  const pf = await startPostfix({ name: "pfx", xclient: true });
  cleanups.push(() => pf.stop());
  const { port } = await plbFor([pf.port], 'client_address = "xclient"');
  expect((await sendWithSmtplib({ port, source: "127.0.0.2" })).ok).toBe(true);
  const [m] = await pf.waitForMessages(1);
  expect(m.clientAddress).toBe("127.0.0.2");
});

test("STARTTLS passes through end to end (plb does not terminate TLS for SMTP)", async () => {
  const a = await server({ name: "tls", starttls: true });
  const { port } = await plbFor([a.port]);
  const r = await sendWithSmtplib({ port, starttls: true, cafile: a.caFile });
  expect(r.ok).toBe(true);
  expect(r.cipher).toBeTruthy();
  const [m] = await a.messages();
  expect(m.tls).toBeTruthy();
});

test('client_address = "proxy-v2" on a tcp service: a real PROXY-aware server (aiosmtpd) records the client address', async () => {
  const a = await server({ name: "tcp-pp", proxyProtocol: true });
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "raw"
protocol = "tcp"
client_address = "proxy-v2"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}"]
`);
  cleanups.push(() => plb.stop());
  expect((await sendWithSmtplib({ port, source: "127.0.0.2" })).ok).toBe(true);
  const [m] = await a.messages();
  expect(m.clientAddress).toBe("127.0.0.2");
});

test("PIPELINING and CHUNKING/BDAT pass through byte-exact (raw client, aiosmtpd)", async () => {
  const { RawSmtp } = await import("../../support/smtp/clients.ts");
  const a = await server({ name: "bdat", chunking: true });
  const { port } = await plbFor([a.port]);
  const c = await RawSmtp.connect(port);
  expect((await c.reply()).code).toBe(220);
  const ehlo = await c.command("EHLO pipe.test");
  expect(ehlo.lines.some((l) => /^CHUNKING/i.test(l))).toBe(true);
  // pipelined envelope in one write, then a binary BDAT chunk
  c.write("MAIL FROM:<a@test>\r\nRCPT TO:<b@test>\r\n");
  expect((await c.reply()).code).toBe(250);
  expect((await c.reply()).code).toBe(250);
  const body = new Uint8Array([...new TextEncoder().encode("Subject: bin\r\n\r\n"), 0xff, 0x00, 0x80, 0x0d, 0x0a]);
  c.write(`BDAT ${body.length} LAST\r\n`);
  c.write(body);
  expect((await c.reply()).code).toBe(250);
  expect((await c.command("QUIT")).code).toBe(221);
  const [m] = await a.waitForMessages(1);
  expect(Buffer.from(m.data).equals(Buffer.from(body))).toBe(true);
});

test("swaks with --pipeline delivers through plb", async () => {
  const { swaks } = await import("../../support/smtp/clients.ts");
  const a = await server({ name: "swaks" });
  const { port } = await plbFor([a.port]);
  const r = await swaks(["--server", "127.0.0.1", "--port", String(port), "--to", "b@test", "--from", "a@test", "--pipeline", "--body", "via swaks"]);
  expect(r.code).toBe(0);
  const [m] = await a.waitForMessages(1);
  expect(Buffer.from(m.data).toString()).toContain("via swaks");
});
