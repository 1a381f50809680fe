/**
 * ACME's JSON Web Signatures (RFC 8555 §6.2): flattened JSON, protected
 * header with alg, nonce, url and either the account's kid or (newAccount,
 * revocation by key) the public jwk. An undefined payload is a
 * POST-as-GET (empty payload).
 */
import type { KeyObject } from "node:crypto";
import { base64url, jwsAlgorithm, publicJwk, signJws } from "./keys.ts";

export interface Jws {
  readonly protected: string;
  readonly payload: string;
  readonly signature: string;
}

export interface JwsInput {
  readonly key: KeyObject;
  readonly url: string;
  readonly nonce?: string;
  /** The account URL; absent: the public key goes in the header as jwk. */
  readonly kid?: string;
  /** undefined: POST-as-GET. */
  readonly payload?: unknown;
}

export function signedRequest(input: JwsInput): Jws {
  const header: Record<string, unknown> = { alg: jwsAlgorithm(input.key) };
  if (input.kid !== undefined) header.kid = input.kid;
  else header.jwk = publicJwk(input.key);
  if (input.nonce !== undefined) header.nonce = input.nonce;
  header.url = input.url;
  const protectedPart = base64url(JSON.stringify(header));
  const payloadPart = input.payload === undefined ? "" : base64url(JSON.stringify(input.payload));
  const signature = signJws(input.key, new TextEncoder().encode(`${protectedPart}.${payloadPart}`));
  return { protected: protectedPart, payload: payloadPart, signature: base64url(signature) };
}
