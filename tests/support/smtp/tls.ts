/**
 * A self-signed certificate for STARTTLS peers (CN=localhost, SAN localhost
 * and 127.0.0.1), made once per machine with openssl and kept in
 * $TMPDIR/plb-smtp-cert-v1 (made in a temp dir and renamed into place, so
 * test processes running at once never see half of one).
 */
import { existsSync } from "node:fs";
import { rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertDir } from "../certs.ts";
import { removeDir, tempDir } from "./proc.ts";

export interface TestCert {
  /** PEM certificate path (also the CA file a client trusts). */
  cert: string;
  /** PEM private key path (unencrypted). */
  key: string;
}

const STABLE = join(tmpdir(), "plb-smtp-cert-v1");

let made: Promise<TestCert> | undefined;

const paths = (dir: string): TestCert => ({ cert: join(dir, "cert.pem"), key: join(dir, "key.pem") });
const complete = (dir: string) => existsSync(paths(dir).cert) && existsSync(paths(dir).key);

async function generate(): Promise<TestCert> {
  if (complete(STABLE)) return paths(STABLE);
  await removeDir(STABLE); // a broken one
  const dir = tempDir("plb-smtp-cert-new-");
  const { cert, key } = paths(dir);
  try {
    await new CertDir(dir).cert("cert", { dns: ["localhost"], extraSan: ["IP:127.0.0.1"], days: 3650 }, paths(dir));
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
  try {
    await rename(dir, STABLE);
  } catch {
    // Another test process put its own there first: use that one.
    await removeDir(dir);
    if (!complete(STABLE)) throw new Error(`no certificate in ${STABLE}`);
  }
  return paths(STABLE);
}

export function testCert(): Promise<TestCert> {
  made ??= generate();
  return made;
}
