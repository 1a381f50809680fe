/**
 * Debian's pebble (a real ACME server for testing clients) and
 * pebble-challtestsrv (its DNS: every name resolves to 127.0.0.1) on
 * loopback ports of their own, plus the two challenge answerers a test
 * needs until plb's listeners answer challenges themselves:
 *
 *   const p = await startPebble();            // PEBBLE_VA_NOSLEEP=1, nonce rejection at pebble's default 5 %
 *   p.directory, p.ca                          // the ACME directory URL; the CA (PEM text) pebble's HTTPS uses
 *   const http = await http01Answerer(p.httpPort, tokens);   // Bun.serve for /.well-known/acme-challenge/
 *   const alpn = tlsAlpn01Answerer(p.tlsPort);  // a Bun.listen TLS server offering acme-tls/1
 *   await p.root()                             // pebble's root (management /roots/0), to verify chains
 *   p.stop()
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ACME_TLS_ALPN, type Http01Tokens, http01Token, type TlsAlpn01Certs, type ValidationCert } from "../../src/acme/challenges.ts";
import { freePorts } from "./ports.ts";
import { testCa } from "./test-ca.ts";

export interface Pebble {
  readonly directory: string;
  /** PEM text of the CA that signed pebble's own HTTPS certificate (acme.directory_ca). */
  readonly ca: string;
  readonly httpPort: number;
  readonly tlsPort: number;
  readonly dir: string;
  /** Pebble's current root (it makes a new one at every start). */
  root(): Promise<string>;
  /** pebble-challtestsrv answers A queries for `host` with `addresses` (instead of 127.0.0.1)… */
  setA(host: string, addresses: readonly string[]): Promise<void>;
  /** …and with 127.0.0.1 again. */
  clearA(host: string): Promise<void>;
  /** What pebble printed so far. */
  output(): string;
  stop(): void;
}

export interface PebbleOptions {
  /** PEBBLE_WFE_NONCEREJECT: left at pebble's default (5 %) when absent. */
  readonly nonceReject?: number;
  /** PEBBLE_AUTHZREUSE: percent of valid authorizations reused; default 0 here so each order validates. */
  readonly authzReuse?: number;
}

async function collect(stream: ReadableStream<Uint8Array>, sink: string[]): Promise<void> {
  const d = new TextDecoder();
  for await (const chunk of stream) sink.push(d.decode(chunk));
}

async function ready(url: string, ca: string, what: string, out: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(url, { tls: { ca } } as RequestInit);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url} within 20 s:\n${out()}`);
    await Bun.sleep(50);
  }
}

async function challtest(port: number, path: string, body: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/${path}`, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`pebble-challtestsrv /${path}: ${res.status} ${await res.text()}`);
}

export async function startPebble(o: PebbleOptions = {}): Promise<Pebble> {
  const ca = await testCa();
  const dir = mkdtempSync(join(tmpdir(), "plb-pebble-"));
  const [acmePort, mgmtPort, dnsPort, challMgmtPort, httpPort, tlsPort] = await freePorts(6);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: ca.server.cert,
      privateKey: ca.server.key,
      httpPort,
      tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
    },
  };
  writeFileSync(join(dir, "pebble.json"), JSON.stringify(config));
  const lines: string[] = [];
  const dns = Bun.spawn(
    ["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", `127.0.0.1:${dnsPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${challMgmtPort}`],
    { stdout: "pipe", stderr: "pipe" },
  );
  void collect(dns.stdout, lines);
  void collect(dns.stderr, lines);
  const env: Record<string, string> = { ...(process.env as Record<string, string>), PEBBLE_VA_NOSLEEP: "1", PEBBLE_AUTHZREUSE: String(o.authzReuse ?? 0) };
  delete env.PEBBLE_WFE_NONCEREJECT;
  if (o.nonceReject !== undefined) env.PEBBLE_WFE_NONCEREJECT = String(o.nonceReject);
  const pebble = Bun.spawn(["pebble", "-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`], { stdout: "pipe", stderr: "pipe", env });
  void collect(pebble.stdout, lines);
  void collect(pebble.stderr, lines);
  const caPem = readFileSync(ca.ca, "utf8");
  const stop = () => {
    pebble.kill();
    dns.kill();
  };
  const directory = `https://127.0.0.1:${acmePort}/dir`;
  try {
    await ready(directory, caPem, "pebble", () => lines.join(""));
  } catch (err) {
    stop();
    throw err;
  }
  return {
    directory,
    ca: caPem,
    httpPort,
    tlsPort,
    dir,
    async root() {
      const res = await fetch(`https://127.0.0.1:${mgmtPort}/roots/0`, { tls: { ca: caPem } } as RequestInit);
      if (!res.ok) throw new Error(`pebble /roots/0: ${res.status}`);
      return await res.text();
    },
    async setA(host, addresses) {
      await challtest(challMgmtPort, "add-a", { host: `${host}.`, addresses });
    },
    async clearA(host) {
      await challtest(challMgmtPort, "clear-a", { host: `${host}.` });
    },
    output: () => lines.join(""),
    stop,
  };
}

/** HTTP-01 answers on 127.0.0.1:`port` from `tokens`; counts the requests pebble made. */
export function http01Answerer(port: number, tokens: Http01Tokens): { stop(): void; readonly asked: string[] } {
  const asked: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch(req) {
      const url = new URL(req.url);
      asked.push(`${req.headers.get("host")}${url.pathname}`);
      const token = http01Token(url.pathname);
      const answer = token === undefined ? undefined : tokens.get(token);
      return answer === undefined ? new Response("no such token\n", { status: 404 }) : new Response(answer, { headers: { "content-type": "text/plain" } });
    },
  });
  return { stop: () => server.stop(true), asked };
}

/**
 * TlsAlpn01Certs that serve on 127.0.0.1:`port`: Bun.listen takes one
 * certificate per listener (no SNI list), so each set() listens anew with
 * the newest validation certificate; the order flow validates one name at a
 * time. Records the ALPN protocol of every handshake.
 */
export function tlsAlpn01Answerer(port: number): TlsAlpn01Certs & { stop(): void; readonly alpn: string[] } {
  const certs = new Map<string, ValidationCert>();
  const alpn: string[] = [];
  let listener: { stop(closeActive?: boolean): void } | undefined;
  const wire = Buffer.concat([Buffer.of(ACME_TLS_ALPN.length), Buffer.from(ACME_TLS_ALPN)]);
  const relisten = (cert: ValidationCert | undefined) => {
    listener?.stop(true);
    listener = undefined;
    if (!cert) return;
    listener = Bun.listen({
      hostname: "127.0.0.1",
      port,
      tls: { cert: cert.certPem, key: cert.keyPem, ALPNProtocols: wire } as never,
      socket: {
        handshake(s) {
          alpn.push(String((s as unknown as { alpnProtocol: string | false }).alpnProtocol));
          s.end();
        },
        data() {},
      },
    });
  };
  return {
    alpn,
    set(name, cert) {
      certs.set(name, cert);
      relisten(cert);
    },
    delete(name) {
      certs.delete(name);
      relisten([...certs.values()].at(-1));
    },
    get: (name) => certs.get(name),
    stop: () => relisten(undefined),
  };
}
