/**
 * Real HTTP/1.1 servers for end-to-end tests (node:http on Bun): each
 * answers with its name and records what it received, and counts the TCP
 * connections it accepted (to prove connection reuse).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: Buffer;
}

export interface HttpBackend {
  readonly name: string;
  readonly port: number;
  readonly seen: Seen[];
  connections(): number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const defaultHandler =
  (name: string): Handler =>
  (_req, res) => {
    res.setHeader("Content-Type", "text/plain");
    res.end(name);
  };

export async function httpBackend(name: string, handler: Handler = defaultHandler(name), host = "127.0.0.1"): Promise<HttpBackend> {
  const seen: Seen[] = [];
  let conns = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, rawHeaders: req.rawHeaders, body });
      handler(req, res, body);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on("connection", () => conns++);
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as { port: number }).port;
  return {
    name,
    port,
    seen,
    connections: () => conns,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Send raw bytes, read until the server closes or `until` matches; returns the text. */
export async function rawHttp(port: number, data: string | Uint8Array, until?: RegExp, timeoutMs = 5000): Promise<string> {
  return await new Promise((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => resolve(out), timeoutMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(data);
        },
        data(s, b) {
          out += b.toString("latin1");
          if (until?.test(out)) {
            clearTimeout(t);
            s.end();
            resolve(out);
          }
        },
        close() {
          clearTimeout(t);
          resolve(out);
        },
        connectError(_s, e) {
          clearTimeout(t);
          reject(e);
        },
        error() {},
      },
    });
  });
}
