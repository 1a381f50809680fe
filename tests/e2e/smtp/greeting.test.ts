import { afterAll, expect, test } from "bun:test";
import { fakeSmtp, type FakeSmtp } from "../../support/fake-smtp.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/**
 * Send one message with Python's smtplib: `out` is the server's last reply or
 * the error, `ms` the time from the connect to that outcome (measured inside
 * Python, so the interpreter's start on a busy machine is not counted).
 */
async function smtpSession(port: number, body = "Subject: hi\r\n\r\nhello\r\n.dot-stuffed line\r\n"): Promise<{ out: string; ms: number }> {
  const py = `
import smtplib, sys, time
t0 = time.monotonic()
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
print("ms", round((time.monotonic() - t0) * 1000))
`;
  const p = Bun.spawn(["python3", "-c", py], { stdout: "pipe", stderr: "inherit" });
  const lines = (await new Response(p.stdout).text()).trim().split("\n");
  await p.exited;
  const ms = Number(/^ms (\d+)$/.exec(lines.at(-1) ?? "")?.[1] ?? Number.NaN);
  return { out: lines.slice(0, -1).join("\n").trim(), ms };
}

async function sendMail(port: number, body?: string): Promise<string> {
  return (await smtpSession(port, body)).out;
}

/**
 * plb in front of `servers` (tried in order). The greeting timeout is long
 * enough for a fake that does greet to do so on a busy machine, and short
 * enough that a test meeting a silent server does not wait long.
 */
async function plbFor(servers: FakeSmtp[], extra = "", greeting = "1s"): Promise<{ plb: PlbProcess; port: number }> {
  const port = await freePort();
  const plb = await startPlb(`
timeout_cleanup = 60
[[service]]
name = "mail"
protocol = "smtp"
balance = "first"
timeout_smtp_greeting = "${greeting}"
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

/** Wait until the start check has been through every server in `fakes`: each received its QUIT. */
async function startChecked(...fakes: FakeSmtp[]): Promise<void> {
  await until(() => fakes.every((f) => f.conns.some((c) => c.includes("QUIT\r\n"))), "the start checks' QUIT at every server", 15_000);
}

test("a client only meets a server that greeted with 220: 421, silent and garbage servers are skipped with a polite QUIT", async () => {
  // All four greet the start check, so all four stay in the pool; then three of them turn bad
  // and the client's own session has to go past each of them to reach the good one.
  const busy = fake("busy", "ok");
  const silent = fake("silent", "ok");
  const garbage = fake("garbage", "ok");
  const good = fake("good", "ok");
  const { plb, port } = await plbFor([busy, silent, garbage, good], "server_retry = 5");
  await startChecked(busy, silent, garbage, good);
  busy.setMode("421");
  silent.setMode("silent");
  garbage.setMode("garbage");
  const out = await sendMail(port);
  expect(out).toStartWith("sent");
  expect(good.messages).toHaveLength(1);
  expect(good.messages[0]).toContain("hello\r\n..dot-stuffed line\r\n"); // byte-exact, dot-stuffing intact
  // each bad one was met once by the session (after the start check's connection), and the ones
  // still listening were told QUIT; none of them saw a byte of the client's
  await until(() => !!silent.conns[1]?.includes("QUIT\r\n") && !!garbage.conns[1]?.includes("QUIT\r\n"), "the session's QUIT at the silent and garbage servers");
  for (const f of [busy, silent, garbage]) expect(f.conns).toHaveLength(2);
  expect(silent.conns[1]).toBe("QUIT\r\n");
  expect(garbage.conns[1]).toBe("QUIT\r\n");
  expect(busy.conns[1]).toBe(""); // a 421 greeting: the server is closing, nothing to say
  expect(plb.log()).toMatch(new RegExp(`127\\.0\\.0\\.1:${silent.port} of "mail": failure 1/5: no greeting within 1000 ms`));
});

test("servers that fail the start check are down before any client comes: the probes said QUIT to the silent and garbage ones", async () => {
  const busy = fake("busy-at-start", "421");
  const silent = fake("silent-at-start", "silent");
  const garbage = fake("garbage-at-start", "garbage");
  const good = fake("good-at-start", "ok");
  const { plb, port } = await plbFor([busy, silent, garbage, good], "server_retry = 5");
  for (const [f, why] of [[busy, "greeting 421"], [silent, "no greeting within 1000 ms"], [garbage, "not an SMTP reply"]] as const) {
    await plb.waitForLog(new RegExp(`127\\.0\\.0\\.1:${f.port} of "mail" is down at start: ${why}`), 15_000);
  }
  await until(() => !!silent.conns[0]?.includes("QUIT\r\n") && !!garbage.conns[0]?.includes("QUIT\r\n"), "the probes' QUIT at the silent and garbage servers");
  expect(await sendMail(port)).toStartWith("sent");
  expect(good.messages).toHaveLength(1);
  // down servers are not tried: the start check's connection is the only one each of them saw
  for (const f of [busy, silent, garbage]) expect(f.conns).toHaveLength(1);
});

test("a server that starts answering 421 during traffic is failed over transparently and counts toward server_retry", async () => {
  const flaky = fake("flaky", "ok");
  const good = fake("good2", "ok");
  const { plb, port } = await plbFor([flaky, good], "server_retry = 2");
  await startChecked(flaky, good);
  flaky.setMode("421");
  expect(await sendMail(port)).toStartWith("sent");
  expect(await sendMail(port)).toStartWith("sent");
  await plb.waitForLog(new RegExp(`127.0.0.1:${flaky.port} of "mail" is down after 2 consecutive failures: greeting 421 4.3.2 busy, try later`));
  expect(good.messages).toHaveLength(2);
  expect(flaky.messages).toHaveLength(0);
});

test("no server available: the client gets 421 4.3.2 at once, never a bare disconnect", async () => {
  // The one server is down, and silent from then on: a plb that tried it anyway would hold the
  // client for timeout_smtp_greeting (30 s), far beyond the bound below.
  const busy = fake("busy2", "421");
  const { plb, port } = await plbFor([busy], "", "30s");
  await plb.waitForLog(/is down at start: greeting 421/);
  busy.setMode("silent");
  const { out, ms } = await smtpSession(port);
  expect(out).toBe("connect-error 421 4.3.2 Service not available, closing transmission channel");
  expect(ms).toBeLessThan(5000);
  expect(busy.conns).toHaveLength(1); // the start check's only
});

test('client_address = "proxy-v1" sends a PROXY header first; probes send PROXY UNKNOWN', async () => {
  const good = fake("proxied", "ok");
  const { port } = await plbFor([good], 'client_address = "proxy-v1"');
  expect(await sendMail(port)).toStartWith("sent");
  const session = good.conns.find((c) => /mail from/i.test(c))!;
  expect(session).toMatch(new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 \\d+ ${port}\\r\\nehlo client\\.test\\r\\n`, "i"));
  await until(() => good.conns.some((c) => c.startsWith("PROXY UNKNOWN\r\nQUIT\r\n")), "the probe's PROXY UNKNOWN and QUIT");
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
  await until(() => plain.conns.some((c) => c.startsWith("EHLO plb\r\nQUIT\r\n")), "plb's EHLO and QUIT at the server without XCLIENT");
});
