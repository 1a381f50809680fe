/**
 * A listener's certificates: every pair the `tls` value names, read and
 * checked, and the names each one serves (from its subjectAltName), so
 * that a client's SNI name chooses one. The first pair is the default for a
 * client without SNI or with a name no certificate serves, unless
 * strict_sni refuses those.
 *
 * Which certificate serves a name (RFC 6125 matching, src/tls/names.ts):
 * an exact name first, then the wildcard covering its left-most label; when
 * two certificates claim the same name (exact or wildcard), the first in
 * order serves it and a warning says so.
 *
 * `dir`: every regular file in the directory (not its subdirectories, not
 * hidden files) is read, in name order. Certificates and keys are paired by
 * content, not by file name: a file holding both a certificate and its key
 * is a pair by itself; otherwise each certificate file takes the key file
 * whose key matches its certificate (so `example.com.crt` + `example.com.key`,
 * certbot's `fullchain.pem` + `privkey.pem`, or HAProxy-style combined
 * `.pem` files all work). The default is the first pair by certificate file
 * name. A certificate without a matching key, or a key no certificate uses,
 * is skipped with a warning; a directory with no usable pair is an error.
 *
 * Checked at every build (start, `--check`, reload): a pair that does not
 * match or cannot be used (error, naming the file and the key), a
 * certificate expired or not yet valid (warning), a name claimed twice
 * (warning). Reading goes through src/process/files.ts, so a reload after
 * chroot reads the files again through the directories kept at start.
 */
import type { X509Certificate } from "node:crypto";
import { join } from "node:path";
import type { ListenTlsConfig } from "../config/types.ts";
import { fileErrorReason } from "../errors.ts";
import { listConfiguredDir, readConfigured } from "../process/files.ts";
import { certificateNames, nameMatches, normalizeName, wildcardFor } from "./names.ts";
import { inspectTlsPair, type TlsProblem } from "./pair.ts";

/** One certificate chain and its key, with the names it serves. */
export interface CertEntry {
  /** Where it was configured, for messages: "tls.certs[1]" or "tls.dir". */
  readonly at: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** Normalized names from its SAN (exact and "*.parent"), in certificate order. */
  readonly names: readonly string[];
  readonly notAfter: Date;
}

/** The certificates of one listener, indexed by name. */
export interface CertificateSet {
  /** In configuration order (dir: certificate file name order); [0] is the default. */
  readonly entries: readonly CertEntry[];
  /** Each name (exact or "*.parent") and the entry serving it, first claim first. */
  readonly byName: ReadonlyMap<string, CertEntry>;
  readonly strict: boolean;
}

export interface StoreResult {
  /** Undefined when there are problems. */
  readonly set: CertificateSet | undefined;
  /** Errors: the listener cannot start (or a reload is refused) with these files. */
  readonly problems: TlsProblem[];
  /** Worth telling, not refused. */
  readonly warnings: string[];
}

/** The certificate that serves SNI `name` (undefined: none; the caller decides about the default). */
export function serving(set: CertificateSet, name: string): CertEntry | undefined {
  const n = normalizeName(name);
  const exact = set.byName.get(n);
  if (exact !== undefined) return exact;
  const wild = wildcardFor(n);
  return wild === undefined ? undefined : set.byName.get(wild);
}

/** What a handshake with SNI `name` (undefined: no SNI) gets: a certificate, or undefined when strict_sni refuses it. */
export function choose(set: CertificateSet, name: string | undefined): CertEntry | undefined {
  const found = name === undefined || name === "" ? undefined : serving(set, name);
  return found ?? (set.strict ? undefined : set.entries[0]);
}

const CERT_RE = /-----BEGIN CERTIFICATE-----/;
const KEY_RE = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

interface Candidate {
  readonly at: string;
  /** Problems reading its files. */
  readonly unread?: TlsProblem[];
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** Read `file` as text; a failure is a problem of `key`. */
function reader(problems: TlsProblem[]) {
  return (key: string, file: string): string | undefined => {
    try {
      return readConfigured(file).toString();
    } catch (err) {
      const e = err as Error & { code?: string };
      problems.push({ key, message: `cannot read ${file}: ${e.code ? fileErrorReason(err) : e.message}` });
      return undefined;
    }
  };
}

/** The pairs of a directory, matched by content. */
function scanDir(dir: string, at: string, problems: TlsProblem[], warnings: string[]): Candidate[] {
  let names: string[];
  try {
    names = listConfiguredDir(dir);
  } catch (err) {
    const e = err as Error & { code?: string };
    problems.push({ key: at, message: `cannot list ${dir}: ${e.code ? fileErrorReason(err) : e.message}` });
    return [];
  }
  const certs: { file: string; text: string }[] = [];
  const keys: { file: string; text: string; used: boolean }[] = [];
  for (const name of names) {
    if (name.startsWith(".")) continue;
    const file = join(dir, name);
    let text: string;
    try {
      text = readConfigured(file).toString();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "EISDIR") warnings.push(`${at}: ${file} skipped: cannot read it: ${code ? fileErrorReason(err) : (err as Error).message}`);
      continue;
    }
    const hasCert = CERT_RE.test(text);
    const hasKey = KEY_RE.test(text);
    if (hasCert) certs.push({ file, text });
    if (hasKey) keys.push({ file, text, used: false });
  }
  const out: Candidate[] = [];
  for (const c of certs) {
    // Its own key first (a combined file), then any key file that matches.
    const own = keys.find((k) => k.file === c.file);
    const candidates = own ? [own, ...keys.filter((k) => k !== own)] : keys;
    const match = candidates.find((k) => inspectTlsPair(c.text, k.text, c.file, k.file, at).problems.length === 0);
    if (match === undefined) {
      warnings.push(`${at}: ${c.file} skipped: no key in ${dir} matches its certificate`);
      continue;
    }
    match.used = true;
    out.push({ at, certFile: c.file, keyFile: match.file, cert: c.text, key: match.text });
  }
  for (const k of keys) if (!k.used && !certs.some((c) => c.file === k.file)) warnings.push(`${at}: ${k.file} skipped: a key no certificate in ${dir} matches`);
  if (out.length === 0 && problems.length === 0) {
    problems.push({ key: at, message: `${dir} holds no usable certificate and key (PEM files: a certificate chain with its key in one file, or certificate and key files whose keys match)` });
  }
  return out;
}

/**
 * Read and check the certificates `cfg` names (`key`: "tls" or "starttls"),
 * at time `now`. Every problem is returned at once.
 */
export function loadCertificates(cfg: ListenTlsConfig, key = "tls", now = new Date()): StoreResult {
  const problems: TlsProblem[] = [];
  const warnings: string[] = [];
  let candidates: Candidate[];
  // Only ACME certificates: no file, no default (listener.ts serves the managed names).
  if (cfg.source.kind === "acme") return { set: { entries: [], byName: new Map(), strict: true }, problems, warnings };
  if (cfg.source.kind === "dir") {
    candidates = scanDir(cfg.source.dir, `${key}.dir`, problems, warnings);
  } else {
    const form = cfg.source.form;
    candidates = cfg.source.pairs.map((p, i) => {
      const at = form === "cert" ? key : `${key}.certs[${i}]`;
      const unread: TlsProblem[] = [];
      const read = reader(unread);
      return { at, unread, certFile: p.cert, keyFile: p.key, cert: read(`${at}.cert`, p.cert), key: read(`${at}.key`, p.key) };
    });
  }

  const entries: CertEntry[] = [];
  for (const c of candidates) {
    const { problems: found, leaf } = inspectTlsPair(c.cert, c.key, c.certFile, c.keyFile, c.at);
    // The certificate's problems first, then the key's, then the pair's.
    const order = (p: TlsProblem) => (p.key.endsWith(".cert") ? 0 : p.key.endsWith(".key") ? 1 : 2);
    problems.push(...[...(c.unread ?? []), ...found].sort((a, b) => order(a) - order(b)));
    if (leaf === undefined || c.cert === undefined || c.key === undefined) continue;
    entries.push(entry(c, leaf, now, warnings));
  }
  if (problems.length > 0 || entries.length === 0) return { set: undefined, problems, warnings };

  const byName = new Map<string, CertEntry>();
  for (const e of entries) {
    for (const n of e.names) {
      const first = byName.get(n);
      if (first === undefined) byName.set(n, e);
      else if (first !== e) warnings.push(`${e.at}: ${JSON.stringify(n)} is also a name of ${first.certFile} (${first.at}), which serves it (the first wins); ${e.certFile} does not`);
    }
  }
  if (cfg.strict_sni && byName.size === 0) {
    problems.push({ key, message: "strict_sni = true, and no certificate names a host (subjectAltName DNS names): every handshake would be refused" });
    return { set: undefined, problems, warnings };
  }
  return { set: { entries, byName, strict: cfg.strict_sni }, problems, warnings };
}

function entry(c: Candidate, leaf: X509Certificate, now: Date, warnings: string[]): CertEntry {
  const { names, skipped } = certificateNames(leaf);
  const notAfter = new Date(leaf.validTo);
  const notBefore = new Date(leaf.validFrom);
  if (notAfter.getTime() < now.getTime()) warnings.push(`${c.at}: the certificate in ${c.certFile} expired on ${notAfter.toISOString()} (clients will refuse it)`);
  else if (notBefore.getTime() > now.getTime()) warnings.push(`${c.at}: the certificate in ${c.certFile} is not valid before ${notBefore.toISOString()} (clients will refuse it until then)`);
  if (names.length === 0) warnings.push(`${c.at}: the certificate in ${c.certFile} names no host (no subjectAltName DNS name): it serves only clients that get the default`);
  for (const s of skipped) if (!/^\d|:/.test(s)) warnings.push(`${c.at}: ${JSON.stringify(s)} in ${c.certFile} is not a name plb matches (a wildcard must be a whole left-most label, "*.example.com")`);
  return { at: c.at, certFile: c.certFile, keyFile: c.keyFile, cert: c.cert!, key: c.key!, names, notAfter };
}

/** Does any certificate of `set` cover `host`? (For tests and messages: the same rule `serving` applies.) */
export function covers(set: CertificateSet, host: string): boolean {
  const h = normalizeName(host);
  return set.entries.some((e) => e.names.some((n) => nameMatches(n, h)));
}
