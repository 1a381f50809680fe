/**
 * The ACME transport against Debian's pebble: badNonce retried with the
 * fresh nonce (pebble rejecting half of them), the CA's problem documents
 * carried by AcmeError, a CA that is not there.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { registerAccount } from "../src/acme/account.ts";
import { AcmeClient } from "../src/acme/client.ts";
import { AcmeError, asProblem, describeProblem } from "../src/acme/errors.ts";
import { generateKey } from "../src/acme/keys.ts";
import { freePort } from "./support/ports.ts";
import { type Pebble, startPebble } from "./support/pebble.ts";

let pebble: Pebble;
beforeAll(async () => {
  pebble = await startPebble({ nonceReject: 50 });
});
afterAll(() => pebble?.stop());

test("with half of the nonces rejected, every request succeeds by retrying badNonce with the nonce that came back", async () => {
  const client = new AcmeClient({ directory: pebble.directory, ca: pebble.ca, badNonceRetries: 30 });
  const account = await registerAccount(client, generateKey("ecdsa"), "ops@example.com");
  expect(account.url).toStartWith("https://127.0.0.1:");
  for (let i = 0; i < 20; i++) {
    const res = await client.post("account", account.url, { key: account.key, kid: account.url }); // POST-as-GET
    expect((res.json as { status: string }).status).toBe("valid");
  }
  // 21 signed requests at 50 %: the chance that none was rejected is 2^-21.
  expect(client.badNonceRetried).toBeGreaterThan(0);
});

test("without retries a rejected nonce is an AcmeError carrying pebble's badNonce problem", async () => {
  const client = new AcmeClient({ directory: pebble.directory, ca: pebble.ca, badNonceRetries: 0 });
  const key = generateKey("ecdsa");
  let caught: AcmeError | undefined;
  for (let i = 0; i < 40 && !caught; i++) {
    try {
      await registerAccount(client, key, undefined);
    } catch (err) {
      caught = err as AcmeError;
    }
  }
  expect(caught).toBeInstanceOf(AcmeError);
  expect(caught!.code).toBe("ACME");
  expect(caught!.is("badNonce")).toBe(true);
  expect(caught!.problem?.status).toBe(400);
  expect(caught!.message).toStartWith("newAccount: badNonce");
});

test("a refused order is an AcmeError with the CA's problem type and detail", async () => {
  const client = new AcmeClient({ directory: pebble.directory, ca: pebble.ca, badNonceRetries: 30 });
  const account = await registerAccount(client, generateKey("rsa"), undefined);
  const dir = await client.directory();
  const err = await client
    .post("newOrder", dir.newOrder, { key: account.key, kid: account.url, payload: { identifiers: [{ type: "dns", value: "bad_name!.test" }] } })
    .then(() => undefined, (e) => e as AcmeError);
  expect(err).toBeInstanceOf(AcmeError);
  expect(err!.problem?.type).toMatch(/^urn:ietf:params:acme:error:(rejectedIdentifier|malformed)$/);
  expect(err!.problem?.detail).toContain("illegal character");
  expect(err!.message).toContain("newOrder: ");
});

test("a CA that does not answer is an AcmeError without a problem document", async () => {
  const port = await freePort();
  const client = new AcmeClient({ directory: `https://127.0.0.1:${port}/dir`, timeoutMs: 5000 });
  const err = await client.directory().then(() => undefined, (e) => e as AcmeError);
  expect(err).toBeInstanceOf(AcmeError);
  expect(err!.problem).toBeUndefined();
  expect(err!.message).toStartWith(`cannot reach the ACME server at https://127.0.0.1:${port}/dir`);
});

test("a directory whose HTTPS is signed by an unknown CA is refused (directory_ca is what makes pebble trusted)", async () => {
  const client = new AcmeClient({ directory: pebble.directory });
  const err = await client.directory().then(() => undefined, (e) => e as AcmeError);
  expect(err).toBeInstanceOf(AcmeError);
  expect(err!.message).toContain("cannot reach the ACME server");
});

test("a problem document with subproblems reads as one line naming each identifier", () => {
  const p = asProblem({
    type: "urn:ietf:params:acme:error:rejectedIdentifier",
    detail: "Some of the identifiers requested were rejected",
    status: 400,
    subproblems: [
      { type: "urn:ietf:params:acme:error:malformed", detail: "Invalid underscore in DNS name", identifier: { type: "dns", value: "_example.org" } },
      { type: "urn:ietf:params:acme:error:rejectedIdentifier", detail: "This CA will not issue for \"example.net\"", identifier: { type: "dns", value: "example.net" } },
      "junk",
    ],
  })!;
  expect(p.subproblems).toHaveLength(2);
  expect(describeProblem(p)).toBe(
    'rejectedIdentifier: Some of the identifiers requested were rejected (_example.org: malformed Invalid underscore in DNS name; example.net: rejectedIdentifier This CA will not issue for "example.net")',
  );
  expect(asProblem("not json")).toBeUndefined();
  expect(asProblem({ detail: "no type" })).toBeUndefined();
});
