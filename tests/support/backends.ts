/** Real backend servers for end-to-end tests, on loopback. */
import type { TCPSocketListener } from "bun";
import { join } from "node:path";
import { BUN } from "./plb.ts";

export interface Backend {
  readonly port: number;
  readonly host: string;
  /** Connections accepted so far. */
  accepted(): number;
  stop(): void;
}

type Mode =
  /** Echo every byte; pass the client's FIN back after the echo. */
  | "echo"
  /** Write `name\n` on connect, then close. */
  | { name: string };

/** An in-process backend (Bun.listen). */
export function backend(mode: Mode, port = 0, host = "127.0.0.1"): Backend {
  let count = 0;
  const server: TCPSocketListener<{ q: Uint8Array[] }> = Bun.listen<{ q: Uint8Array[] }>({
    hostname: host,
    port,
    allowHalfOpen: true,
    data: { q: [] },
    socket: {
      open(s) {
        count++;
        s.data = { q: [] };
        if (mode !== "echo") {
          s.write(`${mode.name}\n`);
          s.shutdown();
        }
      },
      data(s, buf) {
        if (mode !== "echo") return;
        if (s.data.q.length) return void s.data.q.push(buf);
        const n = s.write(buf);
        if (n < buf.length) {
          s.data.q.push(buf.subarray(Math.max(n, 0)));
          (s as unknown as { pause(): void }).pause();
        }
      },
      drain(s) {
        const q = s.data.q;
        while (q.length) {
          const n = s.write(q[0]);
          if (n < q[0].length) {
            q[0] = q[0].subarray(Math.max(n, 0));
            return;
          }
          q.shift();
        }
        (s as unknown as { resume(): void }).resume();
        if ((s.data as { fin?: boolean }).fin) s.shutdown();
      },
      end(s) {
        if (s.data.q.length) (s.data as { fin?: boolean }).fin = true;
        else s.shutdown();
      },
      close() {},
      error() {},
    },
  });
  return { port: server.port, host, accepted: () => count, stop: () => server.stop(true) };
}

/** A backend in its own process, so a test can kill it. */
export async function backendProcess(name: string, port: number, host = "127.0.0.1") {
  const proc = Bun.spawn([BUN, join(import.meta.dir, "backend-proc.ts"), name, String(port), host], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  if (!new TextDecoder().decode(value).includes("ready")) throw new Error(`backend ${name} did not start`);
  reader.releaseLock();
  return proc;
}

/** Connect, send `payload` (optional), half-close, read everything until the server closes. */
export async function request(port: number, payload = "", host = "127.0.0.1", timeoutMs = 5000): Promise<string> {
  const got = await transfer(port, new TextEncoder().encode(payload), host, timeoutMs);
  return Buffer.from(got).toString();
}

/**
 * Send `data` with backpressure, half-close, and collect everything the
 * other side sends until it closes. Returns the received bytes.
 */
export async function transfer(port: number, data: Uint8Array, host = "127.0.0.1", timeoutMs = 60_000): Promise<Uint8Array> {
  return await new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let off = 0;
    const t = setTimeout(() => reject(new Error(`transfer to ${host}:${port} timed out after ${timeoutMs} ms (sent ${off}/${data.length})`)), timeoutMs);
    const pump = (s: { write(b: Uint8Array): number; shutdown(): void }) => {
      while (off < data.length) {
        const n = s.write(data.subarray(off, Math.min(off + (1 << 20), data.length)));
        if (n <= 0) return;
        off += n;
      }
      s.shutdown();
    };
    Bun.connect({
      hostname: host,
      port,
      allowHalfOpen: true,
      socket: {
        open: pump,
        drain: pump,
        data(_s, buf) {
          chunks.push(buf);
        },
        end(s) {
          s.end();
        },
        close() {
          clearTimeout(t);
          resolve(Buffer.concat(chunks));
        },
        connectError(_s, err) {
          clearTimeout(t);
          reject(err);
        },
        error(_s, err) {
          clearTimeout(t);
          reject(err);
        },
      },
    }).catch(() => {});
  });
}
