/**
 * Why plb's full handshakes with an RSA 2048 certificate cost more than
 * HAProxy's and nginx's (bench/tls.ts) while ECDSA P-256 ones cost less:
 * the server's one private-key operation per full handshake, in Bun's
 * BoringSSL (node:crypto sign, the same library as Bun's TLS listener)
 * against Debian's OpenSSL 3.0 (`openssl speed`), on this CPU.
 *
 *   bun bench/repro/bun-rsa-sign-cost.ts
 *
 * 2026-12-07, Bun 1.4.5, OpenSSL 3.0.19, AMD EPYC (KVM, 2 vCPUs, with
 * avx512ifma), other work on the machine, per CPU-second, Bun / OpenSSL:
 * RSA 2048 sign 1,682 / 4,096 (0.41×: OpenSSL 3.0 has an AVX-512 IFMA path
 * for RSA, BoringSSL has none), ECDSA P-256 sign 54,529 / 46,067 (1.18×),
 * X25519 31,375 / 27,495 (1.14×). On a CPU without IFMA the RSA gap should
 * be smaller (not measured here).
 */
import { createPrivateKey, diffieHellman, generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";

/** Operations per CPU-second of this process. */
function perCpuSecond(n: number, op: () => void): number {
  for (let i = 0; i < Math.min(50, n); i++) op();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) op();
  const c = process.cpuUsage(c0);
  return n / ((c.user + c.system) / 1e6);
}

const data = Buffer.alloc(32, 1);
const rsa = createPrivateKey(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }));
const ec = createPrivateKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }));
const a = generateKeyPairSync("x25519");
const b = generateKeyPairSync("x25519");

const bun = {
  rsa: perCpuSecond(1000, () => sign("sha256", data, rsa)),
  ecdsa: perCpuSecond(10000, () => sign("sha256", data, ec)),
  x25519: perCpuSecond(10000, () => diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey })),
};

const speed = Bun.spawnSync(["openssl", "speed", "-seconds", "2", "rsa2048", "ecdsap256", "ecdhx25519"], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
const col = (re: RegExp, i: number) => Number(re.exec(speed)?.[0].trim().split(/\s+/).at(i));
const ossl = {
  rsa: col(/^rsa 2048 bits.*$/m, -2),
  ecdsa: col(/^ 256 bits ecdsa \(nistp256\).*$/m, -2),
  x25519: col(/^ 253 bits ecdh \(X25519\).*$/m, -1),
};
const ifma = /\bavx512ifma\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
const row = (name: string, x: number, y: number) => console.log(`${name.padEnd(18)} ${Math.round(x).toLocaleString("en-US").padStart(9)} ${Math.round(y).toLocaleString("en-US").padStart(9)}   ${(x / y).toFixed(2)}×`);
console.log(`bun ${Bun.version} (BoringSSL) vs ${Bun.spawnSync(["openssl", "version"], { stdout: "pipe" }).stdout.toString().trim()}; CPU avx512ifma: ${ifma ? "yes" : "no"}`);
console.log("per CPU-second       Bun   OpenSSL   Bun/OpenSSL");
row("RSA 2048 sign", bun.rsa, ossl.rsa);
row("ECDSA P-256 sign", bun.ecdsa, ossl.ecdsa);
row("X25519 derive", bun.x25519, ossl.x25519);
