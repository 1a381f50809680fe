/**
 * The Bun mechanism behind certificates per name (src/tls/sni.ts) and the
 * handshake facts src/tls/peer.ts relies on, checked against openssl
 * s_client through plb's own listener (src/net/listen.ts). Every test here
 * is about Bun's behaviour: when one fails after a Bun upgrade, SNI (or the
 * refusal of failed handshakes) no longer works as plb assumes; read the
 * README section "TLS" before changing anything else.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { ListenTlsConfig } from "../src/config/types.ts";
import { listen, type Listener } from "../src/net/listen.ts";
import { DISCARD } from "../src/net/handlers.ts";
import type { Sock } from "../src/net/types.ts";
import { prepareListenTls } from "../src/tls/listener.ts";
import { addServerNames, secureContext } from "../src/tls/sni.ts";
import { CertDir, type Pair, sClient } from "./support/certs.ts";

const d = new CertDir();
let a: Pair; // default: a.test
let b: Pair; // b.test, *.b.test
let w: Pair; // exact x.b.test (beats b's wildcard)
const listeners: Listener[] = [];
let accepted: { cipher: string | null | undefined }[] = [];

beforeAll(async () => {
  [a, b, w] = await Promise.all([d.cert("a", { dns: ["a.test"] }), d.cert("b", { dns: ["b.test", "*.b.test"] }), d.cert("w", { dns: ["x.b.test"] })]);
});
afterAll(() => {
  for (const l of listeners) l.stop();
});

const cfg = (pairs: Pair[], o: Partial<ListenTlsConfig> = {}): ListenTlsConfig => ({
  source: { kind: "pairs", pairs, form: "certs" },
  strict_sni: false,
  min_version: "1.2",
  ciphers: undefined,
  client_ca: undefined,
  client_verify: undefined,
  ...o,
});

/** A plb listener on `tls`; every socket a protocol would get is recorded. */
function tlsListener(c: ListenTlsConfig): Listener {
  const prepared = prepareListenTls(c, ["http/1.1"]);
  expect(prepared.problems).toEqual([]);
  const l = listen({ host: "127.0.0.1", port: 0, text: "127.0.0.1:0" }, (s: Sock) => {
    accepted.push({ cipher: (s as unknown as { getCipher(): { name: string | null } }).getCipher().name });
    s.end();
    return DISCARD;
  }, { tls: prepared.tls });
  listeners.push(l);
  return l;
}

describe("Bun: a certificate per name on one listener", () => {
  test("the SNI name chooses the certificate: exact names, a wildcard for one label, case-insensitive; exact beats wildcard; others get the default", async () => {
    const l = tlsListener(cfg([a, b, w]));
    const seen: Record<string, string | undefined> = {};
    for (const n of ["a.test", "b.test", "y.b.test", "X.B.TEST", "z.y.b.test", "c.test"]) seen[n] = (await sClient(l.port, n)).subject;
    seen["(none)"] = (await sClient(l.port, undefined)).subject;
    expect(seen).toEqual({
      "a.test": "CN = a.test",
      "b.test": "CN = b.test",
      "y.b.test": "CN = b.test",
      "X.B.TEST": "CN = x.b.test",
      "z.y.b.test": "CN = a.test",
      "c.test": "CN = a.test",
      "(none)": "CN = a.test",
    });
  });

  test("without a certificate of its own (strict_sni) the listener refuses unknown names in the handshake; open() still fires, without a cipher, and plb hands nothing on", async () => {
    const l = tlsListener(cfg([a, b], { strict_sni: true }));
    accepted = [];
    expect((await sClient(l.port, "b.test")).subject).toBe("CN = b.test");
    expect(accepted).toEqual([{ cipher: "TLS_AES_256_GCM_SHA384" }]);
    const refused = await sClient(l.port, "c.test");
    expect(refused.subject).toBeUndefined();
    expect(refused.output).toMatch(/alert/);
    expect((await sClient(l.port, undefined)).subject).toBeUndefined();
    expect(accepted).toHaveLength(1);
  });

  test("a per-name context carries the listener's profile: without it, a switched name offered CBC and TLS 1.0 (so each context is made with it)", async () => {
    const bare = Bun.listen({ hostname: "127.0.0.1", port: 0, tls: { cert: readFileSync(a.cert, "utf8"), key: readFileSync(a.key, "utf8"), minVersion: 771, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" } as never, socket: { data() {} } });
    try {
      addServerNames(bare, [{ name: "b.test", context: secureContext({ cert: readFileSync(b.cert, "utf8"), key: readFileSync(b.key, "utf8") }) }]);
      const cbc = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"];
      expect((await sClient(bare.port, "a.test", cbc)).cipher).toBeUndefined();
      expect((await sClient(bare.port, "b.test", cbc)).cipher).toBe("ECDHE-ECDSA-AES128-SHA");
    } finally {
      bare.stop(true);
    }
    const l = tlsListener(cfg([a, b]));
    for (const n of ["a.test", "b.test"]) {
      expect((await sClient(l.port, n, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"])).cipher).toBeUndefined();
      expect((await sClient(l.port, n, ["-tls1_1"])).protocol).toBeUndefined();
      const ok = await sClient(l.port, n, ["-tls1_2", "-alpn", "h2,http/1.1"]);
      expect([ok.protocol, ok.alpn]).toEqual(["TLSv1.2", "http/1.1"]);
      expect(ok.cipher).toMatch(/^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    }
  });

  test("Bun.listen still has no documented multi-certificate form (a tls array throws): if this fails, Bun grew one and sni.ts can use it", () => {
    const pem = { cert: readFileSync(a.cert, "utf8"), key: readFileSync(a.key, "utf8") };
    expect(() => Bun.listen({ hostname: "127.0.0.1", port: 0, tls: [pem, { ...pem, serverName: "b.test" }] as never, socket: { data() {} } }).stop(true)).toThrow();
  });
});
