/**
 * Hostile slow clients, run as a child process (its own descriptor limit):
 * `bun slow-clients.ts <port> <count> <mode> <interval_ms> <max_ms>`.
 *
 * mode "head": each client sends a request head one byte per interval and
 * never finishes it (slowloris). mode "body": each client sends a whole head
 * announcing a 1 MB body, then one byte per interval.
 *
 * Prints one JSON line when every client is closed or after max_ms:
 * { opened, closed, got408, lifetimes: ms from each client's first byte to
 * its close, sorted }.
 */
export {};

const port = Number(Bun.argv[2]);
const count = Number(Bun.argv[3]);
const mode = Bun.argv[4];
const interval = Number(Bun.argv[5]);
const maxMs = Number(Bun.argv[6]);

const HEAD = "GET /slow HTTP/1.1\r\nHost: example\r\nUser-Agent: slowloris\r\nX-Padding: " + "a".repeat(4000) + "\r\n\r\n";
const BODY_HEAD = "POST /slow HTTP/1.1\r\nHost: example\r\nContent-Length: 1000000\r\n\r\n";

interface Client {
  first: number;
  sent: number;
  text: string;
  closedAt: number;
  sock?: { write(d: string): number; end(): void };
}

const clients: Client[] = [];
let opened = 0;
let closed = 0;
const started = Date.now();

for (let i = 0; i < count; i++) {
  const c: Client = { first: 0, sent: 0, text: "", closedAt: 0 };
  clients.push(c);
  Bun.connect<Client>({
    hostname: "127.0.0.1",
    port,
    data: c,
    socket: {
      open(s) {
        opened++;
        c.sock = s;
        c.first = Date.now();
        if (mode === "body") s.write(BODY_HEAD);
        s.write(mode === "head" ? HEAD[c.sent++] : "x");
      },
      data(_s, d) {
        c.text += d.toString("latin1");
      },
      close() {
        if (c.closedAt === 0) {
          c.closedAt = Date.now();
          closed++;
        }
      },
      error() {},
      connectError() {
        c.closedAt = -1;
        closed++;
      },
    },
  }).catch(() => {});
  if (i % 100 === 99) await Bun.sleep(5); // do not overflow the listen queue
}

const timer = setInterval(() => {
  for (const c of clients) {
    if (c.sock && c.closedAt === 0) c.sock.write(mode === "head" ? HEAD[c.sent++ % HEAD.length] : "x");
  }
}, interval);

for (;;) {
  await Bun.sleep(50);
  if (closed >= count || Date.now() - started > maxMs) break;
}
clearInterval(timer);
const lifetimes = clients.filter((c) => c.closedAt > 0).map((c) => c.closedAt - c.first).sort((a, b) => a - b);
const got408 = clients.filter((c) => c.text.startsWith("HTTP/1.1 408 ")).length;
console.log(JSON.stringify({ opened, closed, got408, lifetimes }));
process.exit(0);
