/**
 * When validation fails (nothing answers pebble's HTTP-01 request), the
 * set keeps its placeholder, the failure is reported with the CA's
 * problem, attempts back off and stay within the per-name hourly bound
 * (shrunk here to 2 per 4 s), and the certificate comes once an answer is
 * there. A CA that cannot be reached costs back-off only, not the bound.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MemoryHttp01Tokens } from "../../../src/acme/challenges.ts";
import { AcmeManager, type CertificateUpdate } from "../../../src/acme/manager.ts";
import { http01Answerer, type Pebble, startPebble } from "../../support/pebble.ts";
import { tempDir } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";
import { until } from "../../support/until.ts";

let pebble: Pebble;
const cleanups: (() => unknown)[] = [];
beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  pebble?.stop();
});

test("a failed validation is retried with back-off within the hourly bound, reported with pebble's problem, and succeeds once answered", async () => {
  const tokens = new MemoryHttp01Tokens();
  const storage = tempDir("plb-acme-fail-");
  const got: CertificateUpdate[] = [];
  const windowMs = 4000;
  const m = new AcmeManager(
    { directory: pebble.directory, directoryCa: pebble.ca, storage, keyType: "ecdsa", challenge: "http-01", backoff: { firstMs: 200, maxMs: 800, perWindow: 2, windowMs } },
    { http01: tokens },
    (u) => got.push(u),
  );
  cleanups.push(() => m.stop());
  // Every attempt's start, as the status shows it.
  const attempts = new Set<string>();
  const watch = setInterval(() => {
    const a = m.status()[0]?.lastAttempt;
    if (a) attempts.add(a);
  }, 10);
  cleanups.push(() => clearInterval(watch));

  m.start([["d.test"]]);
  await until(() => m.orders.failed >= 2, "two failed orders", 30_000);
  const s = m.status()[0];
  expect(s.state).toBe("placeholder");
  expect(got.map((u) => u.source)).toEqual(["placeholder"]);
  // pebble's problem: nothing listens on the HTTP-01 port.
  expect(s.lastError).toMatch(/^http-01 validation of d\.test failed: connection: .*(refused|connect)/);
  // Two failures within the window: the next attempt waits for the first to leave it.
  const failedAt = [...attempts].map(Date.parse).sort((a, b) => a - b);
  expect(Date.parse(s.nextAttempt!)).toBeGreaterThanOrEqual(failedAt[0] + windowMs);
  expect(JSON.parse(readFileSync(join(storage, "failures.json"), "utf8"))["d.test"]).toHaveLength(2);

  // Fix it: answer HTTP-01 now.
  const answerer = http01Answerer(pebble.httpPort, tokens);
  cleanups.push(answerer.stop);
  await until(() => got.some((u) => u.source === "issued"), "the certificate once answered", 30_000);
  clearInterval(watch);
  expect(m.status()[0].state).toBe("valid");
  expect(m.status()[0].lastError).toBeUndefined();
  expect(m.orders.issued).toBe(1);
  // Never more than 2 attempts in any 4 s.
  const times = [...attempts].map(Date.parse).sort((a, b) => a - b);
  for (const t of times) expect(times.filter((u) => u > t - windowMs && u <= t).length).toBeLessThanOrEqual(2);
  expect(times.length).toBeGreaterThanOrEqual(3);
  answerer.stop();
});

test("a CA that cannot be reached: placeholder served, error reported, retried, and no failed validation recorded", async () => {
  const port = await freePort();
  const storage = tempDir("plb-acme-down-");
  const got: CertificateUpdate[] = [];
  const m = new AcmeManager(
    { directory: `https://127.0.0.1:${port}/dir`, storage, keyType: "ecdsa", backoff: { firstMs: 100, maxMs: 200 } },
    { http01: new MemoryHttp01Tokens() },
    (u) => got.push(u),
  );
  cleanups.push(() => m.stop());
  m.start([["e.test"]]);
  await until(() => m.orders.failed >= 3, "three failed attempts", 20_000);
  expect(got.map((u) => u.source)).toEqual(["placeholder"]);
  expect(m.status()[0].lastError).toStartWith(`cannot reach the ACME server at https://127.0.0.1:${port}/dir`);
  expect(existsSync(join(storage, "failures.json"))).toBe(false);
  m.stop();
});

test("a name that resolves elsewhere fails validation with pebble's reason, and is issued once DNS points at the answerer", async () => {
  const tokens = new MemoryHttp01Tokens();
  const answerer = http01Answerer(pebble.httpPort, tokens);
  cleanups.push(answerer.stop);
  await pebble.setA("moved.test", ["127.0.0.2"]); // nothing of ours listens there
  const storage = tempDir("plb-acme-moved-");
  const got: CertificateUpdate[] = [];
  const m = new AcmeManager(
    { directory: pebble.directory, directoryCa: pebble.ca, storage, keyType: "ecdsa", challenge: "http-01", backoff: { firstMs: 300, maxMs: 600, perWindow: 5, windowMs: 60_000 } },
    { http01: tokens },
    (u) => got.push(u),
  );
  cleanups.push(() => m.stop());
  m.start([["moved.test"]]);
  await until(() => m.orders.failed >= 1, "a failed validation", 30_000);
  expect(m.status()[0].lastError).toContain("127.0.0.2");
  expect(m.status()[0].state).toBe("placeholder");
  expect(answerer.asked).toEqual([]);
  await pebble.clearA("moved.test");
  await until(() => got.some((u) => u.source === "issued"), "the certificate once the name resolves here", 30_000);
  expect(answerer.asked.some((a) => a.startsWith("moved.test:"))).toBe(true);
  expect(m.status()[0].lastError).toBeUndefined();
  answerer.stop();
});
