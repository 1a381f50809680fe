import { expect, test } from "bun:test";
import { freePort } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";
import { rss } from "../../support/rss.ts";

const GB = 1 << 30;

/** A server that writes `total` bytes as fast as the socket takes them, then closes. */
function source(total: number) {
  const chunk = new Uint8Array(256 << 10).fill(120);
  const pump = (s: { data: { sent: number }; write(b: Uint8Array): number; end(): void }) => {
    while (s.data.sent < total) {
      const n = s.write(chunk.subarray(0, Math.min(chunk.length, total - s.data.sent)));
      if (n <= 0) return;
      s.data.sent += n;
    }
    s.end();
  };
  return Bun.listen<{ sent: number }>({
    hostname: "127.0.0.1",
    port: 0,
    data: { sent: 0 },
    socket: {
      open(s) {
        s.data = { sent: 0 };
        pump(s);
      },
      drain: pump,
      data() {},
      close() {},
    },
  });
}

// Reads at about 4 MB/s for `slow` seconds, prints "slow-done", waits for a
// line on stdin, then reads the rest at full speed and prints the total.
const CLIENT = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.connect(("127.0.0.1", int(sys.argv[1])))
total = 0
end = time.time() + float(sys.argv[2])
while time.time() < end:
    b = s.recv(65536)
    if not b: break
    total += len(b)
    time.sleep(65536 / 4e6)
print("slow-done", total, flush=True)
sys.stdin.readline()
buf = bytearray(1 << 20)
while True:
    n = s.recv_into(buf)
    if n == 0: break
    total += n
print("total", total, flush=True)
`;

test("a client reading slowly does not make plb buffer a 1 GB response (RSS growth < 64 MB)", async () => {
  const src = source(GB);
  const listen = await freePort();
  const plb = await startPlb(`
[[service]]
name = "dl"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${src.port}"]
`);
  try {
    const before = rss(plb.pid);
    const client = Bun.spawn(["python3", "-c", CLIENT, String(listen), "5"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const reader = client.stdout.getReader();
    const dec = new TextDecoder();
    let out = "";
    while (!out.includes("slow-done")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += dec.decode(value);
    }
    const during = rss(plb.pid);
    client.stdin.write("go\n");
    client.stdin.flush();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break; // the client prints "total N" and exits
      out += dec.decode(value);
    }
    await client.exited;
    const total = Number(/total (\d+)/.exec(out)?.[1]);
    if (total !== GB) console.error(`client output: ${out}\n${await new Response(client.stderr).text()}`);
    expect(total).toBe(GB);
    const growth = during - before;
    console.log(`plb RSS before ${(before / 2 ** 20).toFixed(1)} MiB, while the client read slowly ${(during / 2 ** 20).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(64 << 20);
  } finally {
    await plb.stop();
    src.stop(true);
  }
}, 60_000);
