/**
 * AcmeManager without a CA to talk to (a loopback port nothing listens on):
 * what it serves, how it plans, and what a reload's update() keeps.
 */
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { MemoryHttp01Tokens } from "../src/acme/challenges.ts";
import { AcmeManager, type AcmeSettings, type CertificateUpdate } from "../src/acme/manager.ts";
import { checkStorage } from "../src/acme/storage.ts";
import { tempDir } from "./support/plb.ts";
import { freePort } from "./support/ports.ts";
import { until } from "./support/until.ts";

const managers: AcmeManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.stop();
});

async function make(extra: Partial<AcmeSettings> = {}, storage = tempDir("plb-acme-manager-")): Promise<{ m: AcmeManager; got: CertificateUpdate[]; storage: string }> {
  const got: CertificateUpdate[] = [];
  const port = await freePort();
  const m = new AcmeManager({ directory: `https://127.0.0.1:${port}/dir`, storage, keyType: "ecdsa", backoff: { firstMs: 50, maxMs: 100 }, ...extra }, { http01: new MemoryHttp01Tokens() }, (u) => got.push(u));
  managers.push(m);
  return { m, got, storage };
}

test("update(): kept sets keep their state, new ones get a placeholder at once, dropped ones stop", async () => {
  const { m, got } = await make();
  m.start([["a.test"]]);
  await until(() => m.orders.failed >= 2, "two failed attempts for a.test", 10_000);
  const aFailures = m.status()[0].lastError;
  expect(aFailures).toContain("cannot reach the ACME server");
  m.update([["a.test"], ["b.test", "www.b.test"]]);
  expect(got.map((u) => [u.source, u.names.join(",")])).toEqual([
    ["placeholder", "a.test"],
    ["placeholder", "b.test,www.b.test"],
  ]);
  expect(m.status().map((s) => s.name)).toEqual(["a.test", "b.test", "www.b.test"]);
  expect(m.status()[0].lastAttempt).toBeDefined(); // a.test kept its history
  m.update([["www.b.test", "b.test"]]); // the same set in another order is the same set
  expect(m.status().map((s) => s.name)).toEqual(["b.test", "www.b.test"]);
  expect(got).toHaveLength(2);
  await Bun.sleep(400);
  expect(m.status().map((s) => s.name)).toEqual(["b.test", "www.b.test"]);
  // Nothing left: no attempt is made or counted any more (one in flight is discarded).
  m.update([]);
  const failed = m.orders.failed;
  await Bun.sleep(400);
  expect(m.orders.failed).toBe(failed);
  expect(m.status()).toEqual([]);
});

test("the hourly bound survives a restart: failures.json with 3 recent failures holds the next attempt back", async () => {
  const storage = tempDir("plb-acme-manager-");
  checkStorage(storage);
  const now = Date.now();
  writeFileSync(join(storage, "failures.json"), JSON.stringify({ "c.test": [now - 50 * 60_000, now - 20 * 60_000, now - 60_000] }));
  const { m, got } = await make({}, storage);
  m.start([["c.test"]]);
  expect(got.map((u) => u.source)).toEqual(["placeholder"]);
  const next = Date.parse(m.status()[0].nextAttempt!);
  expect(next).toBeGreaterThanOrEqual(now - 50 * 60_000 + 3_600_000);
  await Bun.sleep(300);
  expect(m.orders).toEqual({ issued: 0, failed: 0 });
  expect(m.status()[0].lastAttempt).toBeUndefined();
});

test("a placeholder is a self-signed certificate for every name of the set, reported before any request", async () => {
  const { m, got } = await make();
  m.start([["d.test", "www.d.test"]]);
  expect(got).toHaveLength(1);
  const p = got[0];
  expect(p.source).toBe("placeholder");
  expect(p.names).toEqual(["d.test", "www.d.test"]);
  expect(p.issuer).toContain("d.test");
  expect(p.notAfter.getTime()).toBeGreaterThan(Date.now() + 6 * 86_400_000);
  const x = new (await import("node:crypto")).X509Certificate(p.chainPem);
  expect(x.subjectAltName).toBe("DNS:d.test, DNS:www.d.test");
  expect(x.checkPrivateKey((await import("node:crypto")).createPrivateKey(p.keyPem))).toBe(true);
  expect(m.status().map((s) => [s.name, s.state, s.validUntil])).toEqual([
    ["d.test", "placeholder", undefined],
    ["www.d.test", "placeholder", undefined],
  ]);
});
