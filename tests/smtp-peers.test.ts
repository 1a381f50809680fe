/**
 * The real SMTP peers that plb's smtp-mode tests use (tests/support/smtp),
 * proven on their own, without plb: aiosmtpd servers (every greeting mode,
 * PROXY v1/v2, XCLIENT, BDAT, STARTTLS) and private Postfix instances
 * (plain, PROXY via smtpd_upstream_proxy_protocol, XCLIENT, STARTTLS),
 * driven by Python's smtplib, swaks and a raw client writing PROXY headers by
 * hand. 127.0.0.2 stands for "the real client" (plb connects from 127.0.0.1).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startSmtpServer, type SmtpServer } from "./support/smtp/aiosmtpd.ts";
import { proxyV1, proxyV2, RawSmtp, sendWithSmtplib, swaks } from "./support/smtp/clients.ts";
import { startPostfix, type PostfixInstance } from "./support/smtp/postfix.ts";

const enc = new TextEncoder();
const latin1 = (b: Uint8Array) => Buffer.from(b).toString("latin1");

/** A body with a line starting with a dot, 8-bit bytes and a NUL-free binary mix. */
const BODY = new Uint8Array([
  ...enc.encode("From: a@client.test\r\nTo: b@server.test\r\nSubject: peers\r\n\r\n"),
  ...enc.encode(".a line that starts with a dot\r\n..and one with two\r\n"),
  ...[0xc3, 0xa9, 0xff, 0x80, 0x7f, 0x0d, 0x0a],
  ...enc.encode("end\r\n"),
]);

describe("aiosmtpd peer", () => {
  const servers: SmtpServer[] = [];
  const start = async (...a: Parameters<typeof startSmtpServer>) => {
    const s = await startSmtpServer(...a);
    servers.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  test("smtplib delivers a message, stored byte-exact with its session, from the client's source address", async () => {
    const srv = await start({ name: "alpha" });
    const r = await sendWithSmtplib({ port: srv.port, source: "127.0.0.2", mailFrom: "a@client.test", rcptTos: ["b@server.test", "c@server.test"], data: BODY });
    expect(r.error).toBeNull();
    expect(r.greeting).toEqual([220, "alpha ESMTP aiosmtpd"]);
    expect(r.ehlo![1].split("\n")[0]).toBe("alpha");
    expect(r.replies).toEqual([[250, "2.0.0 Ok: queued as alpha-1"]]);
    expect(r.quit![0]).toBe(221);
    const [m] = await srv.messages(); // stored before the 250
    expect(m.mailFrom).toBe("a@client.test");
    expect(m.rcptTos).toEqual(["b@server.test", "c@server.test"]);
    expect(latin1(m.data)).toBe(latin1(BODY));
    // On the wire the dotted lines were stuffed, and DATA ended with ".\r\n".
    expect(latin1(m.raw)).toContain("\r\n..a line that starts with a dot\r\n...and one with two\r\n");
    expect(latin1(m.raw).endsWith("end\r\n.\r\n")).toBe(true);
    expect(m.peer.host).toBe("127.0.0.2");
    expect(m.clientAddress).toBe("127.0.0.2");
    expect(m.proxy).toBeNull();
    const [s] = await srv.waitForSessions(1);
    expect(s).toMatchObject({ quit: true, closedBy: "quit", messages: 1, clientAddress: "127.0.0.2" });
    expect(s.commands).toEqual(["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]);
  });

  test("swaks with PIPELINING, several messages in one session, and a session that ends without QUIT", async () => {
    const srv = await start({ name: "beta" });
    const r = await swaks(["--server", `127.0.0.1:${srv.port}`, "--from", "s@client.test", "--to", "t@server.test", "--pipeline", "--body", "hello from swaks"]);
    expect(r.code).toBe(0);
    const py = await sendWithSmtplib({ port: srv.port, count: 3, quit: false });
    expect(py.error).toBeNull();
    expect(py.replies.map((x) => x[1])).toEqual(["2.0.0 Ok: queued as beta-2", "2.0.0 Ok: queued as beta-3", "2.0.0 Ok: queued as beta-4"]);
    const msgs = await srv.waitForMessages(4);
    expect(latin1(msgs[0].data)).toContain("hello from swaks");
    const sessions = await srv.waitForSessions(2);
    expect(sessions[0]).toMatchObject({ quit: true, closedBy: "quit", messages: 1 });
    expect(sessions[1]).toMatchObject({ quit: false, closedBy: "client", messages: 3 });
  });

  test('greeting "421": answers 421 4.3.2 and closes; smtplib sees 421', async () => {
    const srv = await start({ name: "busy", greeting: "421" });
    const c = await RawSmtp.connect(srv.port);
    expect(await c.reply()).toMatchObject({ code: 421, raw: "421 4.3.2 busy\r\n" });
    await c.untilClosed();
    const r = await sendWithSmtplib({ port: srv.port });
    expect(r.ok).toBe(false);
    expect(r.greeting![0]).toBe(421);
    const s = await srv.waitForSessions(2);
    expect(s.every((x) => x.closedBy === "server" && x.greeting === "421" && !x.quit)).toBe(true);
  });

  test('greeting "silent": accepts, never writes, closes only when the client does', async () => {
    const srv = await start({ name: "mute", greeting: "silent" });
    const c = await RawSmtp.connect(srv.port);
    c.write("EHLO anyone\r\n");
    await Bun.sleep(400);
    expect(c.received().length).toBe(0);
    expect(c.isClosed).toBe(false);
    expect((await srv.sessions())[0]).toMatchObject({ open: true, greeting: "silent" });
    c.close();
    const [s] = await srv.waitForSessions(1);
    expect(s).toMatchObject({ closedBy: "client", quit: false });
  });

  test('greeting "garbage" writes an HTTP 400 and closes; "close" closes without a byte', async () => {
    const g = await start({ name: "http", greeting: "garbage" });
    const c = await RawSmtp.connect(g.port);
    expect(latin1(await c.untilClosed())).toBe("HTTP/1.1 400 Bad Request\r\n\r\n");
    const z = await start({ name: "shut", greeting: "close" });
    const d = await RawSmtp.connect(z.port);
    expect((await d.untilClosed()).length).toBe(0);
    expect((await z.waitForSessions(1))[0].closedBy).toBe("server");
  });

  test("PROXY v1 and v2 (TCP4 and TCP6) headers written by hand: the server records the given source", async () => {
    const srv = await start({ name: "proxied", proxyProtocol: true });
    const headers = [
      proxyV1("127.0.0.2", 40001, "127.0.0.1", srv.port),
      proxyV2("127.0.0.2", 40002, "127.0.0.1", srv.port),
      proxyV2("2001:db8::2", 40003, "::1", srv.port),
    ];
    for (const header of headers) {
      const c = await RawSmtp.connect(srv.port, { prefix: header });
      expect((await c.reply()).code).toBe(220);
      expect((await c.command("EHLO relay.test")).code).toBe(250);
      expect((await c.command("MAIL FROM:<p@client.test>")).code).toBe(250);
      expect((await c.command("RCPT TO:<q@server.test>")).code).toBe(250);
      expect((await c.command("DATA")).code).toBe(354);
      expect((await c.command("Subject: proxied\r\n\r\nbody\r\n.")).code).toBe(250);
      expect((await c.command("QUIT")).code).toBe(221);
      await c.closed;
    }
    const msgs = await srv.waitForMessages(3);
    expect(msgs.map((m) => [m.clientAddress, m.clientPort, m.proxy?.version, m.proxy?.family, m.peer.host])).toEqual([
      ["127.0.0.2", 40001, 1, "INET", "127.0.0.1"],
      ["127.0.0.2", 40002, 2, "INET", "127.0.0.1"],
      ["2001:db8::2", 40003, 2, "INET6", "127.0.0.1"],
    ]);
    // Without a header: no greeting, closed.
    const bare = await RawSmtp.connect(srv.port);
    bare.write("EHLO nobody\r\n");
    const got = await bare.untilClosed();
    expect(latin1(got)).not.toContain("220");
    const sessions = await srv.waitForSessions(4);
    expect(sessions.map((s) => s.quit)).toEqual([true, true, true, false]);
  });

  test("PROXY on a 421 server: the header is read, then 421", async () => {
    const srv = await start({ name: "busyproxy", greeting: "421", proxyProtocol: true });
    const c = await RawSmtp.connect(srv.port, { prefix: proxyV1("127.0.0.2", 1234, "127.0.0.1", srv.port) });
    expect((await c.reply()).code).toBe(421);
    const [s] = await srv.waitForSessions(1);
    expect(s.clientAddress).toBe("127.0.0.2");
  });

  test("XCLIENT: advertised, ADDR/PORT recorded (IPv4 and Postfix's IPV6: form), new 220 greeting; refused where not enabled", async () => {
    const srv = await start({ name: "xc", xclient: true });
    const c = await RawSmtp.connect(srv.port);
    expect((await c.reply()).code).toBe(220);
    const ehlo = await c.command("EHLO plb.test");
    expect(ehlo.lines).toContain("XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT");
    const x = await c.command("XCLIENT ADDR=127.0.0.2 PORT=4444 PROTO=ESMTP");
    expect(x).toMatchObject({ code: 220, lines: ["xc ESMTP aiosmtpd"] });
    expect((await c.command("MAIL FROM:<x@client.test>")).code).toBe(503); // EHLO again first
    expect((await c.command("EHLO client.test")).code).toBe(250);
    expect((await c.command("MAIL FROM:<x@client.test>")).code).toBe(250);
    expect((await c.command("RCPT TO:<y@server.test>")).code).toBe(250);
    expect((await c.command("DATA")).code).toBe(354);
    expect((await c.command("Subject: x\r\n\r\nx\r\n.")).code).toBe(250);
    expect((await c.command("XCLIENT ADDR=IPV6:2001:db8::7 PORT=5555")).code).toBe(220);
    expect((await c.command("QUIT")).code).toBe(221);
    const [m] = await srv.waitForMessages(1);
    expect(m).toMatchObject({ clientAddress: "127.0.0.2", clientPort: 4444, heloName: "client.test", xclient: { ADDR: "127.0.0.2", PORT: "4444", PROTO: "ESMTP" } });
    expect(m.peer.host).toBe("127.0.0.1");
    const [s] = await srv.waitForSessions(1);
    expect(s.clientAddress).toBe("2001:db8::7");
    expect(s.commands.filter((v) => v === "XCLIENT").length).toBe(2);

    const plain = await start({ name: "noxc" });
    const d = await RawSmtp.connect(plain.port);
    await d.reply();
    expect((await d.command("EHLO plb.test")).lines.some((l) => l.startsWith("XCLIENT"))).toBe(false);
    expect((await d.command("XCLIENT ADDR=127.0.0.2")).code).toBe(500);
    d.close();
  });

  test("CHUNKING: BDAT chunks stored back to back", async () => {
    const srv = await start({ name: "chunks", chunking: true });
    const c = await RawSmtp.connect(srv.port);
    await c.reply();
    expect((await c.command("EHLO plb.test")).lines).toContain("CHUNKING");
    await c.command("MAIL FROM:<b@client.test>");
    await c.command("RCPT TO:<d@server.test>");
    c.write("BDAT 14\r\nSubject: b\r\n\r\n");
    expect((await c.reply()).code).toBe(250);
    c.write("BDAT 9 LAST\r\n.x\r\n\xff\r\n\r\n");
    expect(await c.reply()).toMatchObject({ code: 250, lines: ["2.0.0 Ok: queued as chunks-1"] });
    await c.command("QUIT");
    const [m] = await srv.waitForMessages(1);
    expect(m.via).toBe("BDAT");
    expect(latin1(m.data)).toBe("Subject: b\r\n\r\n.x\r\n\xff\r\n\r\n");
  });

  test("STARTTLS with the generated certificate", async () => {
    const srv = await start({ name: "tls", starttls: true });
    const r = await sendWithSmtplib({ port: srv.port, starttls: true, cafile: srv.caFile, source: "127.0.0.2" });
    expect(r.error).toBeNull();
    expect(r.starttls![0]).toBe(220);
    const [m] = await srv.waitForMessages(1);
    expect(m.tls).toBe(true);
    expect((await srv.waitForSessions(1))[0].commands).toEqual(["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]);
  });

  test("a given port; kill() is an abrupt death whose messages stay readable; a new server can take the port", async () => {
    const first = await start({ name: "k1" });
    await sendWithSmtplib({ port: first.port });
    await first.kill();
    expect((await first.messages()).length).toBe(1);
    await expect(RawSmtp.connect(first.port)).rejects.toThrow();
    const second = await start({ name: "k2", port: first.port });
    expect(second.port).toBe(first.port);
    const r = await sendWithSmtplib({ port: second.port });
    expect(r.replies[0][1]).toBe("2.0.0 Ok: queued as k2-1");
    await first.stop();
    expect((await first.messages()).length).toBe(1); // kept after its files are gone
  });
});

describe("Postfix peer", () => {
  let plain: PostfixInstance; // XCLIENT allowed from 127/8, STARTTLS offered
  let proxied: PostfixInstance; // smtpd_upstream_proxy_protocol = haproxy
  beforeAll(async () => {
    [plain, proxied] = await Promise.all([
      startPostfix({ name: "pf-plain", xclient: true, starttls: true }),
      startPostfix({ name: "pf-proxy", proxyProtocol: true }),
    ]);
  });
  afterAll(async () => {
    const pids = [plain?.masterPid, proxied?.masterPid];
    await Promise.all([plain?.stop(), proxied?.stop()]);
    for (const pid of pids) if (pid) expect(() => process.kill(pid, 0)).toThrow();
  });

  test("a private instance on loopback with its own configuration", async () => {
    expect(await plain.postconf("queue_directory")).toBe(`${plain.dir}/queue`);
    expect(await plain.postconf("smtpd_authorized_xclient_hosts")).toBe("127.0.0.0/8, [::1]/128");
    expect(await proxied.postconf("smtpd_upstream_proxy_protocol")).toBe("haproxy");
    expect(await plain.waitForLog(/postfix\/master\[\d+\]: daemon started/)).toContain(plain.configDir);
  });

  test("smtplib delivers to Postfix: message, Received header and log show the client 127.0.0.2; QUIT logged", async () => {
    const r = await sendWithSmtplib({ port: plain.port, source: "127.0.0.2", mailFrom: "a@client.test", rcptTos: ["b@server.test"], data: BODY });
    expect(r.error).toBeNull();
    expect(r.greeting).toEqual([220, "pf-plain.localdomain ESMTP pf-plain"]);
    const [m] = await plain.waitForMessages(1);
    expect(m).toMatchObject({ sender: "a@client.test", recipients: ["b@server.test"], clientAddress: "127.0.0.2" });
    const text = latin1(m.data);
    expect(text).toStartWith("Received: from client.test (unknown [127.0.0.2])");
    // Postfix stores lines: LF line ends, dots un-stuffed, 8-bit kept.
    expect(text).toContain("\n.a line that starts with a dot\n..and one with two\n\xc3\xa9\xff\x80\x7f\nend\n");
    const s = await plain.waitForSessions((ss) => ss.some((x) => !x.open && x.connectAddress === "127.0.0.2"));
    expect(s.find((x) => x.connectAddress === "127.0.0.2")).toMatchObject({ quit: true, lost: null });
  });

  test("swaks delivers to Postfix", async () => {
    const r = await swaks(["--server", `127.0.0.1:${plain.port}`, "--from", "s@client.test", "--to", "sw@server.test", "--body", "via swaks"]);
    expect(r.code).toBe(0);
    const msgs = await plain.waitForMessages(2);
    expect(msgs.some((m) => m.recipients[0] === "sw@server.test" && latin1(m.data).includes("via swaks"))).toBe(true);
  });

  test("PROXY v1 and v2 (TCP4 and TCP6) headers written by hand: Postfix logs and delivers with the given source", async () => {
    const send = async (header: string | Uint8Array, rcpt: string) => {
      const c = await RawSmtp.connect(proxied.port, { prefix: header });
      expect((await c.reply()).code).toBe(220);
      expect((await c.command("EHLO relay.test")).code).toBe(250);
      expect((await c.command("MAIL FROM:<p@client.test>")).code).toBe(250);
      expect((await c.command(`RCPT TO:<${rcpt}>`)).code).toBe(250);
      expect((await c.command("DATA")).code).toBe(354);
      expect((await c.command("Subject: proxied\r\n\r\nbody\r\n.")).code).toBe(250);
      expect((await c.command("QUIT")).code).toBe(221);
      await c.closed;
    };
    await send(proxyV1("127.0.0.2", 40001, "127.0.0.1", proxied.port), "v1@server.test");
    await send(proxyV2("127.0.0.2", 40002, "127.0.0.1", proxied.port), "v2@server.test");
    await send(proxyV2("2001:db8::2", 40003, "::1", proxied.port), "v2six@server.test");
    const msgs = await proxied.waitForMessages(3);
    const by = (r: string) => msgs.find((m) => m.recipients[0] === r)!;
    expect([by("v1@server.test").clientAddress, by("v1@server.test").clientPort]).toEqual(["127.0.0.2", 40001]);
    expect([by("v2@server.test").clientAddress, by("v2@server.test").clientPort]).toEqual(["127.0.0.2", 40002]);
    expect([by("v2six@server.test").clientAddress, by("v2six@server.test").clientPort]).toEqual(["2001:db8::2", 40003]);
    expect(latin1(by("v2six@server.test").data)).toStartWith("Received: from relay.test (unknown [IPv6:2001:db8::2])");
    expect(await proxied.waitForLog(/connect from unknown\[127\.0\.0\.2\]:40002/)).toBeTruthy();
    // Without a header Postfix refuses the session.
    const bare = await RawSmtp.connect(proxied.port);
    bare.write("EHLO nobody.test\r\n");
    const got = latin1(await bare.untilClosed(8000));
    expect(got).not.toMatch(/^220/);
    expect(await proxied.waitForLog(/warning: haproxy read: /)).toBeTruthy();
  });

  test("XCLIENT ADDR from 127.0.0.1: Postfix delivers with client 127.0.0.2", async () => {
    const c = await RawSmtp.connect(plain.port);
    expect((await c.reply()).code).toBe(220);
    expect((await c.command("EHLO plb.test")).lines.some((l) => l.startsWith("XCLIENT "))).toBe(true);
    expect(await c.command("XCLIENT ADDR=127.0.0.2 PORT=4444 PROTO=ESMTP HELO=client.test")).toMatchObject({ code: 220, lines: ["pf-plain.localdomain ESMTP pf-plain"] });
    expect((await c.command("EHLO client.test")).code).toBe(250);
    expect((await c.command("MAIL FROM:<x@client.test>")).code).toBe(250);
    expect((await c.command("RCPT TO:<xclient@server.test>")).code).toBe(250);
    expect((await c.command("DATA")).code).toBe(354);
    expect((await c.command("Subject: x\r\n\r\nx\r\n.")).code).toBe(250);
    expect((await c.command("QUIT")).code).toBe(221);
    const msgs = await plain.waitForMessages(3);
    const m = msgs.find((x) => x.recipients[0] === "xclient@server.test")!;
    expect([m.clientAddress, m.clientPort]).toEqual(["127.0.0.2", 4444]);
    expect(latin1(m.data)).toStartWith("Received: from client.test (unknown [127.0.0.2])");
  });

  test("STARTTLS to Postfix with the generated certificate", async () => {
    const r = await sendWithSmtplib({ port: plain.port, starttls: true, cafile: plain.caFile, rcptTos: ["tls@server.test"] });
    expect(r.error).toBeNull();
    expect(r.cipher).toBeTruthy();
    const msgs = await plain.waitForMessages(4);
    expect(latin1(msgs.find((x) => x.recipients[0] === "tls@server.test")!.data)).toMatch(/with ESMTPS id/);
  });
});
