/**
 * The hash ring shared by source, uri and header (`_private.ts`): what it
 * maps a key to depends on the servers' keys and weights, never on the
 * order they are listed (or discovered) in, so every plb with the same
 * server set agrees.
 */
import { expect, test } from "bun:test";
import { hash32, VNODES } from "../src/balance/_private.ts";
import { header } from "../src/balance/header.ts";
import { source } from "../src/balance/source.ts";
import type { BalancedServer, BalancerAlgorithm, PickContext } from "../src/balance/types.ts";
import { uri } from "../src/balance/uri.ts";
import { clientAddress, type TestServer } from "./balance-support.ts";

const RINGS: readonly [BalancerAlgorithm, (i: number) => PickContext][] = [
  [source, (i) => ({ client: clientAddress(i) })],
  [uri, (i) => ({ key: `/k/${i}` })],
  [header, (i) => ({ key: `tenant-${i}` })],
];

interface Spec {
  key: string;
  weight?: number;
  backup?: boolean;
}

/** Servers in the order given (index = position), as a configuration would list them. */
function listed(specs: readonly Spec[]): TestServer[] {
  return specs.map((s, index) => ({ index, key: s.key, weight: s.weight ?? 1, backup: s.backup ?? false, up: true, active: 0 }));
}

/** The key of the server picked for each of `count` keys. */
function picks(algorithm: BalancerAlgorithm, servers: TestServer[], ctxOf: (i: number) => PickContext, count: number, down: string[] = []): string[] {
  const balancer = algorithm.create(servers);
  for (const s of servers) {
    if (!down.includes(s.key)) continue;
    s.up = false;
    balancer.down?.(s);
  }
  const tried = new Set<BalancedServer>(servers.filter((s) => s.key === "10.0.0.6:80"));
  return Array.from({ length: count }, (_, i) => balancer.pick({ ...ctxOf(i), tried })?.key ?? "-");
}

/** A fixed shuffle (no randomness in tests that must not flake). */
function permute<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const SPECS: Spec[] = [
  { key: "10.0.0.1:80", weight: 1 },
  { key: "10.0.0.2:80", weight: 3 },
  { key: "10.0.0.3:80", weight: 2 },
  { key: "10.0.0.4:80", weight: 1, backup: true },
  { key: "10.0.0.5:80", weight: 1 },
  { key: "10.0.0.6:80", weight: 2 },
  { key: "10.0.0.7:80", weight: 1, backup: true },
];

for (const [algorithm, ctxOf] of RINGS) {
  test(`${algorithm.name}: each key reaches the same server whatever the order the servers are listed in, also with one down and one tried`, () => {
    const orders = [SPECS, [...SPECS].reverse(), permute(SPECS, 7), permute(SPECS, 1234)];
    const first = picks(algorithm, listed(orders[0]), ctxOf, 3000);
    expect(new Set(first).size).toBe(4); // the four primaries that were not tried
    for (const order of orders.slice(1)) expect(picks(algorithm, listed(order), ctxOf, 3000)).toEqual(first);
    const down = picks(algorithm, listed(orders[0]), ctxOf, 3000, ["10.0.0.2:80"]);
    expect(down).not.toEqual(first);
    for (const order of orders.slice(1)) expect(picks(algorithm, listed(order), ctxOf, 3000, ["10.0.0.2:80"])).toEqual(down);
    // With every primary down, the backups' own ring: the same on every order too.
    const primaries = SPECS.filter((s) => !s.backup).map((s) => s.key);
    const backups = picks(algorithm, listed(orders[0]), ctxOf, 1000, primaries);
    expect(new Set(backups)).toEqual(new Set(["10.0.0.4:80", "10.0.0.7:80"]));
    for (const order of orders.slice(1)) expect(picks(algorithm, listed(order), ctxOf, 1000, primaries)).toEqual(backups);
  });
}

/** Two server keys with a ring point each on the same 32-bit hash (found by search: they are rare). */
const TIE = { a: "10.0.21.58:80", i: 10, b: "10.0.10.196:80", j: 6 };

test("two servers with a ring point on the same hash: the tie goes to the smaller key, not to the one listed first", () => {
  const h = hash32(`${TIE.a}#${TIE.i}`);
  expect(hash32(`${TIE.b}#${TIE.j}`)).toBe(h);
  // A key that lands on that very point: above every other point below it.
  const points = [TIE.a, TIE.b].flatMap((k) => Array.from({ length: VNODES }, (_, i) => hash32(`${k}#${i}`)));
  const below = Math.max(...points.filter((p) => p < h), -1);
  let n = 0;
  while (!(hash32(`/t/${n}`) > below && hash32(`/t/${n}`) <= h)) n++;
  const key = `/t/${n}`;
  const [first, second] = [TIE.a, TIE.b].sort();
  for (const [algorithm] of RINGS) {
    const ctx: PickContext = algorithm === source ? { client: key } : { key };
    const ab = algorithm.create(listed([{ key: TIE.a }, { key: TIE.b }])).pick(ctx)?.key;
    const ba = algorithm.create(listed([{ key: TIE.b }, { key: TIE.a }])).pick(ctx)?.key;
    expect([algorithm.name, ab]).toEqual([algorithm.name, first]);
    expect([algorithm.name, ba]).toEqual([algorithm.name, first]);
    expect(second).not.toBe(first);
  }
});
