/**
 * Checks a TLS certificate chain and private key (PEM text) before any
 * listener uses them, so that a start and `--check` refuse the same files
 * with a message naming the setting, where Bun.listen would only throw
 * "error:0b000074:X.509 certificate routines:OPENSSL_internal:KEY_VALUES_MISMATCH"
 * once ports are being bound. Pure apart from node:crypto / node:tls.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { createSecureContext } from "node:tls";

export interface TlsProblem {
  /** The setting at fault: "tls.cert", "tls.key", or "tls" for the pair (with another `at`: "tls.certs[1].cert", …). */
  readonly key: string;
  /** Text after the key, e.g. "key does not match the certificate in cert.pem". */
  readonly message: string;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** "error:0900006e:PEM routines:OPENSSL_internal:NO_START_LINE" → "NO_START_LINE". */
function reason(err: unknown): string {
  const message = String((err as Error)?.message ?? err);
  const m = /:([A-Z0-9_]+)$/.exec(message);
  return m ? m[1].toLowerCase().replace(/_/g, " ") : message;
}

/** The certificates of a chain file, first (the server's own) first; problems otherwise. */
function parseChain(pem: string, file: string, problems: TlsProblem[], key: string): X509Certificate | undefined {
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) {
    problems.push({ key, message: `${file} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)` });
    return undefined;
  }
  let first: X509Certificate | undefined;
  let bad = false;
  blocks.forEach((block, i) => {
    try {
      const cert = new X509Certificate(block);
      if (i === 0) first = cert;
    } catch (err) {
      bad = true;
      const which = blocks.length === 1 ? "its certificate" : `certificate ${i + 1} of ${blocks.length}`;
      problems.push({ key, message: `${file}: ${which} is not valid PEM (${reason(err)})` });
    }
  });
  return bad ? undefined : first;
}

/** Problems with a file of PEM certificates (a CA bundle: `client_ca`, `server_tls.ca`), named under `key`; [] when every block parses. */
export function checkCertificates(pem: string, file: string, key: string): TlsProblem[] {
  const problems: TlsProblem[] = [];
  parseChain(pem, file, problems, key);
  return problems;
}

function parseKey(pem: string, file: string, problems: TlsProblem[], key: string): KeyObject | undefined {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    problems.push({ key, message: `${file} is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" block)` });
    return undefined;
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === "ERR_MISSING_PASSPHRASE" ? "it is encrypted (plb needs a key without a passphrase)" : reason(err);
    problems.push({ key, message: `${file} is not a usable private key: ${why}` });
    return undefined;
  }
}

/**
 * Problems with a certificate chain and key, as read from `certFile` and
 * `keyFile` (named in messages as written in the configuration); [] when a
 * listener can use them. A file that could not be read is undefined: the
 * other one is still checked on its own. `at`: the setting the files come
 * from ("tls", "tls.certs[1]"), which problems name.
 */
export function checkTlsPair(certPem: string | undefined, keyPem: string | undefined, certFile: string, keyFile: string, at = "tls"): TlsProblem[] {
  return inspectTlsPair(certPem, keyPem, certFile, keyFile, at).problems;
}

/** checkTlsPair, and the server's own certificate when the pair can be used. */
export function inspectTlsPair(
  certPem: string | undefined,
  keyPem: string | undefined,
  certFile: string,
  keyFile: string,
  at = "tls",
): { problems: TlsProblem[]; leaf: X509Certificate | undefined } {
  const problems: TlsProblem[] = [];
  const fail = { problems, leaf: undefined };
  const cert = certPem === undefined ? undefined : parseChain(certPem, certFile, problems, `${at}.cert`);
  const key = keyPem === undefined ? undefined : parseKey(keyPem, keyFile, problems, `${at}.key`);
  if (cert === undefined || key === undefined || certPem === undefined || keyPem === undefined) return fail;
  if (!cert.checkPrivateKey(key)) {
    problems.push({ key: `${at}.key`, message: `key does not match the certificate in ${certFile}` });
    return fail;
  }
  // What the listener will do with them (same BoringSSL): anything the
  // checks above let through is still refused here rather than at bind time.
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    problems.push({ key: at, message: `${certFile} and ${keyFile} cannot be used together (${reason(err)})` });
    return fail;
  }
  return { problems, leaf: cert };
}
