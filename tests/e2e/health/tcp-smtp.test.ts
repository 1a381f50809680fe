/**
 * Active checks of tcp and smtp backends (health = { … }): a tcp server
 * whose answer to the check's `send` stops matching `expect` leaves while
 * it still accepts, a plain connect check takes a closed port out; an smtp
 * check reads the greeting, says EHLO and QUIT (a real aiosmtpd logs a clean
 * session), and a server greeting 421 leaves and comes back.
 */
import { afterEach, expect, test } from "bun:test";
import { fakeSmtp } from "../../support/fake-smtp.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";
import { startSmtpServer } from "../../support/smtp/aiosmtpd.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A line server: "PING" → "+PONG" (or "-LOADING" while sick); anything else → its name. */
function pingServer(name: string) {
  const state = { sick: false, pings: 0 };
  const server = Bun.listen<{ buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    data: { buf: "" },
    socket: {
      open(s) {
        s.data = { buf: "" };
      },
      data(s, d) {
        s.data.buf += d.toString();
        for (let nl = s.data.buf.indexOf("\n"); nl >= 0; nl = s.data.buf.indexOf("\n")) {
          const line = s.data.buf.slice(0, nl).trim();
          s.data.buf = s.data.buf.slice(nl + 1);
          if (line === "PING") state.pings++;
          s.write(line === "PING" ? (state.sick ? "-LOADING\r\n" : "+PONG\r\n") : `${name}\r\n`);
        }
      },
      close() {},
      error() {},
    },
  });
  return { port: server.port, state, stop: () => server.stop(true) };
}

/** One line through plb: which server answered "WHO". */
async function who(port: number): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let got = "";
  const s = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(sock, d) {
        got += d.toString();
        if (got.includes("\n")) {
          sock.end();
          resolve(got.trim());
        }
      },
      close: () => resolve(got.trim()),
      error: (_s, e) => reject(e),
    },
  });
  s.write("WHO\r\n");
  const timer = setTimeout(() => reject(new Error("no answer through plb")), 5000);
  return promise.finally(() => clearTimeout(timer));
}

test("tcp: send/expect — a server answering -LOADING leaves (still accepting), no client reaches it, and comes back", async () => {
  const a = pingServer("A");
  const b = pingServer("B");
  cleanup.push(a.stop, b.stop);
  const [port] = await freePorts(1);
  const plb = await startPlb(`
[[service]]
name = "kv"
protocol = "tcp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
health = { send = "PING\\r\\n", expect = "+PONG", interval = "200ms", timeout = "150ms", rise = 2, fall = 2 }
`);
  cleanup.push(() => plb.stop());
  const answers = async (n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await who(port));
    return out.sort();
  };
  expect(await answers(4)).toEqual(["A", "A", "B", "B"]);
  const t0 = Date.now();
  while (b.state.pings < 2) {
    if (Date.now() - t0 > 3000) throw new Error("B was not checked");
    await Bun.sleep(20);
  }
  b.state.sick = true;
  await plb.waitForLog(new RegExp(`server 127.0.0.1:${b.port} of "kv" is down after 2 failed checks: no "\\+PONG" within 150 ms \\(got "-LOADING\\\\r\\\\n"\\)`));
  expect(await answers(6)).toEqual(Array(6).fill("A"));
  b.state.sick = false;
  await plb.waitForLog(new RegExp(`server 127.0.0.1:${b.port} of "kv" is up again: after 2 passed checks: got "\\+PONG"`));
  expect(await answers(4)).toEqual(["A", "A", "B", "B"]);
});

test("tcp: a connect check takes out a server whose port closed, with reason refused", async () => {
  const a = pingServer("A");
  const b = pingServer("B");
  cleanup.push(a.stop);
  const [port, statsPort] = await freePorts(2);
  const plb = await startPlb(`
[stats]
listen = "127.0.0.1:${statsPort}"
[[service]]
name = "kv"
protocol = "tcp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
health = { interval = "200ms", fall = 2 }
`);
  cleanup.push(() => plb.stop());
  // Up first (a busy machine may run the start check late: a server already gone then is down "at start").
  await plb.waitForLog(new RegExp(`probe of server 127\\.0\\.0\\.1:${b.port} of "kv": connected`));
  b.stop();
  await plb.waitForLog(new RegExp(`server 127.0.0.1:${b.port} of "kv" is down after 2 failed checks: `));
  const metrics = await (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text();
  expect(metrics).toMatch(new RegExp(`plb_server_check_failures_total\\{backend="kv",server="127.0.0.1:${b.port}",reason="refused"\\} [2-9]`));
});

test("smtp: checks say EHLO and QUIT (a real aiosmtpd logs clean sessions); a server greeting 421 leaves and comes back", async () => {
  const real = await startSmtpServer({ name: "real" });
  const flaky = fakeSmtp("flaky", "ok");
  cleanup.push(() => real.stop(), flaky.stop);
  const [port] = await freePorts(1);
  const plb = await startPlb(`
[[service]]
name = "mail"
protocol = "smtp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${real.port}", "127.0.0.1:${flaky.port}"]
health = { interval = "300ms", timeout = "250ms", rise = 2, fall = 2 }
`);
  cleanup.push(() => plb.stop());
  const sessions = await real.waitForSessions((all) => all.filter((s) => !s.open).length >= 3, 10_000);
  for (const s of sessions.filter((x) => !x.open)) {
    expect(s.commands).toEqual(["EHLO", "QUIT"]);
    expect(s.closedBy).toBe("quit");
  }
  expect(flaky.conns.some((c) => /^EHLO \S+\r\nQUIT\r\n$/.test(c))).toBe(true);
  flaky.setMode("421");
  await plb.waitForLog(new RegExp(`server 127.0.0.1:${flaky.port} of "mail" is down after 2 failed checks: greeting 421 4.3.2 busy, try later`));
  flaky.setMode("ok");
  await plb.waitForLog(new RegExp(`server 127.0.0.1:${flaky.port} of "mail" is up again: after 2 passed checks`));
  expect(plb.log()).not.toContain(`127.0.0.1:${real.port} of "mail" is down`);
});
