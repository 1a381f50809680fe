import { expect, test } from "bun:test";
import { freePorts } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";
import { rss } from "../../support/rss.ts";

const GB = 1 << 30;

// A server that reads the request body at ~4 MB/s for a few seconds
// ("slow-done" on stdout), waits for a line on stdin, then reads the rest at
// full speed and answers with the number of body bytes it got.
const SERVER = `
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(8)
print("ready", flush=True)
while True:
    c, _ = l.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        b = c.recv(1)
        if not b: break
        head += b
    if not head.startswith(b"POST"):
        c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"); c.close(); continue
    length = int([l.split(b":")[1] for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0])
    got = 0; end = time.time() + float(sys.argv[2])
    while time.time() < end and got < length:
        got += len(c.recv(65536)); time.sleep(65536 / 4e6)
    print("slow-done", got, flush=True)
    sys.stdin.readline()
    buf = bytearray(1 << 20)
    while got < length:
        n = c.recv_into(buf)
        if n == 0: break
        got += n
    body = str(got).encode()
    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(body), body)); c.close()
`;

// Uploads GB bytes with Content-Length and prints the response body.
const CLIENT = `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /up HTTP/1.1\\r\\nHost: t\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % ${GB})
chunk = b"u" * (1 << 20)
for _ in range(${GB} >> 20): s.sendall(chunk)
out = b""
while True:
    b = s.recv(65536)
    if not b: break
    out += b
print(out.split(b"\\r\\n\\r\\n", 1)[1].decode(), flush=True)
`;

async function line(reader: { read(): Promise<{ value?: Uint8Array; done?: boolean }> }, want: string): Promise<string> {
  let text = "";
  const dec = new TextDecoder();
  while (!text.includes(want)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  return text;
}

test("a 1 GB upload through a slow server streams: plb's RSS grows less than 64 MB", async () => {
  const [sp, port] = await freePorts(2);
  const server = Bun.spawn(["python3", "-c", SERVER, String(sp), "4"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const sout = server.stdout.getReader();
  await line(sout, "ready");
  const plb = await startPlb(`
[[service]]
name = "up"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${sp}"]
`);
  try {
    const before = rss(plb.pid);
    const client = Bun.spawn(["python3", "-c", CLIENT, String(port)], { stdout: "pipe", stderr: "inherit" });
    await line(sout, "slow-done");
    const during = rss(plb.pid);
    server.stdin.write("go\n");
    server.stdin.flush();
    const answer = (await new Response(client.stdout).text()).trim();
    expect(Number(answer)).toBe(GB);
    console.log(`plb RSS before ${(before / 2 ** 20).toFixed(1)} MiB, during the slow upload ${(during / 2 ** 20).toFixed(1)} MiB`);
    expect(during - before).toBeLessThan(64 << 20);
  } finally {
    await plb.stop();
    server.kill("SIGKILL");
  }
}, 60_000);
