import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certInfo, splitPem } from "../src/acme/certinfo.ts";
import { ariCertId, ariRecheck, parseRenewalInfo, pickInWindow, twoThirds } from "../src/acme/renewal.ts";
import { parseRetryAfter } from "../src/acme/client.ts";

function openssl(args: string[], cwd: string): void {
  const p = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "ignore", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${p.stderr.toString()}`);
}

test("renewal at two thirds of the lifetime", () => {
  const notBefore = new Date("2026-01-01T00:00:00Z");
  const notAfter = new Date("2026-03-31T00:00:00Z"); // 89 days
  expect(twoThirds({ notBefore, notAfter }).getTime()).toBe(notBefore.getTime() + (89 * 86_400_000 * 2) / 3);
});

test("RFC 9773's certID example, computed from a certificate openssl made with that AKI and serial", () => {
  const dir = mkdtempSync(join(tmpdir(), "plb-acme-ari-"));
  const ski = "69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4";
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=ARI test CA", "-addext", `subjectKeyIdentifier=${ski}`], dir);
  openssl(["req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=a.test"], dir);
  writeFileSync(join(dir, "leaf.ext"), "subjectAltName=DNS:a.test,DNS:www.a.test\nauthorityKeyIdentifier=keyid\n");
  openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "0x87654321", "-days", "90", "-extfile", "leaf.ext", "-out", "leaf.pem"], dir);
  const chain = readFileSync(join(dir, "leaf.pem"), "utf8") + readFileSync(join(dir, "ca.pem"), "utf8");
  expect(splitPem(chain)).toHaveLength(2);
  const info = certInfo(chain);
  expect(Buffer.from(info.serial).toString("hex")).toBe("0087654321");
  expect(ariCertId(info)).toBe("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  expect(info.names).toEqual(["a.test", "www.a.test"]);
  expect(info.issuer).toContain("ARI test CA");
  expect(Math.round((info.notAfter.getTime() - info.notBefore.getTime()) / 86_400_000)).toBe(90);
  expect(Math.abs(info.notBefore.getTime() - Date.now())).toBeLessThan(600_000);
  expect(ariCertId({ authorityKeyId: undefined, serial: info.serial })).toBeUndefined();
  expect(() => certInfo("not a certificate")).toThrow(RangeError);
});

test("the ARI window: a malformed body is ignored; a time is picked inside it, or now when it has passed", () => {
  expect(parseRenewalInfo({ suggestedWindow: { start: "2026-02-01T00:00:00Z", end: "2026-01-01T00:00:00Z" } })).toBeUndefined();
  expect(parseRenewalInfo({})).toBeUndefined();
  expect(parseRenewalInfo({ suggestedWindow: { start: "x", end: "2026-01-01T00:00:00Z" } })).toBeUndefined();
  const w = parseRenewalInfo({ suggestedWindow: { start: "2026-02-01T00:00:00Z", end: "2026-02-03T00:00:00Z" } })!;
  const before = Date.parse("2026-01-01T00:00:00Z");
  expect(pickInWindow(w, before, 0).toISOString()).toBe("2026-02-01T00:00:00.000Z");
  expect(pickInWindow(w, before, 0.5).toISOString()).toBe("2026-02-02T00:00:00.000Z");
  const inside = Date.parse("2026-02-02T00:00:00Z");
  expect(pickInWindow(w, inside, 0).getTime()).toBe(inside);
  const after = Date.parse("2026-03-01T00:00:00Z");
  expect(pickInWindow(w, after, 0.9).getTime()).toBe(after);
  expect(ariRecheck(undefined)).toBe(6 * 3_600_000);
  expect(ariRecheck(60_000)).toBe(3_600_000);
  expect(ariRecheck(7 * 86_400_000)).toBe(86_400_000);
});

test("Retry-After: delta-seconds or an HTTP date", () => {
  const now = Date.parse("2026-12-07T12:00:00Z");
  expect(parseRetryAfter("120", now)).toBe(120_000);
  expect(parseRetryAfter("Mon, 07 Dec 2026 12:01:00 GMT", now)).toBe(60_000);
  expect(parseRetryAfter("Mon, 07 Dec 2026 11:00:00 GMT", now)).toBe(0);
  expect(parseRetryAfter("soon", now)).toBeUndefined();
  expect(parseRetryAfter(null, now)).toBeUndefined();
});
