/**
 * A self-signed certificate for STARTTLS peers (CN=localhost, SAN localhost
 * and 127.0.0.1), made once per test process with openssl.
 */
import { join } from "node:path";
import { run, tempDir } from "./proc.ts";

export interface TestCert {
  /** PEM certificate path (also the CA file a client trusts). */
  cert: string;
  /** PEM private key path (unencrypted). */
  key: string;
}

let made: Promise<TestCert> | undefined;

export function testCert(): Promise<TestCert> {
  made ??= (async () => {
    const dir = tempDir("plb-smtp-cert-");
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const r = await run([
      "openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
      "-keyout", key, "-out", cert, "-days", "7", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ]);
    if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
    return { cert, key };
  })();
  return made;
}
