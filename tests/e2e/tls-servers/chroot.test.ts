/**
 * server_tls files after the chroot and the privilege drop: a reload reads
 * the CA and the client certificate and key again through the directory
 * plb kept open (process/files.ts), as it does for listener certificates.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, copyFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { startNginx } from "../../support/nginx.ts";
import { startPlbFile, tempDir, writeConfig } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { reloadWith } from "../../support/reload.ts";
import { testCa } from "../../support/test-ca.ts";

const isRoot = process.getuid?.() === 0;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A directory nobody can read (mkdtemp makes 0700 ones), with copies of `files`. */
function readableCopies(files: Record<string, string>): Record<string, string> {
  const dir = tempDir("plb-server-tls-");
  chmodSync(dir, 0o755);
  const out: Record<string, string> = {};
  for (const [name, from] of Object.entries(files)) {
    out[name] = join(dir, name);
    copyFileSync(from, out[name]);
    chmodSync(out[name], 0o644);
  }
  return out;
}

test.skipIf(!isRoot)("inside the chroot as nobody, a reload reads the new ca and the client certificate again: the server that failed verification is back and gets plb's certificate", async () => {
  const ca = await testCa();
  const f = readableCopies({ "right-ca.pem": ca.ca, "other-ca.pem": join(ca.dir, "other-ca.pem"), "client.pem": ca.client.cert, "client.key": ca.client.key });
  const root = tempDir("plb-chroot-");
  chmodSync(root, 0o755);
  const [server, port] = await freePorts(2);
  const n = await startNginx(
    `server { listen 127.0.0.1:${server} ssl; ssl_certificate ${ca.server.cert}; ssl_certificate_key ${ca.server.key};
       ssl_verify_client on; ssl_client_certificate ${ca.ca};
       location / { return 200 "client=$ssl_client_s_dn\\n"; } }`,
    server,
  );
  cleanups.push(() => n.stop());
  const conf = (caFile: string) => `
user = "nobody"
group = "nogroup"
chroot_dir = "${root}"
timeout_cleanup = "300ms"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${server}"]
server_tls = { ca = "${caFile}", server_name = "app.internal", cert = "${f["client.pem"]}", key = "${f["client.key"]}" }
`;
  const file = writeConfig(conf(f["other-ca.pem"]!));
  chmodSync(file, 0o644);
  chmodSync(join(file, ".."), 0o755);
  const plb = await startPlbFile(file, ["--pidfile", join(tempDir("plb-run-"), "plb.pid")]);
  cleanups.push(() => plb.stop());
  await plb.waitForLog(/running as nobody/);
  expect(readlinkSync(`/proc/${plb.pid}/root`)).toBe(root);
  await plb.waitForLog(/is down at start: TLS: unknown CA/);
  expect(await reloadWith(plb, file, conf(f["right-ca.pem"]!))).toContain("reload: 1 setting changed");
  await plb.waitForLog(/is up again/, 10_000);
  const res = await fetch(`http://127.0.0.1:${port}/`);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("client=CN=plb-client\n");
});
