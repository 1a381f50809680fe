/**
 * The HTTP/2 client connection preface (RFC 9113 §3.4), as an HTTP/1
 * connection with h2c = true recognises a prior-knowledge client: its first
 * bytes are "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", which no HTTP/1 request
 * starts with (PRI is reserved for it).
 */
import { PREFACE } from "./frames.ts";

/** Whether `buf` starts a connection with the preface: yes, no, or "more" (a shorter prefix of it). */
export function prefaceMatch(buf: Uint8Array): "yes" | "no" | "more" {
  const n = Math.min(buf.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== PREFACE[i]) return "no";
  return n === PREFACE.length ? "yes" : "more";
}
