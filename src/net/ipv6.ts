/** IPv6 literals as text. Pure. */

/**
 * RFC 5952 form via the URL parser: "0:0::01" → "::1", "FE80::1" → "fe80::1".
 * What the URL parser refuses (a zone id, "fe80::1%eth0") is only lowercased.
 */
export function canonicalIPv6(host: string): string {
  try {
    return new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host.toLowerCase();
  }
}
