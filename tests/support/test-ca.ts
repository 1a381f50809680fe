/**
 * A test CA made with openssl for the TLS tests (ECDSA P-256, fast), in a
 * temp dir of its own per test process:
 *
 *   const ca = await testCa();
 *   ca.ca            the CA certificate (what plb's server_tls.ca trusts)
 *   ca.server        app.internal, localhost and IP 127.0.0.1, signed by the CA
 *   ca.wrongCa       the same names, signed by another CA
 *   ca.dnsOnly       app.internal only (no IP address): a name mismatch when checked against 127.0.0.1
 *   ca.expired       app.internal and 127.0.0.1, expired yesterday
 *   ca.client        a client certificate (CN plb-client) signed by the CA
 */
import { CertDir, type Pair } from "./certs.ts";

export type CertFiles = Pair;

export interface TestCa {
  readonly dir: string;
  readonly ca: string;
  readonly server: CertFiles;
  readonly wrongCa: CertFiles;
  readonly dnsOnly: CertFiles;
  readonly expired: CertFiles;
  readonly client: CertFiles;
}

let made: Promise<TestCa> | undefined;

async function make(): Promise<TestCa> {
  const certs = new CertDir();
  const [ca, otherCa] = await Promise.all([certs.ca("ca"), certs.ca("other-ca")]);
  const names = { dns: ["app.internal", "localhost"], extraSan: ["IP:127.0.0.1"] };
  const [server, wrongCa, dnsOnly, expired, client] = await Promise.all([
    certs.cert("server", { ...names, ca }),
    certs.cert("wrong-ca", { ...names, ca: otherCa }),
    certs.cert("dns-only", { dns: ["app.internal"], ca }),
    certs.cert("expired", { ...names, ca, days: -1 }),
    certs.cert("client", { subject: "/CN=plb-client", ca, client: true }),
  ]);
  return { dir: certs.dir, ca: ca.cert, server, wrongCa, dnsOnly, expired, client };
}

/** The test CA and its certificates (made once per test process). */
export function testCa(): Promise<TestCa> {
  made ??= make();
  return made;
}
