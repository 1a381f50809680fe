/**
 * checkTlsPair: what a start and --check refuse before a listener sees the
 * files, on real openssl certificates and keys. Whatever it accepts,
 * Bun.listen must accept too (checked at the end of each accepting case).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkTlsPair } from "../src/tls/pair.ts";

let dir: string;
const pem: Record<string, string> = {};

function openssl(args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe", cwd: dir });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr.toString()}`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "plb-tls-"));
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=a", "-days", "1", "-keyout", "a.key", "-out", "a.crt"]);
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=b", "-days", "1", "-keyout", "b.key", "-out", "b.crt"]);
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=e", "-days", "1", "-keyout", "e.key", "-out", "e.crt"]);
  openssl(["pkey", "-in", "a.key", "-aes256", "-passout", "pass:secret", "-out", "a-encrypted.key"]);
  openssl(["rsa", "-in", "a.key", "-traditional", "-out", "a-rsa.key"]);
  for (const f of ["a.crt", "a.key", "b.crt", "b.key", "e.crt", "e.key", "a-encrypted.key", "a-rsa.key"]) pem[f] = readFileSync(join(dir, f), "utf8");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bun.listen takes the pair (what the start will do with an accepted pair). */
function listens(cert: string, key: string): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} }, tls: { cert, key } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

describe("checkTlsPair", () => {
  test("a certificate with its own key: no problem (RSA PKCS#8, RSA traditional, EC, a chain, cert and key in one file)", () => {
    const cases: [string, string][] = [
      [pem["a.crt"], pem["a.key"]],
      [pem["a.crt"], pem["a-rsa.key"]],
      [pem["e.crt"], pem["e.key"]],
      [pem["a.crt"] + pem["b.crt"], pem["a.key"]], // the server's certificate first, then the chain
      [pem["a.crt"] + pem["a.key"], pem["a.crt"] + pem["a.key"]],
    ];
    for (const [cert, key] of cases) {
      expect(checkTlsPair(cert, key, "c.pem", "k.pem")).toEqual([]);
      expect(listens(cert, key)).toBe(true);
    }
  });

  test("the key of another certificate (same or another algorithm) does not match", () => {
    for (const key of [pem["b.key"], pem["e.key"]]) {
      expect(checkTlsPair(pem["a.crt"], key, "c.pem", "k.pem")).toEqual([{ key: "tls.key", message: "key does not match the certificate in c.pem" }]);
      expect(listens(pem["a.crt"], key)).toBe(false);
    }
    // the key must match the first certificate of a chain, not any of them
    expect(checkTlsPair(pem["b.crt"] + pem["a.crt"], pem["a.key"], "c.pem", "k.pem")).toEqual([
      { key: "tls.key", message: "key does not match the certificate in c.pem" },
    ]);
    expect(listens(pem["b.crt"] + pem["a.crt"], pem["a.key"])).toBe(false);
  });

  test("no PEM at all: both files reported", () => {
    expect(checkTlsPair("hello\n", "", "c.pem", "k.pem")).toEqual([
      { key: "tls.cert", message: 'c.pem is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)' },
      { key: "tls.key", message: 'k.pem is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" block)' },
    ]);
  });

  test("a file that could not be read (undefined): the other one is still checked", () => {
    expect(checkTlsPair(undefined, "junk", "c.pem", "k.pem").map((p) => p.key)).toEqual(["tls.key"]);
    expect(checkTlsPair("junk", undefined, "c.pem", "k.pem").map((p) => p.key)).toEqual(["tls.cert"]);
    expect(checkTlsPair(undefined, pem["b.key"], "c.pem", "k.pem")).toEqual([]);
  });

  test("a key given as the certificate and a certificate given as the key", () => {
    expect(checkTlsPair(pem["a.key"], pem["a.crt"], "c.pem", "k.pem").map((p) => p.key)).toEqual(["tls.cert", "tls.key"]);
  });

  test("a broken block in a chain names which certificate", () => {
    const broken = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    expect(checkTlsPair(pem["a.crt"] + broken, pem["a.key"], "c.pem", "k.pem")).toEqual([
      { key: "tls.cert", message: "c.pem: certificate 2 of 2 is not valid PEM (bad base64 decode)" },
    ]);
    expect(listens(pem["a.crt"] + broken, pem["a.key"])).toBe(false);
  });

  test("an encrypted key is refused (plb has no passphrase)", () => {
    expect(checkTlsPair(pem["a.crt"], pem["a-encrypted.key"], "c.pem", "k.pem")).toEqual([
      { key: "tls.key", message: "k.pem is not a usable private key: it is encrypted (plb needs a key without a passphrase)" },
    ]);
    expect(listens(pem["a.crt"], pem["a-encrypted.key"])).toBe(false);
  });

  test("a truncated key is refused", () => {
    const truncated = pem["a.key"].slice(0, 200) + "\n-----END PRIVATE KEY-----\n";
    const problems = checkTlsPair(pem["a.crt"], truncated, "c.pem", "k.pem");
    expect(problems).toHaveLength(1);
    expect(problems[0].key).toBe("tls.key");
    expect(problems[0].message).toStartWith("k.pem is not a usable private key: ");
    expect(listens(pem["a.crt"], truncated)).toBe(false);
  });
});
