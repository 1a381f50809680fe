/**
 * An HTTP/1.1 server that ends its connections every `every` requests, as
 * real servers do (Apache's MaxKeepAliveRequests 100, nginx's
 * keepalive_requests 1000): with `Connection: close` on the last response
 * ("announce"), or by closing right after it without a word ("silent").
 * Each response names the server and counts requests per connection.
 */
import type { TCPSocketListener } from "bun";

export interface ClosingBackend {
  readonly port: number;
  /** Connections accepted. */
  connections(): number;
  /** Requests answered. */
  requests(): number;
  stop(): void;
}

interface Conn {
  buf: string;
  n: number;
}

export function closingBackend(name: string, every: number, how: "announce" | "silent"): ClosingBackend {
  let conns = 0;
  let reqs = 0;
  const server: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    data: { buf: "", n: 0 },
    socket: {
      open(s) {
        conns++;
        s.data = { buf: "", n: 0 };
      },
      data(s, d) {
        const c = s.data;
        c.buf += d.toString("latin1");
        for (;;) {
          const end = c.buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = c.buf.slice(0, end);
          c.buf = c.buf.slice(end + 4);
          const len = /\r\ncontent-length: *(\d+)/i.exec(head);
          if (len) c.buf = c.buf.slice(Number(len[1])); // bodies are small and arrive with the head here
          c.n++;
          reqs++;
          const last = c.n % every === 0;
          const body = `${name} ${String(c.n).padStart(8, "0")}\n`; // one length for every answer (ab counts others as failed)
          s.write(
            `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n${last && how === "announce" ? "Connection: close\r\n" : ""}\r\n${body}`,
          );
          if (last) {
            s.end();
            return;
          }
        }
      },
      close() {},
      error() {},
    },
  });
  return { port: server.port, connections: () => conns, requests: () => reqs, stop: () => server.stop(true) };
}
