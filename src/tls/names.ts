/**
 * Server names as certificates claim them and as clients ask for them
 * (SNI), matched as RFC 6125 §6.4 says: names compare case-insensitively
 * without a trailing dot; a wildcard is a whole left-most label ("*.example.com")
 * and stands for exactly one label: it covers "a.example.com", not
 * "example.com" nor "a.b.example.com". Partial-label wildcards
 * ("w*.example.com") and wildcards elsewhere are not names plb serves
 * (CA/Browser Forum certificates carry none). Pure functions.
 */
import type { X509Certificate } from "node:crypto";

/** "Example.COM." → "example.com". */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** A name a certificate may serve: "a.example.com" or "*.example.com" (at least two labels after the wildcard). */
export function isServableName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  const first = labels[0] === "*" ? 1 : 0;
  if (first === 1 && labels.length < 3) return false;
  for (let i = first; i < labels.length; i++) {
    if (!/^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(labels[i])) return false;
  }
  return true;
}

/** Does `pattern` (a certificate's name, normalized) cover `host` (normalized)? */
export function nameMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith("*.")) return pattern === host;
  const dot = host.indexOf(".");
  return dot > 0 && host.slice(dot + 1) === pattern.slice(2);
}

/** The "*.parent" wildcard that would cover `host` ("a.example.com" → "*.example.com"), or undefined. */
export function wildcardFor(host: string): string | undefined {
  const dot = host.indexOf(".");
  return dot > 0 && host.indexOf(".", dot + 1) > 0 ? `*${host.slice(dot)}` : undefined;
}

/**
 * The DNS names of a certificate's subjectAltName, normalized, in order,
 * once each; when it has none, its subject's CN (as clients did before
 * RFC 6125 and some test certificates still rely on). Names plb cannot
 * serve (IP addresses, partial wildcards) are left out: `skipped` lists them.
 */
export function certificateNames(cert: X509Certificate): { names: string[]; skipped: string[] } {
  const names: string[] = [];
  const skipped: string[] = [];
  const add = (raw: string) => {
    const n = normalizeName(raw.trim());
    if (!isServableName(n)) skipped.push(raw);
    else if (!names.includes(n)) names.push(n);
  };
  const san = cert.subjectAltName;
  const dns = san ? splitAltNames(san).filter((e) => e.startsWith("DNS:")).map((e) => e.slice(4)) : [];
  if (dns.length > 0) for (const d of dns) add(d);
  else {
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
    if (cn !== undefined) add(cn);
  }
  return { names, skipped };
}

/** `DNS:a.example, DNS:"b, c", IP Address:10.0.0.1` → entries (quoted values may hold ", "). */
function splitAltNames(san: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < san.length; i++) {
    const c = san[i];
    if (c === '"') quoted = !quoted;
    if (!quoted && c === "," && san[i + 1] === " ") {
      out.push(cur);
      cur = "";
      i++;
      continue;
    }
    cur += c;
  }
  if (cur !== "") out.push(cur);
  return out.map((e) => e.replace(/^(DNS:)"(.*)"$/, "$1$2"));
}
