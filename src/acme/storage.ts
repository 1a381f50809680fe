/**
 * The `storage` directory: everything ACME must keep across restarts.
 *
 *   <storage>/accounts/<ca>/key.pem         account key (0600), one per CA directory
 *   <storage>/accounts/<ca>/account.json    { url, directory, email }
 *   <storage>/certificates/<name>/chain.pem the chain as the CA sent it, leaf first
 *   <storage>/certificates/<name>/key.pem   its key (0600)
 *   <storage>/certificates/<name>/meta.json { names, directory, issued }
 *   <storage>/failures.json                 recent failed attempts per name (the hourly bound survives restarts)
 *
 * <ca> is the directory URL's host, port and path ("acme-v02.api.letsencrypt.org-directory");
 * <name> is the first name of the certificate. Every file is written to a
 * temporary name, synced and renamed: a crash leaves the old file or the
 * new one, never half of one. Directories are 0700.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileErrorReason, PlbError } from "../errors.ts";
import { type CertInfo, certInfo } from "./certinfo.ts";

export interface StoredCertificate {
  readonly names: readonly string[];
  readonly chainPem: string;
  readonly keyPem: string;
  readonly info: CertInfo;
  /** The CA directory that issued it ("" when meta.json is missing). */
  readonly directory: string;
}

export interface StoredAccount {
  readonly keyPem: string;
  readonly url: string | undefined;
}

function fail(dir: string, what: string, err: unknown): never {
  throw new PlbError("ACME_STORAGE", `acme storage ${dir}: ${what}: ${fileErrorReason(err)}`, { cause: err });
}

/**
 * Makes sure `dir` exists (created 0700 when it does not) and that this
 * process can write in it, by writing and removing a file. Called at start
 * (after the drop of privileges) and by --check; throws ACME_STORAGE.
 */
export function checkStorage(dir: string): void {
  let isDir: boolean | undefined;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") fail(dir, "not usable", err);
  }
  if (isDir === false) fail(dir, "not usable", Object.assign(new Error("not a directory"), { code: "ENOTDIR" }));
  if (isDir === undefined) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      fail(dir, "cannot create it", err);
    }
  }
  const probe = join(dir, `.plb-write-check-${process.pid}`);
  try {
    writeFileSync(probe, "");
    unlinkSync(probe);
  } catch (err) {
    fail(dir, "not writable", err);
  }
}

/** The folder name for a CA directory URL. */
export function caFolder(directoryUrl: string): string {
  let u: URL;
  try {
    u = new URL(directoryUrl);
  } catch {
    return directoryUrl.replace(/[^A-Za-z0-9.-]+/g, "_");
  }
  const host = u.port ? `${u.hostname}_${u.port}` : u.hostname;
  const path = u.pathname.replace(/^\/+|\/+$/g, "").replace(/\//g, "-");
  return `${host}${path ? `-${path}` : ""}`.replace(/[^A-Za-z0-9._-]+/g, "_");
}

/** The folder name for a certificate (its first name; a wildcard's * as "_"). */
export function nameFolder(name: string): string {
  return name.toLowerCase().replace(/^\*/, "_").replace(/[^a-z0-9._-]/g, "_");
}

/** Writes `data` to `path` atomically (temporary file, fsync, rename) with `mode`. */
export function writeAtomic(path: string, data: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export class AcmeStorage {
  constructor(readonly dir: string) {}

  private ensure(...parts: string[]): string {
    const d = join(this.dir, ...parts);
    try {
      mkdirSync(d, { recursive: true, mode: 0o700 });
    } catch (err) {
      fail(this.dir, `cannot create ${d}`, err);
    }
    return d;
  }

  readAccount(directoryUrl: string): StoredAccount | undefined {
    const d = join(this.dir, "accounts", caFolder(directoryUrl));
    try {
      const keyPem = readOptional(join(d, "key.pem"));
      if (keyPem === undefined) return undefined;
      const meta = readOptional(join(d, "account.json"));
      const url = meta ? (JSON.parse(meta) as { url?: string }).url : undefined;
      return { keyPem, url: typeof url === "string" ? url : undefined };
    } catch (err) {
      fail(this.dir, `cannot read the account in ${d}`, err);
    }
  }

  writeAccountKey(directoryUrl: string, keyPem: string): void {
    const d = this.ensure("accounts", caFolder(directoryUrl));
    try {
      writeAtomic(join(d, "key.pem"), keyPem, 0o600);
    } catch (err) {
      fail(this.dir, "cannot write the account key", err);
    }
  }

  writeAccount(directoryUrl: string, url: string, email: string | undefined): void {
    const d = this.ensure("accounts", caFolder(directoryUrl));
    try {
      writeAtomic(join(d, "account.json"), `${JSON.stringify({ url, directory: directoryUrl, email: email ?? null }, null, 2)}\n`);
    } catch (err) {
      fail(this.dir, "cannot write account.json", err);
    }
  }

  /** Stores an issued certificate: key first, then the chain, then meta.json. */
  writeCertificate(names: readonly string[], chainPem: string, keyPem: string, directoryUrl: string): void {
    const d = this.ensure("certificates", nameFolder(names[0]));
    try {
      writeAtomic(join(d, "key.pem"), keyPem, 0o600);
      writeAtomic(join(d, "chain.pem"), chainPem);
      writeAtomic(join(d, "meta.json"), `${JSON.stringify({ names, directory: directoryUrl, issued: new Date().toISOString() }, null, 2)}\n`);
    } catch (err) {
      fail(this.dir, `cannot write the certificate of ${names[0]}`, err);
    }
  }

  /**
   * Every stored certificate that can be read, and one line per folder
   * that cannot (a missing key, a broken chain): plb serves the first at
   * once after a restart and logs the second.
   */
  loadCertificates(): { certificates: StoredCertificate[]; problems: string[] } {
    const root = join(this.dir, "certificates");
    const certificates: StoredCertificate[] = [];
    const problems: string[] = [];
    let folders: string[];
    try {
      folders = readdirSync(root).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { certificates, problems };
      fail(this.dir, "cannot list certificates", err);
    }
    for (const f of folders) {
      const d = join(root, f);
      try {
        const chainPem = readFileSync(join(d, "chain.pem"), "utf8");
        const keyPem = readFileSync(join(d, "key.pem"), "utf8");
        const info = certInfo(chainPem);
        // Key, chain and meta.json are three renames: a crash between them leaves a key that is not the chain's.
        if (!new X509Certificate(chainPem).checkPrivateKey(createPrivateKey(keyPem))) throw new RangeError("key.pem does not match chain.pem (an interrupted write?): ordered again");
        const metaText = readOptional(join(d, "meta.json"));
        const meta = metaText ? (JSON.parse(metaText) as { names?: string[]; directory?: string }) : {};
        const names = Array.isArray(meta.names) && meta.names.length > 0 ? meta.names : info.names;
        certificates.push({ names, chainPem, keyPem, info, directory: meta.directory ?? "" });
      } catch (err) {
        problems.push(`${d}: ${err instanceof RangeError ? err.message : fileErrorReason(err)}`);
      }
    }
    return { certificates, problems };
  }

  readFailures(): Record<string, number[]> {
    try {
      const text = readOptional(join(this.dir, "failures.json"));
      return text ? (JSON.parse(text) as Record<string, number[]>) : {};
    } catch {
      return {};
    }
  }

  writeFailures(record: Record<string, number[]>): void {
    try {
      writeAtomic(join(this.dir, "failures.json"), `${JSON.stringify(record)}\n`);
    } catch (err) {
      fail(this.dir, "cannot write failures.json", err);
    }
  }
}
