import { expect, test } from "bun:test";
import { backoffDelay, DEFAULT_BACKOFF, FailureLedger } from "../src/acme/backoff.ts";

const MIN = 60_000;
const HOUR = 3_600_000;

test("delays double from one minute up to six hours and stay there: never given up", () => {
  const delays = [1, 2, 3, 4, 5, 6, 9, 10, 50, 1000].map((n) => backoffDelay(n, DEFAULT_BACKOFF, 0));
  expect(delays).toEqual([MIN, 2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN, 32 * MIN, 256 * MIN, 6 * HOUR, 6 * HOUR, 6 * HOUR]);
  // Jitter adds at most 10 %.
  expect(backoffDelay(1, DEFAULT_BACKOFF, 0.999)).toBeLessThanOrEqual(1.1 * MIN);
  expect(backoffDelay(1, DEFAULT_BACKOFF, 0.5)).toBe(1.05 * MIN);
  expect(backoffDelay(0, DEFAULT_BACKOFF, 0)).toBe(MIN);
});

test("the ledger keeps every name under 3 failed attempts per hour (Let's Encrypt allows 5)", () => {
  const ledger = new FailureLedger();
  const t0 = 1_000_000_000_000;
  ledger.record(["a.test", "b.test"], t0);
  ledger.record(["a.test"], t0 + 1 * MIN);
  expect(ledger.allowedAt(["a.test"], t0 + 2 * MIN)).toBe(t0 + 2 * MIN);
  ledger.record(["a.test"], t0 + 3 * MIN);
  // Third failure within the hour: the next attempt waits until the oldest leaves the window.
  expect(ledger.allowedAt(["a.test"], t0 + 4 * MIN)).toBe(t0 + HOUR);
  expect(ledger.allowedAt(["b.test"], t0 + 4 * MIN)).toBe(t0 + 4 * MIN);
  // A set waits for its most limited name.
  expect(ledger.allowedAt(["b.test", "a.test"], t0 + 4 * MIN)).toBe(t0 + HOUR);
  expect(ledger.allowedAt(["a.test"], t0 + HOUR + 1)).toBe(t0 + HOUR + 1);

  // Whatever the back-off, attempts that follow allowedAt never exceed the bound in any hour.
  const l2 = new FailureLedger();
  let now = t0;
  const times: number[] = [];
  for (let i = 0; i < 40; i++) {
    now = Math.max(now + 10_000, l2.allowedAt(["x.test"], now));
    l2.record(["x.test"], now);
    times.push(now);
  }
  for (const t of times) expect(times.filter((u) => u > t - HOUR && u <= t).length).toBeLessThanOrEqual(3);
});

test("the ledger's record survives a restart through toJSON, keeping only the last hour", () => {
  const t0 = 1_000_000_000_000;
  const ledger = new FailureLedger();
  ledger.record(["a.test"], t0 - 2 * HOUR);
  ledger.record(["a.test"], t0 - 10 * MIN);
  ledger.record(["a.test"], t0 - 5 * MIN);
  ledger.record(["a.test"], t0 - 1 * MIN);
  const saved = JSON.parse(JSON.stringify(ledger.toJSON(t0)));
  expect(saved).toEqual({ "a.test": [t0 - 10 * MIN, t0 - 5 * MIN, t0 - MIN] });
  const again = new FailureLedger(DEFAULT_BACKOFF, saved);
  expect(again.allowedAt(["a.test"], t0)).toBe(t0 - 10 * MIN + HOUR);
  // Junk in the file is ignored, not thrown.
  expect(new FailureLedger(DEFAULT_BACKOFF, { "a.test": ["x" as never, t0] }).recent("a.test", t0 + 1)).toEqual([t0]);
});
