/**
 * `npm start`: plb on plb.toml.example with small demo servers on the
 * example's server addresses, so that a newcomer sees it balance, fail over
 * and bring servers back. Written with Bun only; not part of plb itself.
 *
 *   tcp-1..3  127.0.0.1:9001-9003   echo (each says its name first)
 *   web-1..2  127.0.0.1:9011-9012   HTTP, answer with their name
 *   mail-1..2 127.0.0.1:10025-10026 SMTP, accept and discard mail
 *
 * Type `stop web-1` / `start web-1` (any name above), `status`, or `help`;
 * Ctrl-C stops plb and the servers.
 */
import { join } from "node:path";
import { createInterface } from "node:readline";

const ROOT = join(import.meta.dir, "..");

interface Demo {
  readonly name: string;
  readonly port: number;
  readonly kind: "tcp" | "http" | "smtp";
  stopServer?: () => void;
}

const demos: Demo[] = [
  { name: "tcp-1", port: 9001, kind: "tcp" },
  { name: "tcp-2", port: 9002, kind: "tcp" },
  { name: "tcp-3", port: 9003, kind: "tcp" },
  { name: "web-1", port: 9011, kind: "http" },
  { name: "web-2", port: 9012, kind: "http" },
  { name: "mail-1", port: 10025, kind: "smtp" },
  { name: "mail-2", port: 10026, kind: "smtp" },
];

function say(text: string): void {
  process.stdout.write(`demo: ${text}\n`);
}

function echo(d: Demo): () => void {
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: d.port,
    socket: {
      open(s) {
        s.write(`${d.name} (127.0.0.1:${d.port}) echoes what you send\n`);
      },
      data(s, buf) {
        s.write(buf);
      },
    },
  });
  return () => server.stop(true);
}

function web(d: Demo): () => void {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: d.port,
    fetch: (req) => new Response(`Hello from ${d.name} (127.0.0.1:${d.port}): ${req.method} ${new URL(req.url).pathname}\n`),
  });
  return () => void server.stop(true);
}

interface SmtpConn {
  buf: string;
  data: boolean;
}

function mail(d: Demo): () => void {
  const server = Bun.listen<SmtpConn>({
    hostname: "127.0.0.1",
    port: d.port,
    data: { buf: "", data: false },
    socket: {
      open(s) {
        s.data = { buf: "", data: false };
        s.write(`220 ${d.name} demo ESMTP (mail is discarded)\r\n`);
      },
      data(s, chunk) {
        const c = s.data;
        c.buf += chunk.toString("latin1");
        for (;;) {
          if (c.data) {
            const end = c.buf.indexOf("\r\n.\r\n");
            if (end < 0) return;
            c.buf = c.buf.slice(end + 5);
            c.data = false;
            s.write(`250 2.0.0 Ok: accepted by ${d.name} and discarded\r\n`);
            say(`${d.name} accepted a message`);
            continue;
          }
          const nl = c.buf.indexOf("\r\n");
          if (nl < 0) return;
          const line = c.buf.slice(0, nl);
          c.buf = c.buf.slice(nl + 2);
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === "EHLO") s.write(`250-${d.name}\r\n250-PIPELINING\r\n250 8BITMIME\r\n`);
          else if (verb === "DATA") {
            c.data = true;
            s.write("354 End data with <CR><LF>.<CR><LF>\r\n");
          } else if (verb === "QUIT") {
            s.write("221 2.0.0 Bye\r\n");
            s.end();
            return;
          } else s.write("250 2.0.0 Ok\r\n");
        }
      },
    },
  });
  return () => server.stop(true);
}

const START = { tcp: echo, http: web, smtp: mail } as const;

function start(d: Demo): void {
  if (d.stopServer) return say(`${d.name} is already running`);
  try {
    d.stopServer = START[d.kind](d);
  } catch (err) {
    say(`cannot start ${d.name} on 127.0.0.1:${d.port}: ${(err as Error).message} (is something else using the port?)`);
  }
}

function stop(d: Demo): void {
  if (!d.stopServer) return say(`${d.name} is not running`);
  d.stopServer();
  d.stopServer = undefined;
}

function status(): void {
  say(demos.map((d) => `${d.name}${d.stopServer ? "" : " (stopped)"}`).join(", "));
}

const HELP = `plb runs on plb.toml.example; demo servers answer on its server addresses. Try:
  curl http://127.0.0.1:8081/                 (again: web-1 and web-2 take turns)
  python3 -c "import smtplib; smtplib.SMTP('127.0.0.1', 2525).sendmail('me@example.org', ['you@example.org'], 'Subject: hi\\r\\n\\r\\nhello')"
  python3 -c "import socket; s = socket.create_connection(('127.0.0.1', 8080)); s.sendall(b'hi\\n'); print(s.recv(99).decode())"
Then type "stop web-1" and curl a few times: plb fails over at once, and after 3 failures logs web-1 down;
"start web-1", and within timeout_cleanup (10 s) plb logs it up again. Also: "status", "help"; Ctrl-C quits.`;

for (const d of demos) start(d);

const plb = Bun.spawn([process.execPath, join(ROOT, "src", "cli.ts"), "--config", join(ROOT, "plb.toml.example"), "--logfile", "-", "--loglevel", "info"], {
  stdin: "ignore",
  stdout: "inherit",
  stderr: "inherit",
});
say(HELP);

let quitting = false;
function quit(code: number): void {
  if (quitting) return;
  quitting = true;
  for (const d of demos) if (d.stopServer) stop(d);
  process.exit(code);
}

process.on("SIGINT", () => {
  // Ctrl-C in a terminal reaches plb too (one process group): a second
  // signal would make it skip its drain, so only stop it if it is still
  // running a moment later (SIGINT sent to this process alone).
  setTimeout(() => plb.exitCode === null && plb.kill("SIGTERM"), 300).unref();
});
process.on("SIGTERM", () => plb.kill("SIGTERM"));
void plb.exited.then((code) => quit(code ?? 1));

if (process.stdin.isTTY || !process.stdin.readableEnded) {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (raw) => {
    const [cmd, name] = raw.trim().split(/\s+/);
    if (!cmd) return;
    if (cmd === "help") return say(HELP);
    if (cmd === "status") return status();
    const d = demos.find((x) => x.name === name);
    if ((cmd === "stop" || cmd === "start") && d) return cmd === "stop" ? stop(d) : start(d);
    say(`unknown command "${raw.trim()}": stop NAME, start NAME, status, help (names: ${demos.map((x) => x.name).join(" ")})`);
  });
}
