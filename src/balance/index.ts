/** The algorithm registry: config names → algorithms. Re-exports only. */
import { first } from "./first.ts";
import { header } from "./header.ts";
import { leastconn } from "./leastconn.ts";
import { random } from "./random.ts";
import { roundrobin } from "./roundrobin.ts";
import { source } from "./source.ts";
import { uri } from "./uri.ts";
import type { BalancerAlgorithm } from "./types.ts";

export type * from "./types.ts";

/** Every algorithm plb ships; adding one is a new file and a line here. */
export const algorithms: readonly BalancerAlgorithm[] = [roundrobin, leastconn, source, uri, header, random, first];

export function findAlgorithm(name: string): BalancerAlgorithm | undefined {
  return algorithms.find((a) => a.name === name);
}
