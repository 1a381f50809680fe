/**
 * TLS peers for passthrough tests: certificates made with openssl for the
 * names given, HTTPS servers (Bun.serve) that answer with their label, a
 * relay that reshapes the client's first TLS record on its way (one byte
 * at a time, or split over several records), and clients (curl, openssl
 * s_client) that verify the server's certificate.
 */
import type { Server, TCPSocketListener } from "bun";
import { CertDir, type Pair, sClient } from "./certs.ts";

export type CertFiles = Pair;

/** A self-signed ECDSA certificate for `names` (the first is the CN) in a fresh directory. */
export function makeCert(names: readonly string[]): Promise<CertFiles> {
  return new CertDir().cert("cert", { dns: names, days: 2 });
}

/** An HTTPS server on loopback answering every request with `label`. */
export function httpsServer(label: string, files: CertFiles): Server<undefined> {
  return Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: Bun.file(files.cert), key: Bun.file(files.key) }, fetch: () => new Response(label) });
}

export interface Output {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(cmd: string[], stdin?: string, ms = 15_000): Promise<Output> {
  const p = Bun.spawn(cmd, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  const t = setTimeout(() => p.kill(), ms);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(t);
  return { code, stdout, stderr };
}

/** curl https://NAME:PORT/ reaching 127.0.0.1 (`--resolve`), or 127.0.0.1:`connectPort` when it differs (`--connect-to`), trusting only `ca`. */
export function curlName(name: string, port: number, ca: string, connectPort = port, maxSeconds = 10): Promise<Output> {
  const to = connectPort === port ? ["--resolve", `${name}:${port}:127.0.0.1`] : ["--connect-to", `${name}:${port}:127.0.0.1:${connectPort}`];
  return run(["curl", "-sS", "--max-time", String(maxSeconds), "--cacert", ca, ...to, `https://${name}:${port}/`]);
}

/** One GET through openssl s_client (certs.ts) to 127.0.0.1:port with SNI `name` (undefined: none), verifying against `ca`: what came back, with s_client's messages. */
export async function getOverSClient(port: number, name: string | undefined, ca: string): Promise<string> {
  return (await sClient(port, name, ["-CAfile", ca, "-verify_return_error", "-quiet", "-ign_eof"], "GET / HTTP/1.0\r\n\r\n")).output;
}

export type Reshape =
  /** The first record one byte per `ms` ms. */
  | { kind: "slow"; ms: number }
  /** The first record's handshake bytes in records of these sizes (the last takes the rest), one write each. */
  | { kind: "split"; sizes: readonly number[] };

interface Link {
  server?: import("bun").Socket<undefined>;
  /** Client bytes before the first record is whole. */
  held: Uint8Array;
  /** The first record is being sent on (later bytes wait in toServer). */
  sending: boolean;
  reshaped: boolean;
  toServer: Uint8Array[];
}

/** A relay from a loopback port to 127.0.0.1:`target` that reshapes each client's first TLS record (small test flows: no backpressure handling). */
export function reshapingRelay(target: number, shape: Reshape): TCPSocketListener<Link> {
  const send = async (l: Link, first: Uint8Array) => {
    const server = l.server!;
    if (shape.kind === "slow") {
      for (let i = 0; i < first.length; i++) {
        server.write(first.subarray(i, i + 1));
        await Bun.sleep(shape.ms);
      }
    } else {
      const hs = first.subarray(5);
      let at = 0;
      for (const size of [...shape.sizes, hs.length]) {
        const n = Math.min(size, hs.length - at);
        if (n <= 0) continue;
        server.write(Uint8Array.from([first[0], first[1], first[2], n >> 8, n & 0xff, ...hs.subarray(at, at + n)]));
        at += n;
        await Bun.sleep(5);
      }
    }
    l.reshaped = true;
    for (const b of l.toServer) server.write(b);
    l.toServer = [];
  };
  /** Send the first record on once it is whole and the server connected. */
  const onward = (l: Link) => {
    if (l.sending || l.server === undefined || l.held.length < 5) return;
    const need = 5 + ((l.held[3] << 8) | l.held[4]);
    if (l.held.length < need) return;
    const all = l.held;
    l.sending = true;
    l.held = new Uint8Array(0);
    if (all.length > need) l.toServer.push(all.subarray(need));
    void send(l, all.subarray(0, need));
  };
  return Bun.listen<Link>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(client) {
        const link: Link = { held: new Uint8Array(0), sending: false, reshaped: false, toServer: [] };
        client.data = link;
        link.server = await Bun.connect({
          hostname: "127.0.0.1",
          port: target,
          socket: {
            data: (_s, b) => void client.write(b),
            close: () => void client.end(),
            error: () => void client.end(),
          },
        });
        onward(link);
      },
      data(client, buf) {
        const l = client.data;
        if (l.reshaped) l.server!.write(buf);
        else if (l.sending) l.toServer.push(buf);
        else {
          l.held = new Uint8Array([...l.held, ...buf]);
          onward(l);
        }
      },
      close(client) {
        client.data?.server?.end();
      },
    },
  });
}
