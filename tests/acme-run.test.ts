/** How plb runs the ACME manager (src/acme/run.ts, settings.ts): the sets from the services, the challenges it can answer, the storage in a chroot, orders held until released. */
import { afterEach, expect, test } from "bun:test";
import { parseConfig } from "../src/config/index.ts";
import { acmeSets, challengeSupport } from "../src/acme/run.ts";
import { storageInChroot } from "../src/acme/settings.ts";
import { MemoryHttp01Tokens } from "../src/acme/challenges.ts";
import { AcmeManager, type CertificateUpdate } from "../src/acme/manager.ts";
import type { PlbError } from "../src/errors.ts";
import { tempDir } from "./support/plb.ts";
import { freePort } from "./support/ports.ts";
import { until } from "./support/until.ts";

const ACME = '[acme]\nemail = "ops@example.com"\nstorage = "/tmp/plb-acme"\n';
const svc = (name: string, extra: string, protocol = "http") => `[[service]]\nname = "${name}"\nprotocol = "${protocol}"\nlisten = ["127.0.0.1:0"]\nservers = ["127.0.0.1:9"]\n${extra}\n`;

test("acmeSets: one set per service's tls.acme, the same set once; challengeSupport: HTTP-01 with a plain http service, TLS-ALPN-01 with tls.acme, as [acme] challenge allows", () => {
  const c = parseConfig(
    ACME + svc("a", 'tls = { acme = ["a.test", "www.a.test"] }') + svc("b", 'tls = { acme = ["www.a.test", "a.test"] }') + svc("c", 'tls = { acme = ["c.test"] }', "tcp") + svc("plain", ""),
    "plb.toml",
  );
  expect(acmeSets(c)).toEqual([["a.test", "www.a.test"], ["c.test"]]);
  expect(challengeSupport(c)).toEqual({ http01: true, tlsAlpn01: true });
  const noPlain = parseConfig(ACME + svc("a", 'tls = { acme = ["a.test"] }'), "plb.toml");
  expect(challengeSupport(noPlain)).toEqual({ http01: false, tlsAlpn01: true });
  const onlyHttp = parseConfig(ACME.replace("[acme]\n", '[acme]\nchallenge = "http-01"\n') + svc("a", 'tls = { acme = ["a.test"] }') + svc("plain", ""), "plb.toml");
  expect(challengeSupport(onlyHttp)).toEqual({ http01: true, tlsAlpn01: false });
  expect(acmeSets(parseConfig(ACME + svc("plain", ""), "plb.toml"))).toEqual([]);
});

test("storageInChroot: the path inside chroot_dir; outside it is an ACME_STORAGE error naming acme.storage", () => {
  expect(storageInChroot("/srv/plb/acme", undefined)).toBe("/srv/plb/acme");
  expect(storageInChroot("/var/chroot/plb/var/lib/acme", "/var/chroot/plb")).toBe("/var/lib/acme");
  expect(storageInChroot("/var/chroot/plb/acme/", "/var/chroot/plb/")).toBe("/acme");
  let err: PlbError | undefined;
  try {
    storageInChroot("/var/chroot/plbx/acme", "/var/chroot/plb");
  } catch (e) {
    err = e as PlbError;
  }
  expect(err?.code).toBe("ACME_STORAGE");
  expect(err?.message).toStartWith("acme.storage: /var/chroot/plbx/acme is outside chroot_dir /var/chroot/plb");
  expect(() => storageInChroot("/var/chroot/plb", "/var/chroot/plb")).toThrow("outside chroot_dir");
});

const managers: AcmeManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.stop();
});

test("a held manager serves placeholders and orders nothing until released", async () => {
  const got: CertificateUpdate[] = [];
  const port = await freePort();
  const m = new AcmeManager({ directory: `https://127.0.0.1:${port}/dir`, storage: tempDir("plb-acme-hold-"), keyType: "ecdsa", backoff: { firstMs: 50, maxMs: 100 } }, { http01: new MemoryHttp01Tokens() }, (u) => got.push(u));
  managers.push(m);
  m.hold();
  m.start([["h.test"]]);
  expect(got.map((u) => u.source)).toEqual(["placeholder"]);
  await Bun.sleep(300);
  expect(m.status()[0].lastAttempt).toBeUndefined();
  expect(m.orders.failed).toBe(0);
  m.release();
  // Nothing listens on the port: the attempt fails, which shows it was made.
  await until(() => m.orders.failed > 0, "the first attempt after release", 10_000);
  expect(m.status()[0].lastAttempt).toBeDefined();
});
