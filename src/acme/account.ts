/**
 * The ACME account: one per CA directory, created once with the stored key
 * (newAccount with the same key returns the existing account: RFC 8555
 * §7.3.1), its URL kept beside the key so later starts make no request.
 */
import type { KeyObject } from "node:crypto";
import type { AcmeClient } from "./client.ts";
import { AcmeError } from "./errors.ts";

export interface Account {
  readonly key: KeyObject;
  /** The account URL: the kid of every later request. */
  readonly url: string;
}

/** Registers (or finds) the account for `key`, agreeing to the CA's terms. */
export async function registerAccount(client: AcmeClient, key: KeyObject, email: string | undefined): Promise<Account> {
  const dir = await client.directory();
  const payload: Record<string, unknown> = { termsOfServiceAgreed: true };
  if (email) payload.contact = [`mailto:${email}`];
  const res = await client.post("newAccount", dir.newAccount, { key, payload });
  if (!res.location) throw new AcmeError(`newAccount: the CA answered ${res.status} without the account URL (Location)`);
  return { key, url: res.location };
}
