/**
 * One issuance (RFC 8555 §7.4): newOrder → each authorization → answer
 * one challenge → poll → finalize with a CSR → poll → download the chain.
 * Answers are put in the responders only while their authorization is
 * pending and removed whatever happens.
 */
import type { KeyObject } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Account } from "./account.ts";
import { csr, pem, selfSigned } from "./certs.ts";
import type { ChallengeType, Responders } from "./challenges.ts";
import type { AcmeClient } from "./client.ts";
import { type AcmeProblem, AcmeError, asProblem, describeProblem } from "./errors.ts";
import { base64url, generateKey, type KeyType, keyToPem, thumbprint } from "./keys.ts";

export interface IssueInput {
  readonly client: AcmeClient;
  readonly account: Account;
  readonly names: readonly string[];
  readonly keyType: KeyType;
  /** Challenge types in the order to try them; only those with a responder are used. */
  readonly challenges: readonly ChallengeType[];
  readonly responders: Responders;
  /** RFC 9773: the ARI certID of the certificate this order replaces. */
  readonly replaces?: string;
  /** How long to wait for an authorization or the order to settle; default 120 s. */
  readonly pollTimeoutMs?: number;
  /** Told each step ("authorization a.test: answering http-01"). */
  readonly step?: (what: string) => void;
}

export interface Issued {
  readonly chainPem: string;
  readonly keyPem: string;
  /** The challenge type each name was validated with ("reused" when the CA reused a valid authorization). */
  readonly validatedWith: Readonly<Record<string, string>>;
}

interface Challenge {
  readonly type: string;
  readonly url: string;
  readonly token: string;
  readonly status: string;
  readonly error?: unknown;
}

interface Authorization {
  readonly status: string;
  readonly identifier: { readonly type: string; readonly value: string };
  readonly challenges: readonly Challenge[];
}

interface Order {
  readonly status: string;
  readonly authorizations: readonly string[];
  readonly finalize: string;
  readonly certificate?: string;
  readonly error?: unknown;
}

/** Polls `url` until its status is no longer pending/processing (Retry-After honoured). */
async function poll<T extends { status: string }>(input: IssueInput, what: string, url: string, deadline: number): Promise<T> {
  let delay = 500;
  for (;;) {
    const res = await input.client.post(what, url, { key: input.account.key, kid: input.account.url });
    const body = res.json as T;
    if (body.status !== "pending" && body.status !== "processing") return body;
    if (Date.now() > deadline) throw new AcmeError(`${what}: still ${body.status} after ${Math.round((input.pollTimeoutMs ?? 120_000) / 1000)} s`, { names: input.names });
    // The CA's Retry-After when it gives one (kept within 0.5–60 s), else 0.5, 1, 2, 4, 5, 5 … s.
    const wait = res.retryAfter !== undefined ? Math.min(60_000, Math.max(500, res.retryAfter)) : delay;
    await sleep(wait);
    delay = Math.min(delay * 2, 5_000);
  }
}

function failure(what: string, problem: AcmeProblem | undefined, names: readonly string[]): AcmeError {
  return new AcmeError(`${what}: ${problem ? describeProblem(problem) : "invalid"}`, { problem, names });
}

async function authorize(input: IssueInput, url: string, deadline: number, thumb: string): Promise<[string, string]> {
  const { client, account, responders } = input;
  const res = await client.post("authorization", url, { key: account.key, kid: account.url });
  const authz = res.json as Authorization;
  const name = authz.identifier.value;
  if (authz.status === "valid") return [name, "reused"];
  if (authz.status !== "pending") throw failure(`authorization ${name} is ${authz.status}`, undefined, input.names);
  const usable = input.challenges.filter((t) => (t === "http-01" ? responders.http01 : responders.tlsAlpn01) !== undefined);
  const chosen = usable.map((t) => authz.challenges.find((c) => c.type === t)).find((c) => c !== undefined);
  if (!chosen) {
    const offered = authz.challenges.map((c) => c.type).join(", ");
    throw new AcmeError(`authorization ${name}: the CA offers ${offered}, plb can answer ${usable.join(", ") || "none"}`, { names: input.names });
  }
  const keyAuthorization = `${chosen.token}.${thumb}`;
  const undo: (() => void)[] = [];
  if (chosen.type === "http-01") {
    responders.http01!.set(chosen.token, keyAuthorization);
    undo.push(() => responders.http01!.delete(chosen.token));
  } else {
    const key = generateKey("ecdsa");
    const cert = selfSigned({ names: [name], key, keyAuthorization });
    responders.tlsAlpn01!.set(name, { certPem: pem("CERTIFICATE", cert), keyPem: keyToPem(key) });
    undo.push(() => responders.tlsAlpn01!.delete(name));
  }
  try {
    input.step?.(`authorization ${name}: answering ${chosen.type}`);
    await client.post("challenge", chosen.url, { key: account.key, kid: account.url, payload: {} });
    const done = await poll<Authorization>(input, `authorization ${name}`, url, deadline);
    if (done.status !== "valid") {
      const ch = done.challenges.find((c) => c.type === chosen.type);
      throw failure(`${chosen.type} validation of ${name} failed`, asProblem(ch?.error), [name]);
    }
    return [name, chosen.type];
  } finally {
    for (const u of undo) u();
  }
}

/** Runs one order to its end: the chain and the new key, or an AcmeError. */
export async function issue(input: IssueInput): Promise<Issued> {
  const { client, account, names } = input;
  const deadline = Date.now() + (input.pollTimeoutMs ?? 120_000);
  const dir = await client.directory();
  const payload: Record<string, unknown> = { identifiers: names.map((value) => ({ type: "dns", value })) };
  if (input.replaces !== undefined) payload.replaces = input.replaces;
  const created = await client.post("newOrder", dir.newOrder, { key: account.key, kid: account.url, payload });
  const orderUrl = created.location;
  if (!orderUrl) throw new AcmeError(`newOrder: the CA answered ${created.status} without the order URL (Location)`, { names });
  let order = created.json as Order;
  const thumb = thumbprint(account.key);
  const validatedWith: Record<string, string> = {};
  // One authorization at a time: a failure stops the order before the other names cost a validation.
  for (const url of order.authorizations) {
    const [name, how] = await authorize(input, url, deadline, thumb);
    validatedWith[name] = how;
  }
  order = await poll<Order>(input, "order", orderUrl, deadline);
  if (order.status !== "ready") throw failure(`order is ${order.status}`, asProblem(order.error), names);
  const certKey: KeyObject = generateKey(input.keyType);
  input.step?.("finalize");
  const fin = await client.post("finalize", order.finalize, { key: account.key, kid: account.url, payload: { csr: base64url(csr(names, certKey)) } });
  order = fin.json as Order;
  if (order.status !== "valid") order = await poll<Order>(input, "order", orderUrl, deadline);
  if (order.status !== "valid" || !order.certificate) throw failure(`order is ${order.status} after finalize`, asProblem(order.error), names);
  const cert = await client.post("certificate", order.certificate, { key: account.key, kid: account.url, accept: "application/pem-certificate-chain" });
  if (!cert.text.includes("-----BEGIN CERTIFICATE-----")) throw new AcmeError(`certificate: the CA sent no PEM chain (${cert.headers.get("content-type")})`, { names });
  return { chainPem: cert.text, keyPem: keyToPem(certKey), validatedWith };
}
