import { afterAll, expect, test } from "bun:test";
import { fakeSmtp, type FakeSmtp } from "../../support/fake-smtp.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Send one message with Python's smtplib; prints the server's last reply or the error. */
async function sendMail(port: number, body = "Subject: hi\r\n\r\nhello\r\n.dot-stuffed line\r\n"): Promise<string> {
  const py = `
import smtplib, sys
try:
    s = smtplib.SMTP("127.0.0.1", ${port}, timeout=10)
    code, banner = s.ehlo("client.test")
    s.sendmail("a@test", ["b@test"], ${JSON.stringify(body)})
    print("sent", s.sock.getpeername()[1] if s.sock else "")
    s.quit()
except smtplib.SMTPConnectError as e:
    print("connect-error", e.smtp_code, e.smtp_error.decode())
except Exception as e:
    print("error", type(e).__name__, e)
`;
  const p = Bun.spawn(["python3", "-c", py], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out.trim();
}

async function plbFor(servers: FakeSmtp[], extra = ""): Promise<{ plb: PlbProcess; port: number }> {
  const port = await freePort();
  const plb = await startPlb(`
timeout_cleanup = 60
[[service]]
name = "mail"
protocol = "smtp"
balance = "first"
timeout_smtp_greeting = "400ms"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((s) => `"127.0.0.1:${s.port}"`).join(", ")}]
${extra}
`);
  cleanups.push(() => plb.stop());
  return { plb, port };
}

function fake(name: string, mode: Parameters<typeof fakeSmtp>[1]): FakeSmtp {
  const f = fakeSmtp(name, mode);
  cleanups.push(() => f.stop());
  return f;
}

test("a client only meets a server that greeted with 220: 421, silent and garbage servers are skipped with a polite QUIT", async () => {
  const busy = fake("busy", "421");
  const silent = fake("silent", "silent");
  const garbage = fake("garbage", "garbage");
  const good = fake("good", "ok");
  const { plb, port } = await plbFor([busy, silent, garbage, good], "server_retry = 5");
  // the start checks already met them; wait for those to settle
  await plb.waitForLog(new RegExp(`127.0.0.1:${busy.port} of "mail" is down at start: greeting 421`));
  const out = await sendMail(port);
  expect(out).toStartWith("sent");
  expect(good.messages).toHaveLength(1);
  expect(good.messages[0]).toContain("hello\r\n..dot-stuffed line\r\n"); // byte-exact, dot-stuffing intact
  // the start probes said QUIT to the ones still listening
  expect(silent.conns.some((c) => c.includes("QUIT\r\n"))).toBe(true);
  expect(garbage.conns.some((c) => c.includes("QUIT\r\n"))).toBe(true);
});

test("a server that starts answering 421 during traffic is failed over transparently and counts toward server_retry", async () => {
  const flaky = fake("flaky", "ok");
  const good = fake("good2", "ok");
  const { plb, port } = await plbFor([flaky, good], "server_retry = 2");
  await Bun.sleep(100); // start checks passed
  flaky.setMode("421");
  expect(await sendMail(port)).toStartWith("sent");
  expect(await sendMail(port)).toStartWith("sent");
  await plb.waitForLog(new RegExp(`127.0.0.1:${flaky.port} of "mail" is down after 2 consecutive failures: greeting 421 4.3.2 busy, try later`));
  expect(good.messages).toHaveLength(2);
  expect(flaky.messages).toHaveLength(0);
});

test("no server available: the client gets 421 4.3.2 at once, never a bare disconnect", async () => {
  const busy = fake("busy2", "421");
  const { plb, port } = await plbFor([busy]);
  await plb.waitForLog(/is down at start: greeting 421/);
  const t0 = Date.now();
  const out = await sendMail(port);
  expect(out).toBe("connect-error 421 4.3.2 Service not available, closing transmission channel");
  expect(Date.now() - t0).toBeLessThan(1500);
});

test('client_address = "proxy-v1" sends a PROXY header first; probes send PROXY UNKNOWN', async () => {
  const good = fake("proxied", "ok");
  const { port } = await plbFor([good], 'client_address = "proxy-v1"');
  expect(await sendMail(port)).toStartWith("sent");
  const session = good.conns.find((c) => /mail from/i.test(c))!;
  expect(session).toMatch(new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 \\d+ ${port}\\r\\nehlo client\\.test\\r\\n`, "i"));
  expect(good.conns.some((c) => c.startsWith("PROXY UNKNOWN\r\nQUIT\r\n"))).toBe(true);
});

test('client_address = "xclient": plb says EHLO and XCLIENT, and the client gets the server\'s new greeting', async () => {
  const good = fake("xc", "xclient");
  const { port } = await plbFor([good], 'client_address = "xclient"');
  expect(await sendMail(port)).toStartWith("sent");
  const session = good.conns.find((c) => /mail from/i.test(c))!;
  expect(session).toMatch(/^EHLO plb\r\nXCLIENT ADDR=127\.0\.0\.1 PORT=\d+ PROTO=ESMTP\r\nehlo client\.test\r\n/i);
  expect(good.messages).toHaveLength(1);
});

test("a server that resets a session midway closes that client and counts as a failure", async () => {
  const resetter = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.write("220 resetter ESMTP\r\n");
      },
      data(s) {
        s.terminate(); // RST in the middle of the session
      },
    },
  });
  cleanups.push(() => resetter.stop(true));
  const port = await freePort();
  const plb = await startPlb(`
server_retry = 1
timeout_cleanup = 60
[[service]]
name = "rst"
protocol = "smtp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${resetter.port}"]
`);
  cleanups.push(() => plb.stop());
  const out = await sendMail(port);
  expect(out).toStartWith("error"); // the client's session is cut: it will retry later
  await plb.waitForLog(new RegExp(`127.0.0.1:${resetter.port} of "rst" is down after 1 failure: connection reset during a session`));
});

test('a server that does not offer XCLIENT fails with a clear log line; the client goes to one that does', async () => {
  const plain = fake("plain", "ok");
  const xc = fake("xc2", "xclient");
  const { plb, port } = await plbFor([plain, xc], 'client_address = "xclient"\nserver_retry = 1');
  expect(await sendMail(port)).toStartWith("sent");
  await plb.waitForLog(new RegExp(`127.0.0.1:${plain.port} of "mail" is down after 1 failure: server does not offer XCLIENT`));
  expect(xc.messages).toHaveLength(1);
  expect(plain.conns.some((c) => c.startsWith("EHLO plb\r\nQUIT\r\n"))).toBe(true);
});
