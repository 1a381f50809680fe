/** Free loopback ports for tests (bind port 0, read it, release it). */
import { createServer } from "node:net";

export async function freePort(host = "127.0.0.1"): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number, host = "127.0.0.1"): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort(host);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** A free port below 1024 on 127.0.0.1 (binding it needs root). */
export function privilegedPort(): number {
  for (let p = 600 + Math.floor(Math.random() * 300); p < 1024; p++) {
    try {
      Bun.listen({ hostname: "127.0.0.1", port: p, socket: { data() {} } }).stop(true);
      return p;
    } catch {}
  }
  throw new Error("no free port below 1024");
}
