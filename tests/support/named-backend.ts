/** Backends that say who they are, for tests that count which server a client reached. */
import type { TCPSocketListener } from "bun";
import { request } from "./backends.ts";

export interface NamedBackend {
  stop(): void;
  accepted(): number;
}

/** Sends `name\n` on connect, then echoes, and passes the client's FIN back (a connection can be held open). */
export function namedEcho(name: string, host: string, port: number): NamedBackend {
  let count = 0;
  const server: TCPSocketListener = Bun.listen({
    hostname: host,
    port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        count++;
        s.write(`${name}\n`);
      },
      data(s, buf) {
        s.write(buf);
      },
      end(s) {
        s.shutdown();
      },
      error() {},
    },
  });
  return { stop: () => server.stop(true), accepted: () => count };
}

/** The name of the server one connection to `port` reached. */
export async function reached(port: number, host = "127.0.0.1"): Promise<string> {
  return (await request(port, "", host)).split("\n")[0]!;
}

/** How many of `n` connections reached each server, by name. */
export async function shares(port: number, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const name = await reached(port);
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  return seen;
}
