/**
 * From the checked `[acme]` table to the manager's settings: reads the
 * directory_ca file (at start, --check and reload, before any chroot) and
 * says which key and file when it cannot.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { AcmeConfig } from "../config/types.ts";
import { fileErrorReason, PlbError } from "../errors.ts";
import type { AcmeSettings } from "./manager.ts";
import { checkStorage } from "./storage.ts";

export function acmeSettings(cfg: AcmeConfig, read: (path: string) => string = (p) => readFileSync(p, "utf8")): AcmeSettings {
  let directoryCa: string | undefined;
  if (cfg.directory_ca !== undefined) {
    try {
      directoryCa = read(cfg.directory_ca);
    } catch (err) {
      throw new PlbError("CONFIG_READ", `acme.directory_ca: cannot read ${cfg.directory_ca}: ${fileErrorReason(err)}`, { cause: err });
    }
    if (!directoryCa.includes("-----BEGIN CERTIFICATE-----")) throw new PlbError("CONFIG_INVALID", `acme.directory_ca: ${cfg.directory_ca} holds no PEM certificate`);
  }
  return { directory: cfg.directory, email: cfg.email, storage: cfg.storage, directoryCa, challenge: cfg.challenge, keyType: cfg.key_type };
}

/**
 * What start and `--check` call (after the privilege drop, so the check is
 * made as the user plb runs as): the storage directory exists or is
 * created, and is writable (ACME_STORAGE otherwise); directory_ca is read.
 */
export function prepareAcme(cfg: AcmeConfig, chrootDir?: string): AcmeSettings {
  storageInChroot(cfg.storage, chrootDir);
  checkStorage(cfg.storage);
  return acmeSettings(cfg);
}

/**
 * Where the storage is once plb runs in `chrootDir` (its path inside; the
 * same path without a chroot). The manager writes with plain paths, so with
 * chroot_dir the storage must lie inside it (ACME_STORAGE otherwise).
 */
export function storageInChroot(storage: string, chrootDir: string | undefined): string {
  if (chrootDir === undefined) return storage;
  const root = resolve(chrootDir);
  const abs = resolve(storage);
  const inside = relative(root, abs);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) {
    throw new PlbError("ACME_STORAGE", `acme.storage: ${storage} is outside chroot_dir ${chrootDir}: plb writes certificates after the chroot, so put the storage inside it (say ${join(chrootDir, "var/lib/plb/acme")})`);
  }
  return `/${inside}`;
}
