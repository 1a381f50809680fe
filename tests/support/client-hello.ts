/**
 * ClientHellos as real clients send them: a plain Bun.listen on loopback
 * records what one connection sends until the ClientHello is whole (or
 * `ms` pass), then closes it (the client's handshake fails; that is fine).
 */
import { parseClientHello } from "../../src/tls/client-hello.ts";
import { concat } from "../../fuzz/rng.ts";

export interface Captured {
  readonly bytes: Uint8Array;
  /** Sizes of the reads the bytes arrived in. */
  readonly reads: readonly number[];
}

/** Run `client(port)` (it connects once to 127.0.0.1:port) and return what it sent first. */
export async function captureClientHello(client: (port: number) => Promise<unknown>, ms = 10_000): Promise<Captured> {
  const chunks: Uint8Array[] = [];
  let done!: () => void;
  const whole = new Promise<void>((r) => (done = r));
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, buf) {
        chunks.push(new Uint8Array(buf));
        if (parseClientHello(concat(...chunks)).kind !== "more") {
          s.end();
          done();
        }
      },
      close() {
        done();
      },
    },
  });
  const timer = setTimeout(done, ms);
  try {
    const ran = client(listener.port);
    await whole;
    await ran.catch(() => undefined);
  } finally {
    clearTimeout(timer);
    listener.stop(true);
  }
  return { bytes: concat(...chunks), reads: chunks.map((c) => c.length) };
}

/** Run a command to its end (bounded), ignoring its output. */
export async function run(cmd: string[], stdin?: string): Promise<number> {
  const p = Bun.spawn(cmd, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "ignore", stderr: "ignore" });
  const t = setTimeout(() => p.kill(), 15_000);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}
