/**
 * One order against pebble with every valid authorization reused
 * (PEBBLE_AUTHZREUSE=100): the second order for the same names validates
 * nothing; a challenge plb cannot answer is named before any validation.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { registerAccount } from "../src/acme/account.ts";
import { certInfo } from "../src/acme/certinfo.ts";
import { MemoryHttp01Tokens } from "../src/acme/challenges.ts";
import { AcmeClient } from "../src/acme/client.ts";
import { AcmeError } from "../src/acme/errors.ts";
import { generateKey } from "../src/acme/keys.ts";
import { issue } from "../src/acme/order.ts";
import { http01Answerer, type Pebble, startPebble } from "./support/pebble.ts";

let pebble: Pebble;
beforeAll(async () => {
  pebble = await startPebble({ authzReuse: 100 });
});
afterAll(() => pebble?.stop());

test("a second order for the same names reuses the valid authorizations: nothing is validated again", async () => {
  const tokens = new MemoryHttp01Tokens();
  const answerer = http01Answerer(pebble.httpPort, tokens);
  try {
    const client = new AcmeClient({ directory: pebble.directory, ca: pebble.ca });
    const account = await registerAccount(client, generateKey("ecdsa"), undefined);
    const input = { client, account, names: ["g.test", "www.g.test"], keyType: "ecdsa" as const, challenges: ["http-01" as const], responders: { http01: tokens } };
    const steps: string[] = [];
    const first = await issue({ ...input, step: (s) => steps.push(s) });
    expect(first.validatedWith).toEqual({ "g.test": "http-01", "www.g.test": "http-01" });
    // One authorization at a time (in the CA's order), then finalize.
    expect(steps.slice(0, 2).sort()).toEqual(["authorization g.test: answering http-01", "authorization www.g.test: answering http-01"]);
    expect(steps[2]).toBe("finalize");
    const asked = answerer.asked.length;
    expect(asked).toBeGreaterThanOrEqual(2);
    const second = await issue(input);
    expect(second.validatedWith).toEqual({ "g.test": "reused", "www.g.test": "reused" });
    expect(answerer.asked.length).toBe(asked);
    expect(second.keyPem).not.toBe(first.keyPem); // a new key for every certificate
    expect([...certInfo(second.chainPem).names].sort()).toEqual(["g.test", "www.g.test"]);
  } finally {
    answerer.stop();
  }
});

test("without a responder for any offered challenge the order stops at the first authorization, saying what the CA offers", async () => {
  const client = new AcmeClient({ directory: pebble.directory, ca: pebble.ca });
  const account = await registerAccount(client, generateKey("ecdsa"), undefined);
  const err = await issue({ client, account, names: ["h.test"], keyType: "ecdsa", challenges: ["http-01", "tls-alpn-01"], responders: {} }).then(
    () => undefined,
    (e) => e as AcmeError,
  );
  expect(err).toBeInstanceOf(AcmeError);
  expect(err!.message).toMatch(/^authorization h\.test: the CA offers .*http-01.*, plb can answer none$/);
  expect(err!.message).toContain("tls-alpn-01");
});
