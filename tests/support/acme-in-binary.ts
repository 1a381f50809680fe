/**
 * Run as a `bun build --compile` binary by tests/acme-der.test.ts: makes a
 * key, a CSR, a TLS-ALPN-01 certificate and a JWS the way plb does, and
 * prints them as one JSON line (the compiled single binary must do what
 * `bun` does).
 */
import { csr, pem, selfSigned } from "../../src/acme/certs.ts";
import { generateKey, keyToPem, thumbprint } from "../../src/acme/keys.ts";
import { signedRequest } from "../../src/acme/jws.ts";
import { certInfo } from "../../src/acme/certinfo.ts";

const type = process.argv[2] === "rsa" ? "rsa" : "ecdsa";
const key = generateKey(type);
const cert = pem("CERTIFICATE", selfSigned({ names: ["bin.test"], key, keyAuthorization: "token.thumb" }));
console.log(
  JSON.stringify({
    csr: pem("CERTIFICATE REQUEST", csr(["bin.test", "www.bin.test"], key)),
    cert,
    key: keyToPem(key),
    names: certInfo(cert).names,
    thumbprint: thumbprint(key),
    jws: signedRequest({ key, url: "https://ca/x", nonce: "n", payload: { a: 1 } }),
  }),
);
