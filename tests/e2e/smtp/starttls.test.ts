/**
 * STARTTLS terminated at plb (starttls = { cert, key }): real clients
 * (Python's smtplib, swaks, a scripted raw client doing real TLS) in front,
 * aiosmtpd and Postfix behind, the servers plain.
 */
import { afterAll, expect, test } from "bun:test";
import { startSmtpServer, type SmtpServer, type SmtpSession } from "../../support/smtp/aiosmtpd.ts";
import { scriptedSession, sendWithSmtplib, swaks } from "../../support/smtp/clients.ts";
import { startPostfix } from "../../support/smtp/postfix.ts";
import { testCert } from "../../support/smtp/tls.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function plbFor(servers: number[], extra = ""): Promise<{ plb: PlbProcess; port: number; cafile: string }> {
  const { cert, key } = await testCert();
  const port = await freePort();
  const plb = await startPlb(`
timeout_cleanup = "500ms"
[[service]]
name = "mail"
protocol = "smtp"
balance = "first"
timeout_smtp_greeting = "1s"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
starttls = { cert = "${cert}", key = "${key}" }
${extra}
`);
  cleanups.push(() => plb.stop());
  return { plb, port, cafile: cert };
}

async function server(opts: Parameters<typeof startSmtpServer>[0]): Promise<SmtpServer> {
  const s = await startSmtpServer(opts);
  cleanups.push(() => s.stop());
  return s;
}

const keywords = (ehloText: string): string[] => ehloText.split("\n").slice(1).map((l) => l.trim().toUpperCase());

/** The closed sessions of clients (plb's start check says only QUIT). */
async function clientSessions(a: SmtpServer, n: number): Promise<SmtpSession[]> {
  const of = (all: SmtpSession[]) => all.filter((x) => !x.open && x.commands.join() !== "QUIT");
  return of(await a.waitForSessions((all) => of(all).length >= n));
}

test("smtplib's starttls() through plb to a plain aiosmtpd: TLS with plb, STARTTLS offered only before it, the message byte-exact", async () => {
  const a = await server({ name: "plain" });
  const { port, cafile } = await plbFor([a.port]);
  const body = "Subject: t\r\n\r\n.leading dot\r\n8-bit: \xe9\xe8\r\nend\r\n";
  const r = await sendWithSmtplib({ port, starttls: true, cafile, data: body });
  expect(r.error).toBeNull();
  expect(r.ok).toBe(true);
  expect(r.starttls).toEqual([220, "2.0.0 Ready to start TLS"]);
  expect(r.cipher).toBeTruthy();
  // aiosmtpd offers no STARTTLS: plb adds it before TLS, and offers it no more inside TLS.
  expect(keywords(r.ehloPlain![1])).toContain("STARTTLS");
  expect(keywords(r.ehlo![1])).not.toContain("STARTTLS");
  expect(keywords(r.ehlo![1])).toContain("8BITMIME"); // the server's own extensions pass
  const [m] = await a.waitForMessages(1);
  expect(m.tls).toBe(false); // the server side stays plain
  expect(Buffer.from(m.data).equals(Buffer.from(body))).toBe(true);
  const [s] = await clientSessions(a, 1);
  // The server saw the client's EHLO before and after TLS, never STARTTLS.
  expect(s.commands.slice(0, 3)).toEqual(["EHLO", "EHLO", "MAIL"]);
  expect(s.commands).not.toContain("STARTTLS");
});

test("a 10 MB message through TLS at plb arrives whole", async () => {
  const a = await server({ name: "big" });
  const { port, cafile } = await plbFor([a.port]);
  const big = `Subject: big\r\n\r\n${`${"0123456789abcdef".repeat(4)}\r\n`.repeat(10 * 16384)}`;
  const r = await sendWithSmtplib({ port, starttls: true, cafile, data: big, timeout: 30 });
  expect(r.error).toBeNull();
  const [m] = await a.waitForMessages(1);
  expect(m.data.length).toBe(big.length);
  expect(Buffer.from(m.data).toString("latin1")).toBe(big);
});

test("a server that offers STARTTLS itself: the client sees plb's one STARTTLS line, the server never gets the command", async () => {
  const a = await server({ name: "own-tls", starttls: true });
  const { port, cafile } = await plbFor([a.port]);
  const r = await sendWithSmtplib({ port, starttls: true, cafile });
  expect(r.error).toBeNull();
  expect(keywords(r.ehloPlain![1]).filter((k) => k === "STARTTLS")).toHaveLength(1);
  expect(keywords(r.ehloPlain![1]).at(-1)).toBe("STARTTLS");
  expect(keywords(r.ehlo![1])).not.toContain("STARTTLS");
  const [s] = await clientSessions(a, 1);
  expect(s.commands).not.toContain("STARTTLS");
  expect(s.tls).toBe(false);
});

test("greeting fail-over still works with starttls: a 421, a silent and a closed server before the good one", async () => {
  const busy = await server({ name: "busy", greeting: "421" });
  const silent = await server({ name: "silent", greeting: "silent" });
  const closed = await server({ name: "closed", greeting: "close" });
  const good = await server({ name: "good" });
  const { port, cafile } = await plbFor([busy.port, silent.port, closed.port, good.port], "server_retry = 10");
  for (let i = 0; i < 2; i++) {
    const r = await sendWithSmtplib({ port, starttls: true, cafile });
    expect(r.error).toBeNull();
    expect(r.greeting![0]).toBe(220);
  }
  expect(await good.waitForMessages(2)).toHaveLength(2);
});

test('client_address = "xclient" (aiosmtpd): the server learns the client\'s address before the greeting, TLS or not', async () => {
  const a = await server({ name: "xc", xclient: true });
  const { port, cafile } = await plbFor([a.port], 'client_address = "xclient"');
  const r = await sendWithSmtplib({ port, starttls: true, cafile, source: "127.0.0.2" });
  expect(r.error).toBeNull();
  const [m] = await a.waitForMessages(1);
  expect(m.clientAddress).toBe("127.0.0.2");
  expect(m.xclient?.ADDR).toBe("127.0.0.2");
});

test('swaks --tls through plb to Postfix with client_address = "xclient": delivered, Postfix logs the client\'s address', async () => {
  const pf = await startPostfix({ name: "pftls", xclient: true });
  cleanups.push(() => pf.stop());
  const { port, cafile } = await plbFor([pf.port], 'client_address = "xclient"');
  const r = await swaks([
    "--server", "127.0.0.1", "--port", String(port), "--local-interface", "127.0.0.2",
    "--to", "rcpt@server.test", "--from", "a@client.test", "--tls", "--tls-verify", "--tls-ca-path", cafile, "--tls-sni", "localhost",
    "--body", "via swaks and TLS at plb",
  ]);
  expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
  // swaks marks what went inside TLS with "~": plb's 220, then the EHLO and the mail inside TLS.
  expect(r.stdout).toMatch(/<- +220 2\.0\.0 Ready to start TLS\n ~> EHLO /);
  expect(r.stdout).toMatch(/\n ~> MAIL FROM:<a@client\.test>\n<~ +250 /);
  const [m] = await pf.waitForMessages(1);
  expect(m.clientAddress).toBe("127.0.0.2");
  expect(Buffer.from(m.data).toString()).toContain("via swaks and TLS at plb");
});

test('smtplib starttls() through plb to Postfix with client_address = "proxy-v2": delivered, Postfix logs the client\'s address, the server side plain', async () => {
  const pf = await startPostfix({ name: "pfpp", proxyProtocol: true });
  cleanups.push(() => pf.stop());
  const { port, cafile } = await plbFor([pf.port], 'client_address = "proxy-v2"');
  const r = await sendWithSmtplib({ port, starttls: true, cafile, source: "127.0.0.2", data: "Subject: pp\r\n\r\nthrough TLS at plb and PROXY v2\r\n" });
  expect(r.error).toBeNull();
  expect(r.cipher).toBeTruthy();
  const [m] = await pf.waitForMessages(1);
  expect(m.clientAddress).toBe("127.0.0.2");
  expect(Buffer.from(m.data).toString()).toContain("through TLS at plb and PROXY v2");
  // Postfix saw no TLS (it offers none here): plb's STARTTLS was the only one.
  expect(await pf.log()).not.toMatch(/TLS connection established/);
});

test("accept_proxy with starttls: the PROXY header first, STARTTLS later; XCLIENT carries the front balancer's client", async () => {
  const a = await server({ name: "front", xclient: true });
  const { port, cafile } = await plbFor([a.port], 'client_address = "xclient"\naccept_proxy = true\nproxy_from = ["127.0.0.0/8"]');
  const out = await scriptedSession({
    port,
    cafile,
    steps: [
      ["send", `PROXY TCP4 192.0.2.9 127.0.0.1 40000 ${port}\r\n`], ["reply"], ["send", "EHLO x.test\r\n"], ["reply"], ["send", "STARTTLS\r\n"], ["reply"], ["tls"],
      ["send", "EHLO x.test\r\n"], ["reply"], ["send", "MAIL FROM:<a@x.test>\r\n"], ["reply"], ["send", "RCPT TO:<b@y.test>\r\n"], ["reply"], ["send", "DATA\r\n"], ["reply"],
      ["send", "Subject: front\r\n\r\nbehind a front balancer\r\n.\r\n"], ["reply"], ["send", "QUIT\r\n"], ["reply"],
    ],
  });
  expect(out.map((r) => (r[0] === "reply" ? r[1] : r[0]))).toEqual([220, 250, 220, "tls", 250, 250, 250, 354, 250, 221]);
  const [m] = await a.waitForMessages(1);
  expect(m.clientAddress).toBe("192.0.2.9");
  expect(Buffer.from(m.data).toString()).toBe("Subject: front\r\n\r\nbehind a front balancer\r\n");
});

test("STARTTLS injection (CVE-2011-0411): a command pipelined after STARTTLS is discarded, never relayed after the upgrade", async () => {
  const a = await server({ name: "inject" });
  const { plb, port, cafile } = await plbFor([a.port]);
  const injected = "RSET\r\nMAIL FROM:<evil@x.test>\r\n";
  const out = await scriptedSession({
    port,
    cafile,
    steps: [["reply"], ["send", "EHLO x.test\r\n"], ["reply"], ["send", `STARTTLS\r\n${injected}`], ["reply"], ["tls"], ["send", "EHLO x.test\r\n"], ["reply"], ["send", "QUIT\r\n"], ["reply"]],
  });
  expect(out.map((r) => (r[0] === "reply" ? r[1] : r[0]))).toEqual([220, 250, 220, "tls", 250, 221]);
  // Replies to RSET or MAIL would have come before the 250 to EHLO: there are none.
  const [s] = await clientSessions(a, 1);
  expect(s.commands).toEqual(["EHLO", "EHLO", "QUIT"]);
  expect(await plb.waitForLog(/discarded \d+ bytes sent after the command/)).toContain(`discarded ${injected.length} bytes`);
});

test("require_tls: MAIL FROM before STARTTLS gets 530 and never reaches the server; EHLO, NOOP, RSET pass; after TLS mail flows", async () => {
  const a = await server({ name: "req" });
  const { port, cafile } = await plbFor([a.port], "require_tls = true");
  const out = await scriptedSession({
    port,
    cafile,
    steps: [
      ["reply"], ["send", "EHLO x.test\r\n"], ["reply"], ["send", "MAIL FROM:<a@x.test>\r\n"], ["reply"], ["send", "RCPT TO:<b@x.test>\r\n"], ["reply"],
      ["send", "NOOP\r\n"], ["reply"], ["send", "RSET\r\n"], ["reply"], ["send", "STARTTLS\r\n"], ["reply"], ["tls"],
      ["send", "EHLO x.test\r\n"], ["reply"], ["send", "MAIL FROM:<a@x.test>\r\n"], ["reply"], ["send", "QUIT\r\n"], ["reply"],
    ],
  });
  expect(out.map((r) => (r[0] === "reply" ? r[1] : r[0]))).toEqual([220, 250, 530, 530, 250, 250, 220, "tls", 250, 250, 221]);
  expect(out[2]).toEqual(["reply", 530, ["5.7.0 Must issue a STARTTLS command first"]]);
  const [s] = await clientSessions(a, 1);
  expect(s.commands).toEqual(["EHLO", "NOOP", "RSET", "EHLO", "MAIL", "QUIT"]);
  // smtplib without starttls() is refused at MAIL FROM.
  const r = await sendWithSmtplib({ port });
  expect(r.ok).toBe(false);
  expect(r.error).toMatch(/530/);
  expect(await a.messages()).toHaveLength(0);
});

test("STARTTLS with a parameter gets 501, STARTTLS inside TLS gets 503; the session goes on", async () => {
  const a = await server({ name: "twice" });
  const { port, cafile } = await plbFor([a.port]);
  const out = await scriptedSession({
    port,
    cafile,
    steps: [["reply"], ["send", "EHLO x.test\r\n"], ["reply"], ["send", "STARTTLS now\r\n"], ["reply"], ["send", "STARTTLS\r\n"], ["reply"], ["tls"], ["send", "STARTTLS\r\n"], ["reply"], ["send", "EHLO x.test\r\n"], ["reply"], ["send", "QUIT\r\n"], ["reply"]],
  });
  expect(out).toContainEqual(["reply", 501, ["5.5.4 Syntax: STARTTLS"]]);
  expect(out).toContainEqual(["reply", 503, ["5.5.1 Error: TLS already active"]]);
  expect(out.map((r) => (r[0] === "reply" ? r[1] : r[0]))).toEqual([220, 250, 501, 220, "tls", 503, 250, 221]);
});

test("a failed handshake and a client that never sends its ClientHello are closed, their servers get QUIT, other clients are served meanwhile", async () => {
  const a = await server({ name: "hostile" });
  const { plb, port, cafile } = await plbFor([a.port], 'timeout_client = "2s"\naccess_log = { path = "-", format = "json" }');
  const garbage = scriptedSession({ port, steps: [["reply"], ["send", "EHLO x.test\r\n"], ["reply"], ["send", "STARTTLS\r\n"], ["reply"], ["send", "this is not a ClientHello\r\n".repeat(4)], ["closed"]] });
  const silent = scriptedSession({ port, timeout: 30, steps: [["reply"], ["send", "STARTTLS\r\n"], ["reply"], ["closed"]] });
  // Meanwhile a well-behaved client delivers.
  const r = await sendWithSmtplib({ port, starttls: true, cafile });
  expect(r.error).toBeNull();
  const g = await garbage;
  expect(g.at(-1)![0]).toBe("closed");
  await plb.waitForLog(/TLS handshake failed/);
  const s = await silent;
  expect(s.map((x) => x[0])).toEqual(["reply", "reply", "closed"]);
  // Closed by timeout_client (2 s; the sweep may add up to its interval), not at once and not never.
  expect(s[2][1] as number).toBeGreaterThan(1500);
  expect(s[2][1] as number).toBeLessThan(15_000);
  // plb's start check, the good client, the garbage and the silent one: all closed, the last two with plb's QUIT.
  const sessions = await a.waitForSessions(4);
  expect(sessions.filter((x) => x.messages === 1)).toHaveLength(1);
  expect(sessions.filter((x) => x.commands.join() === "EHLO,QUIT" && x.quit)).toHaveLength(1);
  expect(sessions.filter((x) => x.commands.join() === "QUIT" && x.quit)).toHaveLength(2);
  // The access log tells the three apart: the silent one by its timeout, the delivered one with its bytes.
  const lines = () => plb.log().split("\n").filter((l) => l.includes('"protocol":"smtp"')).map((l) => JSON.parse(l.slice(l.indexOf("{"))) as { cause: string; bytes_in: number; bytes_out: number });
  await until(() => lines().length >= 3, "three access log lines", 10_000);
  expect(lines().filter((l) => l.cause === "timeout")).toHaveLength(1);
  // (Who closed the delivered one first depends on the race between the 221 and smtplib's close.)
  expect(lines().filter((l) => l.cause !== "timeout" && l.bytes_in > 100 && l.bytes_out > 100)).toHaveLength(1);
});

test("a command line longer than 2048 bytes before TLS gets 500 and the connection is closed", async () => {
  const a = await server({ name: "long" });
  const { port } = await plbFor([a.port]);
  const out = await scriptedSession({ port, steps: [["reply"], ["send", `EHLO ${"x".repeat(3000)}`], ["reply"], ["closed"]] });
  expect(out.map((r) => (r[0] === "reply" ? r[1] : r[0]))).toEqual([220, 500, "closed"]);
  // plb's start check and the client's: both ended with QUIT (the long line never reached the server).
  const sessions = await a.waitForSessions(2);
  expect(sessions.map((x) => [x.commands.join(), x.quit])).toEqual([["QUIT", true], ["QUIT", true]]);
});

test("12,000 NOOPs pipelined in one write (72 KB, past the 64 KiB plb holds unread) get 12,000 replies in order, then QUIT its 221", async () => {
  const a = await server({ name: "noops" });
  const { port } = await plbFor([a.port]);
  const n = 12_000;
  const { RawSmtp } = await import("../../support/smtp/clients.ts");
  const c = await RawSmtp.connect(port);
  expect((await c.reply()).code).toBe(220);
  c.write(`${"NOOP\r\n".repeat(n)}QUIT\r\n`);
  const all = (await c.untilClosed(30_000)).toString("latin1").split("\r\n").filter((l) => l !== "");
  expect(all.length).toBe(n + 2); // the greeting, n × 250, the 221
  expect(all.slice(1, -1).every((l) => l.startsWith("250 "))).toBe(true);
  expect(all.at(-1)).toMatch(/^221 /);
});
