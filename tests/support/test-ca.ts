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
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestCa {
  readonly dir: string;
  readonly ca: string;
  readonly server: CertFiles;
  readonly wrongCa: CertFiles;
  readonly dnsOnly: CertFiles;
  readonly expired: CertFiles;
  readonly client: CertFiles;
}

async function openssl(args: string[], dir: string): Promise<void> {
  const p = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`openssl ${args.join(" ")}: ${await new Response(p.stderr).text()}`);
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function selfSigned(dir: string, name: string, cn: string): Promise<void> {
  await openssl(["req", "-x509", ...EC, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "30", "-subj", `/CN=${cn}`], dir);
}

async function signed(dir: string, name: string, cn: string, san: string, issuer: string, days: number): Promise<CertFiles> {
  await openssl(["req", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
  writeFileSync(join(dir, `${name}.ext`), `${san ? `subjectAltName=${san}\n` : ""}basicConstraints=CA:FALSE\n`);
  // -days -1: not after yesterday (openssl 3.0 has no -not_after); a serial of its own (signing runs in parallel: no shared .srl file)
  await openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`, "-set_serial", `0x${crypto.randomUUID().replace(/-/g, "")}`, "-out", `${name}.pem`, "-days", String(days), "-extfile", `${name}.ext`], dir);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

let made: Promise<TestCa> | undefined;

async function make(): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), "plb-test-ca-"));
  await selfSigned(dir, "ca", "plb test CA");
  await selfSigned(dir, "other-ca", "another test CA");
  const names = "DNS:app.internal,DNS:localhost,IP:127.0.0.1";
  const [server, wrongCa, dnsOnly, expired, client] = await Promise.all([
    signed(dir, "server", "app.internal", names, "ca", 30),
    signed(dir, "wrong-ca", "app.internal", names, "other-ca", 30),
    signed(dir, "dns-only", "app.internal", "DNS:app.internal", "ca", 30),
    signed(dir, "expired", "app.internal", names, "ca", -1),
    signed(dir, "client", "plb-client", "", "ca", 30),
  ]);
  return { dir, ca: join(dir, "ca.pem"), server, wrongCa, dnsOnly, expired, client };
}

/** The test CA and its certificates (made once per test process). */
export function testCa(): Promise<TestCa> {
  made ??= make();
  return made;
}
