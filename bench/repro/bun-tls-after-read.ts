/**
 * What terminating TLS after reading the ClientHello would cost in Bun
 * 1.4.5 (README: TLS passthrough by name). Bun's native sockets cannot do
 * it (`upgradeTLS` after a read fails the handshake:
 * tests/tls-bun-passthrough.test.ts); node:tls can, over a node:net socket
 * with the bytes unshifted back, or over a Duplex fed from a native socket
 * (what plb, whose sessions run on native sockets, would need). Each
 * variant serves a tiny HTTP/1.1 answer under wrk over TLS, keep-alive and
 * one request per connection:
 *
 * - native: Bun.listen with tls (the handshake at the accept; the baseline);
 * - node-unshift: node:net, first chunk read, unshift, new tls.TLSSocket;
 * - native-duplex: Bun.listen plain, first chunk read, a node Duplex over
 *   the native socket, new tls.TLSSocket on it.
 *
 *   bun bench/repro/bun-tls-after-read.ts [seconds]
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

const ANSWER = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
const CLOSE = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

/** Answer every request head in `text` (keep-alive, or close after the answer when asked). */
function answer(text: string, write: (s: string) => void, end: () => void): void {
  const n = text.split("\r\n\r\n").length - 1;
  const close = /connection: close/i.test(text);
  for (let i = 0; i < n; i++) write(close ? CLOSE : ANSWER);
  if (close && n > 0) end();
}

function serve(kind: string, cert: string, key: string): Promise<number> {
  if (kind === "native") {
    const l = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert, key },
      socket: { data: (s, b) => answer(b.toString(), (x) => void s.write(x), () => void s.end()), close() {}, error() {} },
    });
    return Promise.resolve(l.port);
  }
  const terminate = (t: tls.TLSSocket) => {
    t.on("error", () => t.destroy());
    t.on("data", (b: Buffer) => answer(b.toString(), (x) => void t.write(x), () => void t.end()));
  };
  if (kind === "node-unshift") {
    const srv = net.createServer((sock) => {
      sock.once("data", (first) => {
        sock.pause();
        sock.unshift(first);
        terminate(new tls.TLSSocket(sock, { isServer: true, cert, key } as tls.TLSSocketOptions));
      });
      sock.on("error", () => sock.destroy());
    });
    return new Promise((r) => srv.listen(0, "127.0.0.1", () => r((srv.address() as net.AddressInfo).port)));
  }
  // native-duplex
  type S = { d?: Duplex };
  const l = Bun.listen<S>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = {};
      },
      data(s, b) {
        if (s.data.d) return void s.data.d.push(b);
        const d = new Duplex({
          read() {},
          write(chunk, _e, cb) {
            s.write(chunk);
            cb();
          },
          final(cb) {
            s.end();
            cb();
          },
        });
        s.data.d = d;
        d.push(b);
        terminate(new tls.TLSSocket(d as unknown as net.Socket, { isServer: true, cert, key } as tls.TLSSocketOptions));
      },
      close(s) {
        s.data.d?.push(null);
      },
      error() {},
    },
  });
  return Promise.resolve(l.port);
}

async function wrk(port: number, seconds: number, close: boolean): Promise<number> {
  const args = ["wrk", "-t1", `-c${close ? 8 : 32}`, `-d${seconds}s`, ...(close ? ["-H", "Connection: close"] : []), `https://localhost:${port}/`];
  const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
}

if (Bun.argv[2] === "--serve") {
  const dir = Bun.argv[4];
  const port = await serve(Bun.argv[3], readFileSync(join(dir, "cert.pem"), "utf8"), readFileSync(join(dir, "key.pem"), "utf8"));
  console.log(port);
} else {
  const seconds = Number(Bun.argv[2] ?? 5);
  const dir = mkdtempSync(join(tmpdir(), "plb-tls-after-read-"));
  const gen = Bun.spawnSync(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost"], { stderr: "pipe" });
  if (gen.exitCode !== 0) throw new Error(String(gen.stderr));
  const rows: string[] = ["| server | keep-alive req/s | close req/s |", "|---|--:|--:|"];
  for (const kind of ["native", "node-unshift", "native-duplex"]) {
    // Each server in its own process, on CPU 0 (wrk on CPU 1).
    const child = Bun.spawn(["taskset", "-c", "0", process.execPath, import.meta.path, "--serve", kind, dir], { stdout: "pipe", stderr: "inherit" });
    const reader = child.stdout.getReader();
    const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
    const ka = await wrk(port, seconds, false);
    const cl = await wrk(port, seconds, true);
    child.kill();
    await child.exited;
    rows.push(`| ${kind} | ${Math.round(ka)} | ${Math.round(cl)} |`);
  }
  console.log(rows.join("\n"));
}
