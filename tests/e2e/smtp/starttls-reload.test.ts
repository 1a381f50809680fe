/**
 * starttls across reloads: a reload reads the certificate again, new
 * sessions get the new one, a session already in TLS goes on with the old,
 * and a reload whose files cannot be used changes nothing.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSmtpServer } from "../../support/smtp/aiosmtpd.ts";
import { scriptedSession, sendWithSmtplib } from "../../support/smtp/clients.ts";
import { run } from "../../support/smtp/proc.ts";
import { testCert } from "../../support/smtp/tls.ts";
import { freePort } from "../../support/ports.ts";
import { startPlbFile, tempDir, writeConfig } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";
import { until } from "../../support/until.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A second self-signed certificate for localhost, not the one testCert() gives. */
async function otherCert(): Promise<{ cert: string; key: string }> {
  const dir = tempDir("plb-starttls-b-");
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = await run([
    "openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", cert, "-days", "30",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  expect(r.code).toBe(0);
  return { cert, key };
}

test("a reload swaps the STARTTLS certificate for new sessions, keeps a session already in TLS, and refuses unusable files", async () => {
  const a = await startSmtpServer({ name: "rl" });
  cleanups.push(() => a.stop());
  const certA = await testCert();
  const certB = await otherCert();
  const port = await freePort();
  const toml = (c: { cert: string; key: string }) => `
[[service]]
name = "mail"
protocol = "smtp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}"]
starttls = { cert = "${c.cert}", key = "${c.key}" }
`;
  const file = writeConfig(toml(certA));
  const plb = await startPlbFile(file);
  cleanups.push(() => plb.stop());

  // A session in TLS with certificate A, idle while the reload happens, then going on.
  const marks = tempDir("plb-starttls-marks-");
  const inTls = join(marks, "in-tls");
  const reloaded = join(marks, "reloaded");
  const live = scriptedSession({
    port,
    cafile: certA.cert,
    timeout: 30,
    steps: [
      ["reply"], ["send", "EHLO live.test\r\n"], ["reply"], ["send", "STARTTLS\r\n"], ["reply"], ["tls"], ["send", "EHLO live.test\r\n"], ["reply"], ["touch", inTls],
      ["wait_file", reloaded], ["send", "NOOP\r\n"], ["reply"], ["send", "QUIT\r\n"], ["reply"],
    ],
  });
  await until(() => existsSync(inTls), "the live session in TLS", 30_000);
  expect(await reloadWith(plb, file, toml(certB))).toMatch(/reload: /);
  writeFileSync(reloaded, "");
  expect((await live).map((r) => (r[0] === "reply" ? r[1] : r[0]))).toEqual([220, 250, 220, "tls", 250, 250, 221]);

  // New sessions: certificate B; a client trusting only A refuses it.
  expect((await sendWithSmtplib({ port, starttls: true, cafile: certB.cert })).error).toBeNull();
  const old = await sendWithSmtplib({ port, starttls: true, cafile: certA.cert });
  expect(old.ok).toBe(false);
  expect(old.error).toMatch(/CERTIFICATE_VERIFY_FAILED/);

  // A reload naming a key that does not exist fails and names the key; certificate B stays.
  const failed = await reloadWith(plb, file, toml({ cert: certB.cert, key: "/nonexistent/key.pem" }));
  expect(failed).toMatch(/reload failed/);
  expect(plb.log()).toMatch(/starttls\.key: cannot read \/nonexistent\/key\.pem/);
  expect((await sendWithSmtplib({ port, starttls: true, cafile: certB.cert })).error).toBeNull();
});
