/**
 * The HTTP/2 client connection preface (RFC 9113 §3.4), as an HTTP/1
 * connection with h2c = true recognises a prior-knowledge client: its first
 * bytes are "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". Its request line alone
 * decides: no HTTP/1 request starts with "PRI * HTTP/2.0" (the method is
 * reserved for it, and plb's HTTP/1 parser refuses version 2.0), so a
 * client that sends it speaks h2, and the h2 session answers a wrong rest
 * of the preface with GOAWAY PROTOCOL_ERROR, as RFC 9113 asks.
 */
import { PREFACE } from "./frames.ts";

/** "PRI * HTTP/2.0\r\n": the part of the preface that tells h2 from HTTP/1. */
const DECIDES = 16;

/** Whether `buf` starts a prior-knowledge h2 connection: yes, no, or "more" (a shorter prefix of the preface's request line). */
export function prefaceMatch(buf: Uint8Array): "yes" | "no" | "more" {
  const n = Math.min(buf.length, DECIDES);
  for (let i = 0; i < n; i++) if (buf[i] !== PREFACE[i]) return "no";
  return n === DECIDES ? "yes" : "more";
}
