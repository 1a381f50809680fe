/** The algorithm registry: config names → algorithms. Re-exports only. */
import type { BalancerAlgorithm } from "./types.ts";

export type * from "./types.ts";

/** Every algorithm plb ships; adding one is a new file and a line here. */
export const algorithms: readonly BalancerAlgorithm[] = [];

export function findAlgorithm(name: string): BalancerAlgorithm | undefined {
  return algorithms.find((a) => a.name === name);
}
