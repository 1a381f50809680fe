/**
 * Reload after the chroot and the privilege drop: the configuration, TLS
 * files and error pages are outside the new root and are read again through
 * the directories plb kept open; what cannot be read says why.
 */
import { afterEach, expect, test } from "bun:test";
import { chmodSync, chownSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts, privilegedPort } from "../../support/ports.ts";
import { startPlbFile, tempDir, type PlbProcess } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";

const isRoot = process.getuid?.() === 0;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A readable directory (mkdtemp makes 0700 ones). */
function openDir(prefix: string): string {
  const d = tempDir(prefix);
  chmodSync(d, 0o755);
  return d;
}

function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr}`);
  chmodSync(key, 0o644);
  chmodSync(cert, 0o644);
  return { cert, key };
}

/** The CN of the certificate a TLS client is shown on `port`. */
function servedCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.end();
      resolve(String(cn));
    });
    s.once("error", reject);
  });
}

async function body(url: string): Promise<string> {
  const res = await fetch(url, { tls: { rejectUnauthorized: false } } as RequestInit);
  return `${res.status} ${await res.text()}`;
}

test.skipIf(!isRoot)("inside the chroot as nobody, a reload reads the configuration, a new certificate and error page again; what it cannot read is refused with the reason", async () => {
  const root = openDir("plb-chroot-");
  const etc = openDir("plb-etc-");
  const certs = openDir("plb-certs-");
  const pages = openDir("plb-pages-");
  const elsewhere = openDir("plb-elsewhere-");
  const first = makeCert(certs, "first");
  const second = makeCert(certs, "second");
  const stray = makeCert(elsewhere, "stray");
  const page = join(pages, "503.html");
  writeFileSync(page, "first page");
  chmodSync(page, 0o644);
  const [a, b] = await Promise.all([httpBackend("a"), httpBackend("b")]);
  cleanup.push(() => a.close(), () => b.close());
  const [https, down, dead] = await freePorts(3);

  const conf = (tls: { cert: string; key: string }, servers: number[]) => `
user = "nobody"
group = "nogroup"
chroot_dir = "${root}"
timeout_cleanup = "300ms"
[[service]]
name = "secure"
protocol = "http"
listen = ["127.0.0.1:${https}"]
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
tls = { cert = "${tls.cert}", key = "${tls.key}" }
[[service]]
name = "down"
protocol = "http"
listen = ["127.0.0.1:${down}"]
servers = ["127.0.0.1:${dead}"]
error_pages = { 503 = "${page}" }
`;
  const file = join(etc, "plb.toml");
  writeFileSync(file, conf(first, [a.port]));
  chmodSync(file, 0o644);
  const plb: PlbProcess = await startPlbFile(file, ["--pidfile", join(openDir("plb-run-"), "plb.pid")]);
  cleanup.push(() => plb.stop());
  await plb.waitForLog(/running as nobody/);
  expect(readlinkSync(`/proc/${plb.pid}/root`)).toBe(root);
  expect(readFileSync(`/proc/${plb.pid}/status`, "utf8")).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
  await plb.waitForLog(new RegExp(`127\\.0\\.0\\.1:${dead} of "down" is down at start`));
  expect(await servedCn(https)).toBe("first");
  expect(await body(`https://127.0.0.1:${https}/`)).toBe("200 a");
  expect(await body(`http://127.0.0.1:${down}/`)).toBe("503 first page");

  // New certificate, new server, the error page rewritten in place.
  writeFileSync(page, "second page");
  expect(await reloadWith(plb, file, conf(second, [a.port, b.port]))).toContain("reload: +1 server, 1 setting changed");
  expect(await servedCn(https)).toBe("second");
  await plb.waitForLog(new RegExp(`127\\.0\\.0\\.1:${b.port} of "secure" is up: its first check passed`));
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(await body(`https://127.0.0.1:${https}/`));
  expect([...seen].sort()).toEqual(["200 a", "200 b"]);
  expect(await body(`http://127.0.0.1:${down}/`)).toBe("503 second page");

  // A key only root may read: refused, with who was refused.
  chmodSync(first.key, 0o600);
  chownSync(first.key, 0, 0);
  expect(await reloadWith(plb, file, conf(first, [a.port]))).toContain("reload failed");
  expect(plb.log()).toMatch(new RegExp(`plb\\.toml:\\d+: service "secure": tls\\.key: cannot read ${first.key.replace(/[.]/g, "\\.")}: permission denied \\(EACCES\\) to uid 65534, which plb runs as since it dropped privileges`));
  // A certificate in a directory plb never read from: outside the chroot for good.
  expect(await reloadWith(plb, file, conf(stray, [a.port]))).toContain("reload failed");
  expect(plb.log()).toMatch(/tls\.cert: cannot read .*stray\.crt: outside chroot_dir .*restart plb to use it/);
  // A port below 1024 can no longer be bound by nobody: refused, saying so.
  const low = privilegedPort();
  const lowConf = conf(second, [a.port, b.port]).replace(`listen = ["127.0.0.1:${https}"]`, `listen = ["127.0.0.1:${https}", "127.0.0.1:${low}"]`);
  expect(await reloadWith(plb, file, lowConf)).toContain("reload failed");
  expect(plb.log()).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${low}: permission denied \\(ports below 1024 need root\\) \\(plb runs as "nobody" since it dropped privileges: binding a port below 1024 needs a restart\\); the configuration in force is unchanged`));
  // The refusals left everything as it was.
  expect(await servedCn(https)).toBe("second");
  seen.clear();
  for (let i = 0; i < 6; i++) seen.add(await body(`https://127.0.0.1:${https}/`));
  expect([...seen].sort()).toEqual(["200 a", "200 b"]);
});
