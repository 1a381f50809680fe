/**
 * A small SMTP server in the test process for greeting scenarios: it can
 * greet properly (and accept mail), answer 421, stay silent or send garbage,
 * and records every byte it receives per connection. (Real peers —
 * aiosmtpd, Postfix — are in tests/support/smtp/.)
 */
export type FakeMode = "ok" | "421" | "silent" | "garbage" | "xclient";

export interface FakeSmtp {
  readonly port: number;
  /** Bytes received, one string per connection (latin1). */
  readonly conns: string[];
  /** DATA bodies accepted. */
  readonly messages: string[];
  /** How new connections are greeted from now on. */
  setMode(m: FakeMode): void;
  stop(): void;
}

export function fakeSmtp(name: string, initial: FakeMode): FakeSmtp {
  let mode = initial;
  const conns: string[] = [];
  const messages: string[] = [];
  const server = Bun.listen<{ i: number; buf: string; data: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    data: { i: 0, buf: "", data: false },
    socket: {
      open(s) {
        s.data = { i: conns.push("") - 1, buf: "", data: false };
        if (mode === "ok" || mode === "xclient") s.write(`220 ${name} ESMTP ready\r\n`);
        else if (mode === "421") {
          s.write("421 4.3.2 busy, try later\r\n");
          setTimeout(() => s.end(), 20);
        } else if (mode === "garbage") s.write("HTTP/1.1 400 Bad Request\r\n\r\n");
      },
      data(s, d) {
        const text = d.toString("latin1");
        conns[s.data.i] += text;
        s.data.buf += text;
        for (;;) {
          if (s.data.data) {
            const end = s.data.buf.indexOf("\r\n.\r\n");
            if (end < 0) return;
            messages.push(s.data.buf.slice(0, end + 2));
            s.data.buf = s.data.buf.slice(end + 5);
            s.data.data = false;
            s.write(`250 2.0.0 queued by ${name}\r\n`);
            continue;
          }
          const nl = s.data.buf.indexOf("\r\n");
          if (nl < 0) return;
          const line = s.data.buf.slice(0, nl);
          s.data.buf = s.data.buf.slice(nl + 2);
          const cmd = line.slice(0, 4).toUpperCase();
          if (line.startsWith("PROXY ")) continue;
          if (mode !== "ok" && mode !== "xclient") {
            if (cmd === "QUIT") s.write("221 bye\r\n"), s.end();
            continue;
          }
          if (cmd === "EHLO") s.write(`250-${name}\r\n${mode === "xclient" ? "250-XCLIENT ADDR PORT PROTO NAME\r\n" : ""}250 8BITMIME\r\n`);
          else if (cmd === "HELO") s.write(`250 ${name}\r\n`);
          else if (cmd === "XCLI") s.write(`220 ${name} ESMTP ready for ${/ADDR=(\S+)/.exec(line)?.[1]}\r\n`);
          else if (cmd === "MAIL" || cmd === "RCPT" || cmd === "RSET" || cmd === "NOOP") s.write("250 2.0.0 ok\r\n");
          else if (cmd === "DATA") {
            s.data.data = true;
            s.write("354 go ahead\r\n");
          } else if (cmd === "QUIT") {
            s.write("221 2.0.0 bye\r\n");
            s.end();
            return;
          } else s.write("502 5.5.2 what?\r\n");
        }
      },
      close() {},
      error() {},
    },
  });
  return { port: server.port, conns, messages, setMode: (m) => void (mode = m), stop: () => server.stop(true) };
}
