/**
 * tls = { dir } inside chroot_dir as nobody: a reload reads the directory's
 * certificates again through the descriptor kept at start (the chroot has
 * no /proc to list it by, so the names found at start are read again).
 */
import { afterEach, expect, test } from "bun:test";
import { chmodSync, copyFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertDir, sClient } from "../../support/certs.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlbFile, tempDir } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";

const isRoot = process.getuid?.() === 0;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Make `dir` and its files readable by nobody (mkdtemp makes 0700 directories). */
function readable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
}

test.skipIf(!isRoot)("inside the chroot as nobody, a reload reads the certificates of a tls dir again", async () => {
  const made = new CertDir();
  const [one, two, other] = await Promise.all([
    made.cert("one", { dns: ["web.test"] }),
    made.cert("two", { dns: ["web.test"], subject: "/CN=web.test/O=renewed" }),
    made.cert("other", { dns: ["other.test"] }),
  ]);
  const certs = tempDir("plb-tls-dir-");
  copyFileSync(one.cert, join(certs, "web.crt"));
  copyFileSync(one.key, join(certs, "web.key"));
  copyFileSync(other.cert, join(certs, "other.crt"));
  copyFileSync(other.key, join(certs, "other.key"));
  readable(certs);
  const root = tempDir("plb-chroot-");
  const etc = tempDir("plb-etc-");
  chmodSync(root, 0o755);
  const backend = await httpBackend("a");
  cleanup.push(() => backend.close());
  const port = await freePort();
  const file = join(etc, "plb.toml");
  const toml = `
user = "nobody"
group = "nogroup"
chroot_dir = "${root}"
[[service]]
name = "secure"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${backend.port}"]
tls = { dir = "${certs}" }
`;
  writeFileSync(file, toml);
  readable(etc);
  const plb = await startPlbFile(file, ["--pidfile", join(tempDir("plb-run-"), "plb.pid")]);
  cleanup.push(() => plb.stop());
  await plb.waitForLog(/running as nobody/);
  expect((await sClient(port, "web.test")).subject).toBe("CN = web.test");
  expect((await sClient(port, "other.test")).subject).toBe("CN = other.test");

  // Renewed in place (what certbot's deploy hook or an operator does), then a reload.
  copyFileSync(two.cert, join(certs, "web.crt"));
  copyFileSync(two.key, join(certs, "web.key"));
  readable(certs);
  expect(await reloadWith(plb, file, undefined)).toMatch(/\[reload\] reload: /);
  expect((await sClient(port, "web.test")).subject).toBe("CN = web.test, O = renewed");
  expect((await sClient(port, "other.test")).subject).toBe("CN = other.test");
});
