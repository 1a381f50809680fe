import { expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pem, selfSigned } from "../src/acme/certs.ts";
import { generateKey, keyToPem } from "../src/acme/keys.ts";
import { AcmeStorage, caFolder, checkStorage, nameFolder } from "../src/acme/storage.ts";
import { PlbError } from "../src/errors.ts";

const root = mkdtempSync(join(tmpdir(), "plb-acme-storage-"));
const mode = (p: string) => statSync(p).mode & 0o777;

test("checkStorage creates a missing directory 0700 and accepts a writable one; a file or a path under a file is ACME_STORAGE", () => {
  const dir = join(root, "a", "b", "acme");
  checkStorage(dir);
  expect(statSync(dir).isDirectory()).toBe(true);
  expect(mode(dir)).toBe(0o700);
  checkStorage(dir); // again: exists, fine
  expect(readdirSync(dir)).toEqual([]); // the probe is gone
  const file = join(root, "plain-file");
  writeFileSync(file, "");
  const err = (() => {
    try {
      checkStorage(join(file, "acme"));
    } catch (e) {
      return e as PlbError;
    }
  })();
  expect(err).toBeInstanceOf(PlbError);
  expect(err?.code).toBe("ACME_STORAGE");
  expect(err?.message).toContain(`acme storage ${join(file, "acme")}: not usable`);
  expect(() => checkStorage(file)).toThrow(/not usable: .*ENOTDIR/);
});

test("a directory plb cannot write is refused at the check (as root: without CAP_DAC_OVERRIDE)", () => {
  const dir = join(root, "read-only");
  mkdirSync(dir);
  chmodSync(dir, 0o555);
  const module = join(import.meta.dir, "..", "src", "acme", "storage.ts");
  const script = `import { checkStorage } from ${JSON.stringify(module)}; try { checkStorage(${JSON.stringify(dir)}); console.log("ok"); } catch (e) { console.log(e.code, e.message); }`;
  const cmd = process.getuid?.() === 0 ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search", process.execPath, "-e", script] : [process.execPath, "-e", script];
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  expect(r.stdout.toString().trim()).toBe(`ACME_STORAGE acme storage ${dir}: not writable: permission denied (EACCES)`);
});

test("folder names: the CA's host, port and path; a certificate's first name", () => {
  expect(caFolder("https://acme-v02.api.letsencrypt.org/directory")).toBe("acme-v02.api.letsencrypt.org-directory");
  expect(caFolder("https://acme-staging-v02.api.letsencrypt.org/directory")).toBe("acme-staging-v02.api.letsencrypt.org-directory");
  expect(caFolder("https://127.0.0.1:14000/dir")).toBe("127.0.0.1_14000-dir");
  expect(nameFolder("WWW.Example.com")).toBe("www.example.com");
  expect(nameFolder("*.example.com")).toBe("_.example.com");
  expect(nameFolder("../etc")).toBe(".._etc");
});

test("certificates and account keys are written whole with keys 0600, and read back with their notAfter after a restart", () => {
  const dir = join(root, "store");
  checkStorage(dir);
  const s = new AcmeStorage(dir);
  const ca = "https://127.0.0.1:14000/dir";
  expect(s.readAccount(ca)).toBeUndefined();
  const accountKey = keyToPem(generateKey("ecdsa"));
  s.writeAccountKey(ca, accountKey);
  s.writeAccount(ca, "https://127.0.0.1:14000/my-account/1", "ops@example.com");
  expect(s.readAccount(ca)).toEqual({ keyPem: accountKey, url: "https://127.0.0.1:14000/my-account/1" });
  expect(mode(join(dir, "accounts", "127.0.0.1_14000-dir", "key.pem"))).toBe(0o600);

  const key = generateKey("ecdsa");
  const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000);
  const chain = pem("CERTIFICATE", selfSigned({ names: ["a.test", "www.a.test"], key, notAfter }));
  s.writeCertificate(["a.test", "www.a.test"], chain, keyToPem(key), ca);
  const folder = join(dir, "certificates", "a.test");
  expect(readdirSync(folder).sort()).toEqual(["chain.pem", "key.pem", "meta.json"]); // no temporary files left
  expect(mode(join(folder, "key.pem"))).toBe(0o600);

  // A broken folder is reported, not thrown, and does not hide the good one.
  mkdirSync(join(dir, "certificates", "broken.test"));
  writeFileSync(join(dir, "certificates", "broken.test", "chain.pem"), "garbage");
  writeFileSync(join(dir, "certificates", "broken.test", "key.pem"), "garbage");

  const again = new AcmeStorage(dir).loadCertificates();
  expect(again.certificates).toHaveLength(1);
  const c = again.certificates[0];
  expect(c.names).toEqual(["a.test", "www.a.test"]);
  expect(c.info.notAfter.getTime()).toBe(notAfter.getTime());
  expect(c.directory).toBe(ca);
  expect(c.keyPem).toBe(keyToPem(key));
  expect(again.problems).toEqual([`${join(dir, "certificates", "broken.test")}: no PEM certificate found`]);

  s.writeFailures({ "a.test": [1, 2] });
  expect(s.readFailures()).toEqual({ "a.test": [1, 2] });
  expect(new AcmeStorage(join(root, "empty")).loadCertificates()).toEqual({ certificates: [], problems: [] });
});

test("a key that is not the chain's (a write cut between the two renames) is reported and not served", () => {
  const dir = join(root, "torn");
  const s = new AcmeStorage(dir);
  const key = generateKey("ecdsa");
  s.writeCertificate(["t.test"], pem("CERTIFICATE", selfSigned({ names: ["t.test"], key })), keyToPem(key), "https://ca/dir");
  expect(s.loadCertificates().certificates).toHaveLength(1);
  writeFileSync(join(dir, "certificates", "t.test", "key.pem"), keyToPem(generateKey("ecdsa")));
  const loaded = s.loadCertificates();
  expect(loaded.certificates).toEqual([]);
  expect(loaded.problems).toEqual([`${join(dir, "certificates", "t.test")}: key.pem does not match chain.pem (an interrupted write?): ordered again`]);
});
